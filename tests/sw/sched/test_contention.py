"""Contention: overlap of measured runs, the replay of a plan with slowdowns."""

import pytest

from hetflow.sched import CostGraph, schedule
from hetflow.sched.contention import overlaps, simulate
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


def test_simulate_without_slowdown_reproduces_the_schedule():
    g = _two_chains()
    h = schedule(g, "heft")
    assert h.placement == {"a": "cpu", "b": "sim", "j": "cpu"} and h.makespan == 4.0
    sim = simulate(h, {})
    assert (sim.start, sim.finish) == (h.start, h.finish)
    assert problems(sim) == []


def test_simulate_stretches_overlapping_tasks_by_their_slowdown():
    g = _two_chains()
    h = schedule(g, "heft")
    sim = simulate(h, {"a": {"cpu": 2.0}, "b": {"sim": 1.5}})
    # Both run from 0: a at rate 1/2, b at 1/1.5.  a needs 2 s of its own work: 4 s
    # shared.  b's 3 s take 4.5 s shared -- but a ends at 4, and b, at 4 done 4/1.5 =
    # 2.667 s of work, does the last 0.333 s alone: it ends at 4.333; then j (1 s).
    assert sim.finish["a"] == pytest.approx(4.0)
    assert sim.finish["b"] == pytest.approx(4.0 + 1 / 3)
    assert sim.start["j"] == pytest.approx(4.0 + 1 / 3) and sim.makespan == pytest.approx(16 / 3)
    # The result is a valid schedule of its own graph (the durations are the replayed ones).
    assert problems(sim) == []
    assert sim.graph.cost["a"]["cpu"] == pytest.approx(4.0)
    assert sim.graph.cost["a"]["sim"] == 3.0           # other devices keep their costs


def test_simulate_follows_transfers_and_the_device_order():
    g = CostGraph(["cpu", "sim"], {"a": {"cpu": 1.0}, "b": {"sim": 1.0}, "c": {"sim": 1.0}},
                  [["a", "b", 0.5]])
    s = Schedule("x", g, {"a": "cpu", "b": "sim", "c": "sim"}, {"a": 0, "b": 1.5, "c": 2.5},
                 {"a": 1, "b": 2.5, "c": 3.5})
    # Without reordering, c waits behind b, which waits for a's data (1 + 0.5).
    strict = simulate(s, {}, reorder=False)
    assert strict.start == {"a": 0.0, "b": 1.5, "c": 2.5}
    # With it, as the executor does, c runs while b's input is on its way.
    loose = simulate(s, {"a": {"cpu": 3.0}, "c": {"sim": 3.0}})
    # a and c share from 0: both at rate 1/3 until 1 s of c's... both need 1 s: end at 3.
    assert loose.start["c"] == 0.0 and loose.finish["c"] == pytest.approx(3.0)
    assert loose.finish["a"] == pytest.approx(3.0)
    assert loose.start["b"] == pytest.approx(3.5) and loose.makespan == pytest.approx(4.5)
