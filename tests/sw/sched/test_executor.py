"""The executor on real devices (cpu + the simulated board): results, timing, learning."""

import threading
import time
import zlib

import numpy as np
import pytest

from hetflow.hw.errors import HetflowError, StimulusError
from hetflow.sched.costgraph import CostGraph
from hetflow.sched.executor import ExecutionError, Executor
from hetflow.sched.graph import Graph, GraphError
from hetflow.sched.perfmodel import PerfModels

RNG = np.random.default_rng(7)
X = RNG.integers(-2000, 2000, 4096).astype(np.int16)
H = RNG.integers(-300, 300, 16).astype(np.int16)
W = RNG.integers(-64, 64, (64, 16)).astype(np.int8)

# Fresh models: the first runs plan with guesses, which the executor says (tested below).
pytestmark = pytest.mark.filterwarnings("ignore:no performance model yet:UserWarning")


def frames(y):
    return np.clip(y >> 10, -128, 127).astype(np.int8).reshape(-1, 64)


def as_bytes(c):
    return np.ascontiguousarray(c).view(np.uint8).reshape(-1)


def pipeline():
    """fir -> frames (NumPy) -> gemm -> bytes (NumPy) -> crc32, plus a side branch."""
    g = Graph()
    y = g.kernel("fir", taps=16)(X, h=H)
    f = g.task(frames, y)
    c = g.kernel("gemm")(f, W)
    crc = g.kernel("crc32")(g.task(as_bytes, c))
    side = g.kernel("crc32")(X.view(np.uint8), name="side")
    return g, {"y": y, "c": c, "crc": crc, "side": side}


def numpy_pipeline():
    y = (np.convolve(X.astype(np.int64), H.astype(np.int64))[:len(X)] & 0xFFFFFFFF)
    y = y.astype(np.uint32).view(np.int32)
    c = frames(y).astype(np.int32) @ W.astype(np.int32)
    return {"y": y, "c": c, "crc": zlib.crc32(c.tobytes()), "side": zlib.crc32(X.tobytes())}


@pytest.mark.parametrize("policy", ["heft", "dmda", "eager", "cpu-only", "fpga-only"])
def test_results_equal_numpy_on_cpu_and_sim(devices, tmp_path, policy):
    g, refs = pipeline()
    models = PerfModels(tmp_path / "m.json")
    report = Executor(list(devices), models=models).run(g, policy)
    want = numpy_pipeline()
    assert np.array_equal(report[refs["y"]], want["y"])
    assert np.array_equal(report[refs["c"]], want["c"])
    assert int(report[refs["crc"]][0]) == want["crc"]
    assert int(report[refs["side"]][0]) == want["side"]
    placement = report.placement
    if policy == "fpga-only":
        assert {placement[t] for t in ("fir", "gemm", "crc32", "side")} == {"sim"}
        assert placement["frames"] == placement["as_bytes"] == "cpu"
        assert report.cycles["fir"] == 4096 + 2       # the sim's cycle counter
    if policy == "cpu-only":
        assert set(placement.values()) == {"cpu"} and not report.cycles
    # Measured times respect every dependency, and the makespan is the last finish.
    for name, task in g.tasks.items():
        assert report.finish[name] >= report.start[name] >= 0
        for dep in task.deps:
            assert report.start[name] >= report.finish[dep]
    assert report.makespan == max(report.finish.values()) > 0
    assert min(report.start.values()) == 0.0
    # Every run is recorded in the models and saved.
    saved = PerfModels(tmp_path / "m.json")
    for task in g.tasks.values():
        device = "cpu" if placement[task.name] == "cpu" else "sim"
        assert saved.model(task.key, device).runs() >= 1


