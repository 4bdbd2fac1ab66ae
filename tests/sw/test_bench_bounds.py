"""Bounds on the makespan of any schedule (hetflow.bench.bounds)."""

import itertools

import pytest

from hetflow.bench.bounds import contended_bound, lower_bounds
from hetflow.bench.randomdag import random_dag
from hetflow.sched import CostGraph, schedule
from hetflow.sched.contention import predict
from hetflow.sched.policies import Schedule


def graph(devices, tasks, edges=()):
    return CostGraph(devices, tasks, [list(e) for e in edges], source="test")


def test_lower_bounds():
    g = graph(["a", "b"], {"t1": {"a": 2, "b": 4}, "t2": {"a": 3, "b": 1}, "t3": {"a": 5}},
              [("t1", "t2", 7)])
    b = lower_bounds(g)
    assert b["critical_path"] == 5.0           # t3 alone; t1 -> t2 is 2 + 1
    assert b["work"] == (2 + 1 + 5) / 2
    assert b["area"] == 5.0                    # t3 fills a; t1 and t2 fit on b beside it
    assert b["lower_bound"] == 5.0


def test_area_bound_charges_each_device_its_own_cost():
    # Four independent tasks, 1 s on the cpu and 4 s on the slow device: the work bound
    # (2 s) pretends the slow device is as fast; the area bound splits a task so that
    # both finish together: 3 + x = 4 (1 - x) -> x = 0.2, 3.2 s.  The optimum is 4 s.
    g = graph(["cpu", "sim"], {f"t{i}": {"cpu": 1.0, "sim": 4.0} for i in range(4)}, [])
    b = lower_bounds(g)
    assert b["work"] == 2.0 and b["critical_path"] == 1.0
    assert b["area"] == pytest.approx(3.2) and b["lower_bound"] == pytest.approx(3.2)
    assert schedule(g, "heft").makespan == 4.0 >= b["lower_bound"]
    # Tasks only one device can run load it first; with more than two devices the area
    # bound is the work bound.
    # x loads sim with 3; y (ratio 1) goes to the cpu; z (ratio 4) is split: 1 + 4f = 4 - f.
    g = graph(["cpu", "sim"], {"x": {"sim": 3.0}, "y": {"cpu": 1.0, "sim": 1.0},
                               "z": {"cpu": 4.0, "sim": 1.0}}, [])
    assert lower_bounds(g)["area"] == pytest.approx(3.4)
    g = graph(["a", "b", "c"], {"x": {"a": 3.0, "b": 6.0, "c": 6.0}}, [])
    assert lower_bounds(g)["area"] == lower_bounds(g)["work"] == 1.0


def _independent(n=4):
    return CostGraph(["cpu", "sim"], {f"t{i}": {"cpu": 1.0, "sim": 2.0} for i in range(n)}, [])


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


def test_contended_bound_is_below_every_predicted_plan():
    # Every placement of small graphs, in HEFT's order, predicted with the slowdowns.
    for seed in range(5):
        g = random_dag(6, seed=seed, devices=("cpu", "sim"))
        slow = {t: {"cpu": 1.0 + 0.2 * (i % 3), "sim": 1.0 + 0.7 * (i % 2)}
                for i, t in enumerate(g.tasks)}
        bound = contended_bound(g, slow)
        assert bound >= lower_bounds(g)["area"] * (1 - 1e-9)
        order = schedule(g, "heft")
        shortest = min(predict(Schedule("x", g, dict(zip(g.tasks, p)), order.start,
                                       order.finish), slow).makespan
                       for p in itertools.product(g.device_names, repeat=len(g.tasks)))
        assert bound <= shortest * (1 + 1e-9)


def test_contended_bound_needs_two_devices():
    g = random_dag(5, seed=1)                          # 2 cpu + 2 fpga
    with pytest.raises(ValueError, match=r"^contended_bound: the graph has 4 devices; the "
                                         r"bound is for two$"):
        contended_bound(g, {})
