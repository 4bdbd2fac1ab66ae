"""hetflow.distributed on a real Dask cluster over loopback: two worker processes,
one with the SIM resource (it opens the simulated board), one plain (cpu)."""

import zlib

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

from dask.distributed import Client, Nanny, Scheduler, SpecCluster  # noqa: E402

from hetflow.distributed import DaskExecutor, DistributedError  # noqa: E402
from hetflow.hw.errors import HetflowError  # noqa: E402
from hetflow.sched.graph import Graph  # noqa: E402
from hetflow.sched.perfmodel import PerfModels  # noqa: E402

from ..conftest import needs_verilator  # noqa: E402

RNG = np.random.default_rng(11)
X = RNG.integers(-1000, 1000, 256).astype(np.int32)
Y = RNG.integers(-1000, 1000, 256).astype(np.int32)


def _worker(**options):
    return {"cls": Nanny, "options": {"nthreads": 1, "host": "127.0.0.1",
                                    # A worker that cannot reach the scheduler gives up.
                                    "death_timeout": 30, **options}}


@pytest.fixture(scope="module")
def client():
    # Per-worker resources need SpecCluster (LocalCluster gives every worker the same).
    cluster = SpecCluster(
        scheduler={"cls": Scheduler, "options": {"host": "127.0.0.1",
                                                 "dashboard_address": None}},
        workers={"sim": _worker(resources={"SIM": 1}), "cpu": _worker()})
    try:
        c = Client(cluster, timeout=30)
        try:
            c.wait_for_workers(2, timeout=30)
            yield c
        finally:
            c.close(timeout=10)
    finally:
        cluster.close(timeout=10)


def as_bytes(z):
    return np.ascontiguousarray(z).view(np.uint8).reshape(-1)


def graph():
    g = Graph()
    z = g.kernel("saxpy")(X, Y, a=7)
    b = g.task(as_bytes, z)
    crc = g.kernel("crc32")(b)
    return g, z, b, crc


def sim_worker(client):
    return next(addr for addr, info in client.scheduler_info()["workers"].items()
                if info.get("resources", {}).get("SIM"))


def test_graph_runs_on_cluster_and_equals_numpy(client, tmp_path):
    g, z, b, crc = graph()
    ex = DaskExecutor(client, ["cpu", "sim"], models=PerfModels(tmp_path / "m.json"),
                      timeout=50)
    report = ex.run(g, "fpga-only")
    # The times measured on the workers are learnt and saved like a local run's.
    saved = PerfModels(tmp_path / "m.json")
    assert len(saved) == 3
    assert all(m.runs() == 1 and m.samples[0]["overlap"] == 0.0 for m in saved)
    assert report.placement == {"saxpy": "sim", "as_bytes": "cpu", "crc32": "sim"}
    assert report.choice == "fpga-only" and report.predicted.placement == report.placement
    z_np = (X.astype(np.int64) * 7 + Y).astype(np.int32)
    assert isinstance(report[z], np.ndarray)
    np.testing.assert_array_equal(report[z], z_np)
    np.testing.assert_array_equal(report[b], z_np.view(np.uint8))
    assert int(report[crc][0]) == zlib.crc32(z_np.tobytes())
    sim = sim_worker(client)
    assert report.workers["saxpy"] == sim and report.workers["crc32"] == sim
    assert report.cycles["saxpy"] > 0
    assert report.start["saxpy"] == 0.0 and report.finish["crc32"] >= report.start["crc32"]
    # The device stays open on the worker: a second run reuses it.
    again = ex.run(g, "fpga-only")
    assert int(again[crc][0]) == zlib.crc32(z_np.tobytes())


def test_missing_resource_is_one_line_naming_it_and_the_workers(client, tmp_path):
    g, *_ = graph()
    ex = DaskExecutor(client, ["cpu", "sim"], resources={"sim": {"FPGA": 1}},
                      models=PerfModels(tmp_path / "m.json"), record=False, timeout=20)
    with pytest.raises(DistributedError) as info:
        ex.run(g, "fpga-only")
    msg = str(info.value)
    assert "\n" not in msg
    assert "task 'saxpy' is placed on device 'sim', which needs worker resource FPGA=1" in msg
    assert f"{sim_worker(client)} (SIM=1)" in msg and "(no resources)" in msg