def test_devices_run_concurrently(devices, tmp_path):
    # A long host step on the cpu and a kernel on the sim, independent: fpga-only puts
    # the kernel on the sim, and the kernel must run while the host step sleeps.
    data = np.ones(1 << 20, np.uint8)
    g = Graph()
    k = g.kernel("crc32")(data, name="kernel")
    h = g.task(lambda x: (time.sleep(0.5), x)[1], np.ones(3), name="sleep")
    report = Executor(list(devices), models=PerfModels(tmp_path / "m.json")).run(g, "fpga-only")
    assert report.placement == {"kernel": "sim", "sleep": "cpu"}
    kernel = report.finish["kernel"] - report.start["kernel"]
    sleep = report.finish["sleep"] - report.start["sleep"]
    overlap = (min(report.finish["kernel"], report.finish["sleep"])
               - max(report.start["kernel"], report.start["sleep"]))
    assert overlap >= 0.5 * min(kernel, sleep)
    assert report.makespan < kernel + sleep
    assert report[k][0] == zlib.crc32(data.tobytes()) and report[h].tolist() == [1, 1, 1]


def test_plan_uses_models_and_then_history(devices, tmp_path):
    g, _ = pipeline()
    ex = Executor(list(devices), models=PerfModels(tmp_path / "m.json"))
    plan = ex.plan(g, "heft")
    assert {src for s in plan.sources.values() for src in s.values()} == {"guess"}
    assert plan.costs.feasible("frames") == ["cpu"] and plan.costs.feasible("gemm") == ["cpu", "sim"]
    with pytest.warns(UserWarning, match="no performance model yet for"):
        ex.run(g, "cpu-only")
    ex.run(g, "fpga-only")
    plan = ex.plan(g, "heft")
    assert not plan.guessed
    assert plan.sources["gemm"] == {"cpu": "history", "sim": "history"}
    # (64, 64) @ (64, 16) in 2x4 tiles: 32 x 4 jobs, 64 * 64 * 16 MACs.
    assert plan.work["gemm"].n == 64 * 64 * 16 and plan.work["gemm"].tiles == 128
    assert plan.units["crc32"] == "byte"


def test_a_failing_task_is_one_clear_error(devices, tmp_path):
    g = Graph()

    def explode(x):
        if x.any():
            raise ValueError("real data is not welcome")
        return x
    g.task(explode, np.ones(4), name="boom")
    ex = Executor(list(devices), models=PerfModels(tmp_path / "m.json"))
    with pytest.raises(ExecutionError) as info:
        ex.run(g, "heft")
    assert str(info.value) == ("task 'boom' on cpu failed: ValueError: real data is not "
                               "welcome")


def test_bad_graphs_fail_before_running(devices, tmp_path):
    ex = Executor(list(devices), models=PerfModels(tmp_path / "m.json"))
    g = Graph()
    g.task(lambda x: x.reshape(3, 5), np.ones(4), name="shape")
    with pytest.raises(GraphError, match=r"^task 'shape': .*<lambda> fails on zero-filled inputs "
                                         r"of the right shapes, .*: ValueError: cannot reshape"):
        ex.plan(g)
    g = Graph()
    g.kernel("gemm")(np.ones((2, 3), np.int8), np.ones((4, 4), np.int8))
    with pytest.raises(StimulusError, match="a's columns must equal b's rows"):
        ex.plan(g)
    with pytest.raises(GraphError, match=r"^the graph has no tasks$"):
        ex.plan(Graph())
    g = Graph()
    g.task(np.sum, np.ones(3))
    with pytest.raises(GraphError, match=r"^task 'sum' is a Python function and needs a cpu "
                                         r"device; devices are: sim$"):
        Executor([devices[1]], models=PerfModels(tmp_path / "m.json")).plan(g)


def test_device_labels():
    class Fake:
        def __init__(self, name):
            self.name = name
    ex = Executor([Fake("cpu"), Fake("sim"), Fake("sim")], models=PerfModels("/nonexistent/x"))
    assert list(ex.devices) == ["cpu", "sim", "sim2"]
    assert ex.kinds == {"cpu": "cpu", "sim": "fpga", "sim2": "fpga"}


