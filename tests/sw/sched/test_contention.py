"""Contention: overlap of measured runs, the fluid replay of a plan, and the guarded choice."""

import itertools

import pytest

from hetflow.sched import CostGraph, schedule
from hetflow.sched.contention import (JITTER, choose, contended, contended_bound,
                                      expected_online, jittered_runs, overlaps, refine,
                                      simulate, simulate_online)
from hetflow.sched.policies import Schedule, lower_bounds
from hetflow.sched.randomdag import random_dag


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
    assert sim.problems() == []


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
    assert sim.problems() == []
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


def test_contended_costs_are_scaled():
    g = _two_chains()
    c = contended(g, {"a": {"sim": 2.0}})
    assert c.cost["a"] == {"cpu": 2.0, "sim": 6.0} and c.cost["b"] == g.cost["b"]
    assert c.edges == g.edges


def test_choose_shares_the_host_only_when_it_pays():
    g = _two_chains()
    # No slowdown: heft's own schedule (4 s) beats cpu-only (5 s).
    name, plan, predicted, spans = choose(g, "heft", {})
    assert name == "heft" and plan.placement["b"] == "sim"
    assert predicted.makespan == pytest.approx(4.0)
    assert spans == {"heft": 4.0, "cpu-only": 5.0, "fpga-only": 7.0}
    # Sharing halves both devices' speed: in heft's plan a (2 s of work) ends at 4; b has
    # done 2 of its 3 s by then and ends alone at 5; j runs 5..6.  cpu-only takes 5.
    slow = {t: {"cpu": 2.0, "sim": 2.0} for t in ("a", "b")}
    name, plan, predicted, spans = choose(g, "heft", slow)
    assert name == "cpu-only" and set(plan.placement.values()) == {"cpu"}
    assert plan.policy == "heft" and predicted.makespan == pytest.approx(5.0)
    assert spans["heft"] == pytest.approx(6.0)
    # On the doubled costs heft still splits a and b (6 on sim beats 8 on cpu).
    assert spans["heft on contended costs"] == pytest.approx(6.0)
    # Online dmda counts the slowdown: b on the sim would end at 6 and push a to 3; on the
    # cpu it ends at 4.  So dmda itself keeps to the cpu, and gives way to cpu-only.
    name, plan, predicted, spans = choose(g, "dmda", slow)
    assert name == "cpu-only" and set(plan.placement.values()) == {"cpu"}
    assert plan.policy == "dmda"
    assert spans["dmda"] == spans["cpu-only"] == pytest.approx(5.0)
    # Eager is not guarded: a to the cpu, b to the idle sim, as the executor does: 6 s.
    assert simulate_online(g, "eager", slow).makespan == pytest.approx(6.0)
    # Its prediction is its expected run over jittered costs; here every run places alike.
    name, plan, predicted, spans = choose(g, "eager", slow)
    assert name == "eager" and spans == {}
    assert plan.placement == {"a": "cpu", "b": "sim", "j": "cpu"}
    assert predicted.makespan == pytest.approx(6.0, rel=JITTER)


def test_sharing_must_pay_by_more_than_the_margin():
    g = _two_chains()
    # Sharing at 1.25x: heft's plan ends at 4.6 (a: 2.5, b then alone: 3 - 2.5/1.25 = 1 s
    # more -> 3.5; j 1 s after; let the replay say it) against cpu-only's 5.
    slow = {t: {"cpu": 1.25, "sim": 1.25} for t in ("a", "b")}
    spans = choose(g, "heft", slow)[3]
    gain = 1 - spans["heft"] / spans["cpu-only"]
    assert 0 < gain < 0.2
    assert choose(g, "heft", slow, margin=gain - 0.01)[0] == "heft"
    assert choose(g, "heft", slow, margin=gain + 0.01)[0] == "cpu-only"


def test_simulate_online_dmda_without_slowdown_is_the_offline_dmda():
    g = CostGraph(["cpu", "sim"], {f"t{i}": {"cpu": 1.0 + i, "sim": 2.0 + i} for i in range(4)},
                  [["t0", "t2"], ["t1", "t3"]])
    online = simulate_online(g, "dmda", {})
    offline = schedule(g, "dmda")
    assert online.placement == offline.placement
    assert online.finish == pytest.approx(offline.finish)
    with pytest.raises(ValueError, match="simulate_online: policy 'heft' is not online; "
                                         "online policies are: dmda, eager"):
        simulate_online(g, "heft", {})