def test_resources_for_unknown_device_is_one_line(client):
    with pytest.raises(HetflowError, match=r"^resources given for unknown device 'fpga'; "
                                           r"devices are: cpu, sim$"):
        DaskExecutor(client, ["cpu", "sim"], resources={"fpga": {"FPGA": 1}})


def picky(x):
    # Fine on the zero-filled inputs the planner sizes it with; fails on the real data.
    if x.any():
        raise ValueError("real data refused")
    return x


def slow(x):
    if x.any():
        import time
        time.sleep(2.0)
    return x


def test_failing_task_is_one_line_naming_task_and_device(client, tmp_path):
    g = Graph()
    g.task(picky, X, name="picky")
    ex = DaskExecutor(client, ["cpu", "sim"], models=PerfModels(tmp_path / "m.json"),
                      record=False, timeout=20)
    with pytest.raises(HetflowError, match=r"^task 'picky' on cpu failed: ValueError: "
                                           r"real data refused$"):
        ex.run(g, "fpga-only")


def test_run_past_timeout_is_one_line_naming_unfinished_tasks(client, tmp_path):
    g = Graph()
    g.task(slow, X, name="slow")
    ex = DaskExecutor(client, ["cpu", "sim"], models=PerfModels(tmp_path / "m.json"),
                      record=False, timeout=0.5)
    with pytest.raises(HetflowError, match=r"^the graph did not finish within 0.5 s on the "
                                           r"cluster; unfinished tasks: slow$"):
        ex.run(g, "fpga-only")


def fir(x, h):
    return (np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)]
            & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


@needs_verilator
def test_an_overlay_device_offers_its_units_and_runs_a_chain(client, tmp_path, pipeline_toml):
    # The demo's design (tests/conftest.py PIPELINE_TOML): its simulator build is shared.
    x = RNG.integers(-2000, 2000, 600).astype(np.int16)
    h = RNG.integers(-300, 300, 16).astype(np.int16)
    a = RNG.integers(-64, 64, (6, 10)).astype(np.int8)
    b = RNG.integers(-64, 64, (10, 5)).astype(np.int8)
    g = Graph()
    crc = g.chain(pipeline_toml, "fir0_crc0")(x, h=h)
    c = g.kernel("gemm", rows=2, cols=4)(a, b)
    t = g.task(np.transpose, c)
    ex = DaskExecutor(client, ["cpu", "sim"], overlays={"sim": pipeline_toml},
                      models=PerfModels(tmp_path / "m.json"), timeout=50)
    assert ex.device_of == {"cpu": "cpu", "sim:gemm0": "sim", "sim:fir0_crc0": "sim"}
    want_crc = zlib.crc32(fir(x, h).astype("<i4").tobytes())
    want_c = a.astype(np.int32) @ b.astype(np.int32)
    report = ex.run(g, "fpga-only")
    assert report.placement == {"fir0_crc0": "sim:fir0_crc0", "gemm": "sim:gemm0",
                                "transpose": "cpu"}
    assert report.workers["fir0_crc0"] == report.workers["gemm"] == sim_worker(client)
    assert int(report[crc][0]) == want_crc
    np.testing.assert_array_equal(report[t], want_c.T)
    assert report.cycles["fir0_crc0"] > 0
    # On the cpu the chain is the composed golden models.
    report = ex.run(g, "cpu-only")
    assert set(report.placement.values()) == {"cpu"}
    assert int(report[crc][0]) == want_crc
    key = g.tasks["fir0_crc0"].key
    assert [ex.models.model(key, d).runs() for d in ("sim", "cpu")] == [1, 1]


def test_bad_overlay_is_one_line(client, tmp_path, pipeline_toml):
    with pytest.raises(HetflowError) as info:
        DaskExecutor(client, ["cpu", "sim"], overlays={"fpga": pipeline_toml})
    assert str(info.value) == "overlay given for unknown device 'fpga'; devices are: cpu, sim"
    with pytest.raises(HetflowError) as info:
        DaskExecutor(client, ["cpu", "sim"], overlays={"sim": tmp_path / "nope.toml"})
    assert str(info.value) == f"overlay file {tmp_path / 'nope.toml'} does not exist"