def test_bad_executor_arguments_are_one_line(devices, tmp_path):
    models = PerfModels(tmp_path / "m.json")
    with pytest.raises(HetflowError) as info:
        Executor([], models=models)
    assert str(info.value) == "Executor needs at least one device"
    with pytest.raises(ValueError) as info:
        Executor(list(devices), models=models, timeout=0)
    assert str(info.value) == "timeout must be a positive number of seconds, not 0"
    with pytest.raises(GraphError) as info:
        Executor(list(devices), models=models).plan(CostGraph(["cpu"], {"a": {"cpu": 1.0}}))
    assert str(info.value) == "Executor.plan takes a Graph, not CostGraph"
    g = Graph()
    g.task(lambda x: (time.sleep(1.0), x)[1], np.ones(3), name="sleep")
    with pytest.raises(ExecutionError) as info:
        Executor(list(devices), models=models, timeout=0.2).run(g, "cpu-only")
    assert str(info.value) == "the graph did not finish within 0.2 s; unfinished tasks: sleep"


def _workers_end(within=5.0):
    """Whether every worker of the executor has ended (waiting ``within`` s at most)."""
    end = time.monotonic() + within
    while (alive := [t for t in threading.enumerate() if t.name.startswith("hetflow-sched-")]) \
            and time.monotonic() < end:
        time.sleep(0.02)
    return not alive