def test_choose_without_an_fpga_device_has_no_fpga_baseline():
    g = CostGraph(["cpu", "cpu2"], {"a": {"cpu": 1.0, "cpu2": 1.0}, "b": {"cpu": 1.0,
                                                                         "cpu2": 1.0}})
    name, _, predicted, spans = choose(g, "heft", {})
    assert name == "heft" and set(spans) == {"heft", "cpu-only"}
    assert predicted.makespan == 1.0


def _independent(n=4):
    return CostGraph(["cpu", "sim"], {f"t{i}": {"cpu": 1.0, "sim": 2.0} for i in range(n)}, [])


def test_refine_moves_work_to_a_slower_device_that_runs_alongside():
    g = _independent()
    cpu_only = schedule(g, "cpu-only")
    assert cpu_only.makespan == 4.0
    plan, sim = refine(cpu_only, {})
    # One task on the sim (2 s) while the cpu runs three (3 s): the optimum, as brute
    # force over all 16 placements in name order confirms.
    assert sim.makespan == pytest.approx(3.0)
    assert sorted(plan.placement.values()) == ["cpu", "cpu", "cpu", "sim"]
    best = min(simulate(Schedule("x", g, dict(zip(g.tasks, p)),
                                 {t: float(i) for i, t in enumerate(g.tasks)},
                                 {t: float(i) for i, t in enumerate(g.tasks)}), {}).makespan
               for p in itertools.product(["cpu", "sim"], repeat=4))
    assert sim.makespan == pytest.approx(best)
    assert sim.problems() == []


def test_refine_keeps_a_plan_no_single_move_improves():
    g = _independent()
    # Sharing the host halves both devices' speed: nothing gains from running alongside.
    slow = {t: {"cpu": 2.0, "sim": 2.0} for t in g.tasks}
    plan, sim = refine(schedule(g, "cpu-only"), slow)
    assert set(plan.placement.values()) == {"cpu"} and sim.makespan == pytest.approx(4.0)


def test_refine_never_makes_a_plan_longer():
    for seed in range(6):
        g = random_dag(12, seed=seed)                # 2 cpu + 2 fpga devices
        slow = {t: {d: 1.0 + 0.3 * ((i + j) % 3) for j, d in enumerate(g.device_names)}
                for i, t in enumerate(g.tasks)}
        start = schedule(g, "heft")
        before = simulate(start, slow).makespan
        plan, sim = refine(start, slow)
        assert sim.makespan <= before * (1 + 1e-9)
        assert sim.problems() == []
        assert simulate(plan, slow).makespan == pytest.approx(sim.makespan)


def test_contended_bound_without_slowdown_is_the_area_bound():
    for seed in range(4):
        g = random_dag(15, seed=seed, devices=("cpu", "sim"))
        assert contended_bound(g, {}) == pytest.approx(lower_bounds(g)["area"])


def test_contended_bound_by_hand():
    g = _independent(2)                                # two tasks, cpu 1 s, sim 2 s
    # Alone: the split that levels both devices, 4/3 s (the area bound).
    assert contended_bound(g, {}) == pytest.approx(4 / 3)
    # Sharing, the cpu runs at 1/1.25 and the sim at 1/3 of their speeds alone: S seconds
    # of sharing do S/1.25 + S/6 = 0.967 S of the cpu's 2 s of work (a task is 1 cpu s or
    # 2 sim s) -- less than the S seconds they take: sharing loses; the cpu alone, 2 s.
    slow = {t: {"cpu": 1.25, "sim": 3.0} for t in g.tasks}
    assert contended_bound(g, slow) == pytest.approx(2.0)
    # With 1.1 on the cpu sharing pays: S (1/1.1 + 1/6) = 2 s of cpu work.
    slow = {t: {"cpu": 1.1, "sim": 3.0} for t in g.tasks}
    assert contended_bound(g, slow) == pytest.approx(2 / (1 / 1.1 + 1 / 6))


