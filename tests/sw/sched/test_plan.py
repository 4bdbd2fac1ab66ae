"""The guarded choice between a policy's own plan and the single-device baselines."""

import pytest

from hetflow.sched import CostGraph
from hetflow.sched.plan import choose, describe


def _two_chains():
    # Two independent tasks then a join, on cpu (fast) and sim (slow).
    return CostGraph(["cpu", "sim"],
                     {"a": {"cpu": 2.0, "sim": 3.0}, "b": {"cpu": 2.0, "sim": 3.0},
                      "j": {"cpu": 1.0}},
                     [["a", "j"], ["b", "j"]])


def spans(runs):
    return {name: r.makespan for name, r in runs.items()}


def test_choose_shares_the_host_only_when_it_pays():
    g = _two_chains()
    # No slowdown: heft's own schedule (4 s) beats cpu-only (5 s).
    name, plans, runs = choose(g, "heft", {})
    assert name == "heft" and plans["heft"].placement["b"] == "sim"
    assert spans(runs) == {"heft": 4.0, "cpu-only": 5.0, "fpga-only": 7.0}
    # Sharing halves both devices' speed: heft's plan shares the host, so a takes 4 s on
    # the cpu and b 6 s on the sim; j runs 6..7.  cpu-only, on one device, takes 5.
    slow = {t: {"cpu": 2.0, "sim": 2.0} for t in ("a", "b")}
    name, plans, runs = choose(g, "heft", slow)
    assert name == "cpu-only" and set(plans[name].placement.values()) == {"cpu"}
    # The baseline's plan is named after the policy that made it, not relabelled.
    assert plans[name].policy == "cpu-only" and plans["heft"].policy == "heft"
    assert runs["cpu-only"].makespan == pytest.approx(5.0)
    assert runs["heft"].makespan == pytest.approx(7.0)
    assert describe("heft", name, runs["heft"].makespan) == (
        "heft chose the cpu-only baseline (its own plan: 7 s predicted)")
    # dmda's own plan also splits a and b: it gives way to cpu-only too.
    name, plans, runs = choose(g, "dmda", slow)
    assert name == "cpu-only" and runs["dmda"].makespan == pytest.approx(7.0)
    # Eager is not guarded: a to the cpu, b to the idle sim: 7 s, its only candidate.
    name, plans, runs = choose(g, "eager", slow)
    assert name == "eager" and set(runs) == {"eager"}
    assert plans["eager"].placement == {"a": "cpu", "b": "sim", "j": "cpu"}
    assert runs["eager"].makespan == pytest.approx(7.0)
    assert describe("eager", "eager", 7.0) == "eager"


def test_sharing_must_pay_by_more_than_the_margin():
    g = _two_chains()
    slow = {t: {"cpu": 1.25, "sim": 1.25} for t in ("a", "b")}
    got = spans(choose(g, "heft", slow)[2])
    # heft's plan: a 2.5 s on the cpu beside b 3.75 s on the sim, then j: 4.75 s.
    # fpga-only runs j on the cpu, so it shares the host too: 2 * 3.75 + 1 s.
    assert got == {"heft": pytest.approx(4.75), "cpu-only": 5.0, "fpga-only": 8.5}
    gain = 1 - got["heft"] / got["cpu-only"]
    assert choose(g, "heft", slow, margin=gain - 0.01)[0] == "heft"
    assert choose(g, "heft", slow, margin=gain + 0.01)[0] == "cpu-only"


def test_choose_without_an_fpga_device_has_no_fpga_baseline():
    g = CostGraph(["cpu", "cpu2"], {"a": {"cpu": 1.0, "cpu2": 1.0}, "b": {"cpu": 1.0,
                                                                         "cpu2": 1.0}})
    name, _, runs = choose(g, "heft", {})
    assert name == "heft" and set(runs) == {"heft", "cpu-only"}
    assert runs["heft"].makespan == 1.0
