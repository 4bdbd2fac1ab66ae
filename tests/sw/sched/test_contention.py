"""Contention: overlap of measured runs, the prediction of a plan with slowdowns."""

import pytest

from hetflow.sched import CostGraph, schedule
from hetflow.sched.contention import overlaps, predict
from hetflow.sched.policies import Schedule

from .test_policies import problems


def test_overlaps_are_the_fraction_of_a_run_another_device_was_busy():
    placement = {"a": "cpu", "b": "cpu", "s": "sim", "t": "sim"}
    start = {"a": 0.0, "b": 4.0, "s": 1.0, "t": 2.0}
    finish = {"a": 4.0, "b": 8.0, "s": 3.0, "t": 5.0}
    got = overlaps(placement, start, finish)
    # a (0..4) meets the sim's busy time 1..5 for 3 of its 4 s; b (4..8) for 1 of 4.
    assert got["a"] == pytest.approx(0.75) and got["b"] == pytest.approx(0.25)
    # s and t overlap each other on the same device: that does not count, only the cpu.
    assert got["s"] == pytest.approx(1.0) and got["t"] == pytest.approx(1.0)
    # A task alone, and a task of zero length.
    assert overlaps({"a": "cpu", "z": "sim"}, {"a": 0.0, "z": 5.0},
                    {"a": 4.0, "z": 5.0}) == {"a": 0.0, "z": 0.0}


def _two_chains():
    # Two independent tasks then a join, on cpu (fast) and sim (slow).
    return CostGraph(["cpu", "sim"],
                     {"a": {"cpu": 2.0, "sim": 3.0}, "b": {"cpu": 2.0, "sim": 3.0},
                      "j": {"cpu": 1.0}},
                     [["a", "j"], ["b", "j"]])


def test_predict_without_slowdown_reproduces_the_schedule():
    g = _two_chains()
    h = schedule(g, "heft")
    assert h.placement == {"a": "cpu", "b": "sim", "j": "cpu"} and h.makespan == 4.0
    run = predict(h, {})
    assert (run.start, run.finish) == (h.start, h.finish) and run.policy == "heft"
    assert problems(run) == []


def test_predict_stretches_every_task_of_a_plan_that_shares_the_host():
    g = _two_chains()
    h = schedule(g, "heft")
    run = predict(h, {"a": {"cpu": 2.0}, "b": {"sim": 1.5}})
    # a takes 2 * 2 s on the cpu, b 1.5 * 3 s on the sim, both from 0; j (no slowdown
    # given: 1 s) starts when b's result is there.
    assert (run.start, run.finish) == ({"a": 0.0, "b": 0.0, "j": 4.5},
                                       {"a": 4.0, "b": 4.5, "j": 5.5})
    # The result is a valid schedule of its own graph (the costs are the predicted ones).
    assert problems(run) == []
    assert run.graph.cost["a"] == {"cpu": 4.0, "sim": 3.0}
    assert run.graph.cost["b"] == {"cpu": 2.0, "sim": 4.5}


def test_predict_keeps_the_costs_of_a_plan_on_one_device():
    g = _two_chains()
    alone = schedule(g, "cpu-only")
    run = predict(alone, {t: {"cpu": 2.0, "sim": 2.0} for t in g.tasks})
    assert run.finish == {"a": 2.0, "b": 4.0, "j": 5.0} and run.graph.cost == g.cost


def test_predict_follows_transfers_and_the_device_order():
    g = CostGraph(["cpu", "sim"], {"a": {"cpu": 1.0}, "b": {"sim": 1.0}, "c": {"sim": 1.0}},
                  [["a", "b", 0.5]])
    s = Schedule("x", g, {"a": "cpu", "b": "sim", "c": "sim"}, {"a": 0, "b": 1.5, "c": 2.5},
                 {"a": 1, "b": 2.5, "c": 3.5})
    # c waits behind b, which waits for a's data (1 + 0.5).
    assert predict(s, {}).start == {"a": 0.0, "b": 1.5, "c": 2.5}
    # a stretched to 3 s: b's input arrives at 3.5; c still runs after b, stretched too.
    run = predict(s, {"a": {"cpu": 3.0}, "c": {"sim": 3.0}})
    assert run.start == {"a": 0.0, "b": 3.5, "c": 4.5}
    assert run.finish == {"a": 3.0, "b": 4.5, "c": 7.5} and run.policy == "x"