def test_contended_bound_is_below_every_simulated_plan():
    # Every placement of small graphs, in HEFT's order, replayed with contention.
    for seed in range(5):
        g = random_dag(6, seed=seed, devices=("cpu", "sim"))
        slow = {t: {"cpu": 1.0 + 0.2 * (i % 3), "sim": 1.0 + 0.7 * (i % 2)}
                for i, t in enumerate(g.tasks)}
        bound = contended_bound(g, slow)
        assert bound >= lower_bounds(g)["area"] * (1 - 1e-9)
        order = schedule(g, "heft")
        shortest = min(simulate(Schedule("x", g, dict(zip(g.tasks, p)), order.start,
                                        order.finish), slow).makespan
                       for p in itertools.product(g.device_names, repeat=len(g.tasks)))
        assert bound <= shortest * (1 + 1e-9)


def test_contended_bound_needs_two_devices():
    g = random_dag(5, seed=1)                          # 2 cpu + 2 fpga
    with pytest.raises(ValueError, match=r"^contended_bound: the graph has 4 devices; the "
                                         r"bound is for two$"):
        contended_bound(g, {})


def _eager_gamble():
    # The sim runs "x" while the cpu runs "seed", both about 1 s.  If "x" ends first, the
    # idle sim takes the oldest ready task, the long "l" (10 s there, 1 s on the cpu); if
    # "seed" ends first, both are idle when "x" ends and the cpu takes "l".
    return CostGraph(["cpu", "sim"],
                     {"x": {"sim": 1.0}, "seed": {"cpu": 1.0},
                      "l": {"cpu": 1.0, "sim": 10.0}, "s": {"cpu": 0.1, "sim": 1.0}},
                     [["x", "l"], ["x", "s"]])


def test_expected_online_is_the_jittered_run_nearest_their_mean():
    g = _eager_gamble()
    one = simulate_online(g, "eager", {})
    # On the models' costs the two end together; the cpu, listed first, takes "l": 2 s.
    assert one.placement["l"] == "cpu" and one.makespan == pytest.approx(2.0)
    runs = jittered_runs(g, "eager", {}, samples=64)
    # The first run is the plain one; in the others, whoever ends first decides: some hand
    # the sim the long task (about 11 s), the others end near 2 s.
    assert (runs[0].placement, runs[0].makespan) == (one.placement, one.makespan)
    spans = [r.makespan for r in runs]
    assert min(spans) < 2.5 and max(spans) > 10.0
    assert {r.placement["l"] for r in runs} == {"cpu", "sim"}
    # Seeded: the same runs again.
    assert [r.makespan for r in jittered_runs(g, "eager", {}, samples=64)] == spans
    got = expected_online(g, "eager", {}, samples=64)
    mean = sum(spans) / len(spans)
    assert abs(got.makespan - mean) == min(abs(m - mean) for m in spans)
    assert got.problems() == []
    # One sample, or no jitter: the plain simulation.
    for kw in ({"samples": 1}, {"jitter": 0.0}):
        plain = expected_online(g, "eager", {}, **kw)
        assert (plain.placement, plain.makespan) == (one.placement, one.makespan)
    # Per task and device: no jitter on "x" and "seed" means no gamble, every run alike.
    calm = jittered_runs(g, "eager", {}, samples=16, jitter={"x": {"sim": 0.0},
                                                             "seed": {"cpu": 0.0}})
    assert {r.placement["l"] for r in calm} == {"cpu"}
    with pytest.raises(ValueError, match=r"^jittered_runs: samples 0 is out of range; "
                                         r"allowed 1 or more$"):
        expected_online(g, "eager", {}, samples=0)


def test_heft_refines_from_the_bounds_split_too():
    # A graph where single moves from the best candidate stop at 5.69 s, and the same
    # search started from the rounded split of the lower bound's linear program reaches
    # 4.97 s (found by searching seeds of the generator).
    g = random_dag(8, 2, 0.5, 1.0, devices=("cpu", "sim"), seed=18)
    slow = {t: {"cpu": 1.2, "sim": 1.5} for t in g.tasks}
    name, plan, predicted, spans = choose(g, "heft", slow)
    first = min((n for n in spans if n != "heft refined"), key=spans.get)
    _, from_best = refine(schedule(g, first), slow)
    assert from_best.makespan == pytest.approx(5.69, abs=0.01)
    assert name == "heft refined" and predicted.makespan == pytest.approx(4.97, abs=0.01)
    assert simulate(plan, slow).makespan == pytest.approx(predicted.makespan)
    assert contended_bound(g, slow) <= predicted.makespan
