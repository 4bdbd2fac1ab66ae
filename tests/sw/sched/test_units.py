"""Compute units: a board's overlay offers its instances and chains to the scheduler.

The designs are the demo's (hetflow.demo.demo_overlay), so their builds are shared.
"""

import zlib

import numpy as np
import pytest

import hetflow
from hetflow.demo import demo_overlay
from hetflow.hw.overlay import OverlayError
from hetflow.sched.executor import Executor
from hetflow.sched.graph import Graph, GraphError
from hetflow.sched.perfmodel import PerfModels

from ...conftest import needs_verilator

pytestmark = [needs_verilator,
              pytest.mark.filterwarnings("ignore:no performance model yet:UserWarning")]

RNG = np.random.default_rng(11)
X = RNG.integers(-2000, 2000, 600).astype(np.int16)
H = RNG.integers(-300, 300, 16).astype(np.int16)
A = RNG.integers(-64, 64, (6, 10)).astype(np.int8)
B = RNG.integers(-64, 64, (10, 5)).astype(np.int8)


def fir(x, h):
    return (np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)]
            & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


@pytest.fixture(scope="module")
def devices():
    cpu = hetflow.open("cpu")
    separate = hetflow.open("sim", overlay=demo_overlay(chained=False))
    chained = hetflow.open("sim", overlay=demo_overlay(chained=True))
    yield cpu, separate, chained
    for dev in (cpu, separate, chained):
        dev.close()


def two_kernels():
    g = Graph()
    y = g.kernel("fir", taps=16)(X, h=H)
    c = g.kernel("gemm", rows=2, cols=4)(A, B)
    s = g.task(np.sum, y)
    t = g.task(np.transpose, c)
    return g, {"y": y, "c": c, "s": s, "t": t}


def test_units_of_an_overlay_device(devices):
    cpu, separate, chained = devices
    ex = Executor([cpu, separate], models=PerfModels("/nonexistent/m.json"))
    assert list(ex.units) == ["cpu", "sim:fir0", "sim:crc0", "sim:gemm0"]
    assert ex.kinds == {"cpu": "cpu", "sim:fir0": "fpga", "sim:crc0": "fpga",
                        "sim:gemm0": "fpga"}
    # Chained instances are not units: their chain is.
    ex = Executor({"board": chained}, models=PerfModels("/nonexistent/m.json"))
    assert [(u.label, u.offers()) for u in ex.units.values()] == [
        ("board:gemm0", "gemm(cols=4, rows=2)"),
        ("board:fir0_crc0", "chain fir0_crc0[fir0=fir(taps=16), crc0=crc32(lanes=4)]")]


def test_two_units_of_one_board_run_side_by_side(devices, tmp_path):
    cpu, separate, _ = devices
    g, refs = two_kernels()
    models = PerfModels(tmp_path / "m.json")
    planner = Executor([cpu, separate], models=models, record=False, save=False)
    plan = planner.plan(g)
    # Made-up, known times: each kernel 1 ms on the board and 1 s on the cpu.
    for name in ("fir", "gemm"):
        models.record(g.tasks[name].key, "sim", plan.work[name], 0.001)
        models.record(g.tasks[name].key, "cpu", plan.work[name], 1.0)
    plan = planner.plan(g, "heft")
    placed = plan.schedule.placement
    assert (placed["fir"], placed["gemm"], placed["sum"], placed["transpose"]) == \
        ("sim:fir0", "sim:gemm0", "cpu", "cpu")
    assert plan.schedule.start["fir"] == plan.schedule.start["gemm"] == 0.0
    report = planner.run(g, plan=plan)
    assert report.placement == placed
    assert np.array_equal(report[refs["y"]], fir(X, H))
    c = A.astype(np.int32) @ B.astype(np.int32)
    assert np.array_equal(report[refs["c"]], c)
    assert report[refs["s"]] == fir(X, H).sum()
    assert np.array_equal(report[refs["t"]], c.T)
    assert report.cycles["fir"] > 0 and report.cycles["gemm"] > 0
    # Started together, the two calls ran in the same bursts of the board.
    assert report.start["fir"] == report.start["gemm"]
    assert separate.fir0.last_link is separate.gemm0.last_link