def test_no_worker_outlives_its_run(devices, tmp_path):
    assert _workers_end()                   # a call an earlier test left running has ended
    models = PerfModels(tmp_path / "m.json")
    for policy in ("heft", "dmda", "eager"):
        Executor(list(devices), models=models).run(pipeline()[0], policy)
        assert _workers_end(within=0.0)
    # A failure and the deadline: a call still running is left to finish, then its
    # worker ends too.
    g = Graph()
    g.kernel("crc32")(np.ones(1 << 20, np.uint8), name="kernel")
    g.task(lambda x: int(x.sum()) // 0 if x.any() else x, np.ones(3), name="boom")
    with pytest.raises(ExecutionError, match="^task 'boom' on cpu failed: ZeroDivisionError"):
        Executor(list(devices), models=models).run(g, "fpga-only")
    assert _workers_end()
    g = Graph()
    g.task(lambda x: (time.sleep(0.5), x)[1], np.ones(3), name="sleep")
    with pytest.raises(ExecutionError, match="^the graph did not finish within 0.2 s"):
        Executor(list(devices), models=models, timeout=0.2).run(g, "cpu-only")
    assert _workers_end()


def test_online_eager_gives_the_idle_device_the_next_ready_task(devices, tmp_path):
    # Eager ignores the models: with both devices idle, the cpu takes the first ready
    # task and the sim the second, however slow the sim is.
    g = Graph()
    g.kernel("crc32")(np.ones(1000, np.uint8), name="a")
    g.kernel("crc32")(np.ones(2000, np.uint8), name="b")
    g.task(np.concatenate, [g.ref("a"), g.ref("b")], name="join")
    report = Executor(list(devices), models=PerfModels(tmp_path / "m.json")).run(g, "eager")
    assert report.placement == {"a": "cpu", "b": "sim", "join": "cpu"}
    assert report.start["join"] >= max(report.finish["a"], report.finish["b"])
    # The same graph followed statically is the plan's placement.
    static = Executor(list(devices), models=PerfModels(tmp_path / "m.json"))
    plan = static.plan(g, "eager")
    assert static.run(g, plan=plan, online=False).placement == plan.schedule.placement


def _two_crcs():
    g = Graph()
    g.kernel("crc32")(np.ones(1000, np.uint8), name="a")
    g.kernel("crc32")(np.ones(1000, np.uint8), name="b")
    g.task(np.concatenate, [g.ref("a"), g.ref("b")], name="join")
    return g


def _models(tmp_path, slowdown=None):
    """Models of _two_crcs(); ``slowdown``: (cpu, sim) factors measured when sharing."""
    # crc32 of 1000 bytes: 1 s on the cpu, 1.5 s on the sim (made-up, known times).
    models = PerfModels(tmp_path / "m.json")
    g = _two_crcs()
    plan = Executor([_Named("cpu"), _Named("sim")], models=models, record=False).plan(g)
    key, work = g.tasks["a"].key, plan.work["a"]
    models.record(key, "cpu", work, 1.0)
    models.record(key, "sim", work, 1.5)
    models.record(g.tasks["join"].key, "cpu", plan.work["join"], 1e-4)
    if slowdown:
        models.record(key, "cpu", work, slowdown[0], overlap=1.0)
        models.record(key, "sim", work, 1.5 * slowdown[1], overlap=1.0)
    return g, models


class _Named:
    def __init__(self, name):
        self.name = name


def test_plan_shares_the_host_only_when_the_measured_slowdown_allows(tmp_path):
    g, models = _models(tmp_path)
    ex = Executor([_Named("cpu"), _Named("sim")], models=models, record=False)
    plan = ex.plan(g, "heft")
    # Nothing measured shared: a on the cpu, b on the sim, 1.5 s instead of 2 s on the cpu.
    assert plan.choice == "heft" and plan.schedule.placement == {"a": "cpu", "b": "sim",
                                                                 "join": "cpu"}
    assert plan.slowdown["a"] == {"cpu": 1.0, "sim": 1.0}
    assert plan.predicted.makespan == pytest.approx(1.5001)
    assert plan.candidates["cpu-only"] == pytest.approx(2.0001)
    # Both devices measured at half speed when they share: in heft's plan b takes 3 s on
    # the sim (then join, 2 * 1e-4 s: the cpu's slowdown), later than both on the cpu,
    # so heft and dmda keep to the cpu; eager does not care.
    g, models = _models(tmp_path / "slow", slowdown=(2.0, 2.0))
    ex = Executor([_Named("cpu"), _Named("sim")], models=models, record=False)
    plan = ex.plan(g, "heft")
    assert plan.slowdown["a"] == {"cpu": pytest.approx(2.0), "sim": pytest.approx(2.0)}
    assert plan.choice == "cpu-only" and set(plan.schedule.placement.values()) == {"cpu"}
    # The plan says who made it: the baseline, chosen by heft over its own plan.
    assert plan.policy == "heft" and plan.schedule.policy == "cpu-only"
    assert plan.predicted.makespan == pytest.approx(2.0001)
    assert plan.own.makespan == plan.candidates["heft"] == pytest.approx(3.0002)
    assert plan.describe() == "heft chose the cpu-only baseline (its own plan: 3 s predicted)"
    # dmda's own plan shares the host the same way: it runs cpu-only's too.
    plan = ex.plan(g, "dmda")
    assert plan.choice == "cpu-only" and plan.candidates["dmda"] == pytest.approx(3.0002)
    eager = ex.plan(g, "eager")
    assert eager.choice == "eager" and set(eager.candidates) == {"eager"}
    # One device: no sharing, no slowdown.
    plan = Executor([_Named("cpu")], models=models, record=False).plan(g, "heft")
    assert plan.slowdown["a"] == {"cpu": 1.0}


def test_dmda_that_chose_a_baseline_runs_it_statically(devices, tmp_path):
    # The cpu at 1/1.9 and the sim at 1/1.3 of their speed when sharing: dmda's own plan
    # sends b to the sim (1.3 * 1.5 s), then join (1.9 * 1e-4 s): 1.95019 s, only 2.5%
    # before cpu-only's 2 s -- within the margin: cpu-only is chosen, and run as planned.
    g, models = _models(tmp_path, slowdown=(1.9, 1.3))
    ex = Executor(list(devices), models=models, save=False)
    plan = ex.plan(g, "dmda")
    assert plan.candidates["dmda"] == pytest.approx(1.95019)
    assert plan.candidates["cpu-only"] == pytest.approx(2.0001)
    report = ex.run(g, plan=plan)
    assert report.choice == "cpu-only" and set(report.placement.values()) == {"cpu"}
    assert report.policy == "dmda" and report.choice == "cpu-only"
    assert report.describe() == (
        "dmda chose the cpu-only baseline (its own plan: 1.95 s predicted)")


def test_a_static_run_follows_the_planned_order_of_each_unit(devices, tmp_path):
    # The models say the kernel is instant, so "after" (its successor, 1 s) is planned
    # on the cpu before "alone" (0.5 s, ready at once).  The kernel really takes
    # milliseconds: the cpu waits for it rather than run "alone" first, so the run is
    # the plan that was predicted.
    g = Graph()
    k = g.kernel("crc32")(np.ones(1000, np.uint8), name="kernel")
    g.task(np.sum, k, name="after")
    g.task(np.max, np.ones(3), name="alone")
    models = PerfModels(tmp_path / "m.json")
    ex = Executor(list(devices), models=models, record=False)
    plan = ex.plan(g, "fpga-only")
    models.record(g.tasks["kernel"].key, "sim", plan.work["kernel"], 1e-6)
    models.record(g.tasks["after"].key, "cpu", plan.work["after"], 1.0)
    models.record(g.tasks["alone"].key, "cpu", plan.work["alone"], 0.5)
    plan = ex.plan(g, "fpga-only")
    assert plan.schedule.order()["cpu"] == ["after", "alone"]
    report = ex.run(g, plan=plan)
    assert report.placement == plan.schedule.placement
    assert report.start["alone"] >= report.finish["after"] >= report.finish["kernel"]


def test_learn_records_overlap_and_is_public(devices, tmp_path):
    # The same overlapping pair as above: a kernel on the sim beside a sleep on the cpu.
    data = np.ones(1 << 18, np.uint8)
    g = Graph()
    g.kernel("crc32")(data, name="kernel")
    g.task(lambda x: (time.sleep(0.3), x)[1], np.ones(3), name="sleep")
    models = PerfModels(tmp_path / "m.json")
    ex = Executor(list(devices), models=models, record=False)
    plan = ex.plan(g, "fpga-only")
    report = ex.run(g, plan=plan)
    assert len(models) == 0                          # record=False: nothing learnt yet
    ex.learn(plan, report)
    kernel = models.model(g.tasks["kernel"].key, "sim")
    sleep = models.model(g.tasks["sleep"].key, "cpu")
    # The kernel ran (almost) wholly inside the sleep: a shared run, not a time alone.
    assert kernel.samples[-1]["overlap"] > 0.5
    assert kernel.shared == 1 and kernel.history == {}
    assert 0.0 < sleep.samples[-1]["overlap"] < 1.0
    assert PerfModels(tmp_path / "m.json").model(g.tasks["kernel"].key, "sim").shared == 1


def test_learn_rejects_a_report_of_another_plan(devices, tmp_path):
    ex = Executor(list(devices), models=PerfModels(tmp_path / "m.json"), record=False)
    g, _ = pipeline()
    plan = ex.plan(g, "cpu-only")
    report = ex.run(g, plan=plan)
    other = Graph()
    other.task(np.sum, np.ones(3), name="extra")
    with pytest.raises(GraphError) as info:
        ex.learn(ex.plan(other), report)
    assert str(info.value) == ("learn: the report has no measured run of task 'extra' of the "
                               "plan; pass the report of this plan's run")
    report.placement["fir"] = "gpu"
    with pytest.raises(GraphError) as info:
        ex.learn(plan, report)
    assert str(info.value) == ("learn: the report places tasks on 'gpu', not a unit of this "
                               "executor (cpu, sim)")