def test_a_chain_is_one_task_on_its_unit_or_the_cpu(devices, tmp_path):
    cpu, _, chained = devices
    g = Graph()
    crc = g.chain(demo_overlay(), "fir0_crc0")(X, h=H)
    c = g.kernel("gemm", rows=2, cols=4)(A, B)
    expected = zlib.crc32(fir(X, H).astype("<i4").tobytes())
    ex = Executor([cpu, chained], models=PerfModels(tmp_path / "m.json"), save=False)
    plan = ex.plan(g, "fpga-only")
    assert plan.schedule.placement == {"fir0_crc0": "sim:fir0_crc0", "gemm": "sim:gemm0"}
    assert plan.costs.feasible("fir0_crc0") == ["cpu", "sim:fir0_crc0"]
    for policy in ("fpga-only", "cpu-only"):
        report = ex.run(g, policy=policy)
        assert report[crc][0] == expected
        assert np.array_equal(report[c], A.astype(np.int32) @ B.astype(np.int32))
    assert report.placement["fir0_crc0"] == "cpu"
    # Runs are recorded under the chain's key, on each device's name.
    key = g.tasks["fir0_crc0"].key
    assert key == "fir0_crc0[fir0=fir(taps=16), crc0=crc32(lanes=4)]"
    assert ex.models.model(key, "sim").runs() == 1
    assert ex.models.model(key, "cpu").runs() == 1


def test_a_task_no_unit_runs_is_one_line(devices, tmp_path):
    _, separate, chained = devices
    models = PerfModels(tmp_path / "m.json")
    g = Graph()
    g.kernel("fir", taps=8)(X, h=H[:8])
    with pytest.raises(GraphError) as info:
        Executor([separate], models=models).plan(g)
    assert str(info.value) == (
        "task 'fir' (fir(taps=8)) can run on no unit; units are: sim:fir0 (fir(taps=16)); "
        "sim:crc0 (crc32(lanes=4)); sim:gemm0 (gemm(cols=4, rows=2))")
    g = Graph()
    g.chain(demo_overlay(), "fir0_crc0")(X, h=H)
    with pytest.raises(GraphError) as info:
        Executor([separate], models=models).plan(g)
    assert str(info.value).startswith(
        "task 'fir0_crc0' (fir0_crc0[fir0=fir(taps=16), crc0=crc32(lanes=4)]) can run on no "
        "unit; units are: sim:fir0 (fir(taps=16));")
    # A chained instance is no unit: its kernel alone runs nowhere on that board.
    g = Graph()
    g.kernel("fir", taps=16)(X, h=H)
    with pytest.raises(GraphError, match=r"^task 'fir' \(fir\(taps=16\)\) can run on no unit; "
                                         r"units are: sim:gemm0 \(gemm\(cols=4, rows=2\)\); "
                                         r"sim:fir0_crc0 \(chain fir0_crc0\[.*\]\)$"):
        Executor([chained], models=models).plan(g)


def test_chain_errors():
    with pytest.raises(OverlayError) as info:
        Graph().chain(demo_overlay(), "fir0_gemm0")
    assert str(info.value) == ("overlay 'pipeline' has no chain 'fir0_gemm0'; its chains are: "
                               "fir0_crc0")
    with pytest.raises(OverlayError) as info:
        Graph().chain(demo_overlay(chained=False), "fir0_crc0")
    assert str(info.value) == ("overlay 'pipeline_separate' has no chain 'fir0_crc0'; its "
                               "chains are: none")


def test_calibrate_an_overlay_device_times_its_units(devices, tmp_path):
    from hetflow.sched.calibrate import calibrate
    _, separate, chained = devices
    models = PerfModels(tmp_path / "m.json")
    rows = calibrate(chained, models, sizes=[256], repeats=1)
    assert [r["key"] for r in rows] == ["gemm(cols=4, rows=2)"]
    rows = calibrate(separate, models, sizes=[256], repeats=1)
    assert [r["key"] for r in rows] == ["fir(taps=16)", "crc32(lanes=4)", "gemm(cols=4, rows=2)"]
    assert sorted(device for _, device in models.models) == ["sim"] * 3
    assert models.model("gemm(cols=4, rows=2)", "sim").runs() == 2
