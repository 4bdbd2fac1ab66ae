"""An overlay on the virtual board: its register space, manifest, RUN rule and jobs (real
Verilator, the demo's design so that the build is shared with the demo's tests)."""

import zlib
from importlib import resources

import numpy as np
import pytest

from hetflow.demo import demo_overlay
from hetflow.hw.errors import HetflowError
from hetflow.hw.overlay import compose, derive_jobs
from hetflow.link import protocol as P
from hetflow.link.boardmap import INSTANCE_STRIDE, MANIFEST_BASE
from hetflow.link.client import BoardAccessError, KernelTimeout
from hetflow.sim.board.harness import generate

from ..conftest import needs_verilator


@pytest.fixture(scope="module")
def board():
    from hetflow.sim.board.virtual import VirtualBoard
    with VirtualBoard(demo_overlay()) as vb:
        yield vb


def test_templates_are_package_data():
    templates = resources.files("hetflow.sim.board").joinpath("templates")
    assert sorted(p.name for p in templates.iterdir() if p.name.endswith(".cpp")) == [
        "bench.cpp", "board.cpp", "overlay.cpp", "protocol.cpp", "single.cpp"]


def test_the_raw_benchmark_refuses_an_overlay():
    with pytest.raises(HetflowError, match=r"^the raw benchmark runs a single kernel; pipeline "
                                           r"is an overlay of 3 instances$"):
        generate(demo_overlay(), main="bench")


@needs_verilator
def test_ping_and_manifest_show_the_design(board):
    expected = board.boardmap           # the host's view, made apart from the process
    assert expected.overlay.describe() == demo_overlay().describe()
    info = board.ping()
    assert info.channels == len(expected.channels) == 5
    assert info.register_size == expected.register_space
    assert board.read_manifest() == expected.describe()


@needs_verilator
def test_holes_read_zero_and_the_host_refuses_writes_there(board):
    gemm = board.boardmap.unit("gemm0")
    manifest = board.boardmap.manifest
    assert board.reg_read(MANIFEST_BASE) == manifest[0]
    assert board.reg_read(MANIFEST_BASE + 4 * (len(manifest) - 1)) == manifest[-1]
    for hole in (gemm.base + gemm.size, 3 * INSTANCE_STRIDE, MANIFEST_BASE - 4):
        assert board.reg_read(hole) == 0
    # The id register of each instance reads through its own window.
    assert board.reg_read(gemm.offset("id")) == gemm.kernel.map.kernel_id
    with pytest.raises(BoardAccessError, match=r"^virtual board of pipeline: register offset "
                                               r"0x3000 is in no instance's register window "
                                               r"\(fir0 0x0..0x7c, crc0 0x1000..0x103c, gemm0 "
                                               r"0x2000..0x203c\); the manifest at 0x80000 is "
                                               r"read-only$"):
        board.reg_write(0x3000, 1)


def _gemm_job(unit, rows, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (rows, 5), dtype=np.int8)
    b = rng.integers(-128, 128, (5, 4), dtype=np.int8)
    cls, p = unit.kernel.kernel_cls, unit.kernel.p
    return cls.prepare(p, {"a": a, "b": b}, {}), a.astype(np.int32) @ b.astype(np.int32)


def _chain(overlay, n=300, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2**15, 2**15, n, dtype=np.int16)
    h = rng.integers(-2**15, 2**15, 16, dtype=np.int16)
    inputs, scalars = {("fir0", "x"): x}, {"fir0": {"h": h}}
    chain = overlay.chains["fir0_crc0"]
    return chain, derive_jobs(overlay, chain, inputs, scalars), \
        compose(overlay, chain, inputs, scalars)[("crc0", "crc")]


@needs_verilator
def test_a_chain_and_an_instance_run_together_in_one_run(board):
    overlay = board.boardmap.overlay
    chain, jobs, expected_crc = _chain(overlay)
    gemm_job, expected_c = _gemm_job(board.boardmap.unit("gemm0"), 2)
    jobs = dict(jobs, gemm0=gemm_job)
    outputs, cycles = board.run_jobs(jobs, ["gemm0", *reversed(chain.order)])
    assert outputs["fir0"] == {}                       # its output is chained: no channel
    assert outputs["crc0"]["crc"][0] == expected_crc[0]
    np.testing.assert_array_equal(outputs["gemm0"]["c"], expected_c.reshape(-1))
    assert cycles["fir0"] >= 300 and cycles["crc0"] >= 300 and 0 < cycles["gemm0"] < 100


@needs_verilator
def test_run_waits_for_started_instances_only(board):
    board.reset()
    assert board.run(500) == (False, 500)              # nothing started: the whole budget
    board.reset()
    gemm = board.boardmap.unit("gemm0")
    job, _ = _gemm_job(gemm, 2)
    for word, value in gemm.kernel.map.word_writes(job.registers):
        board.reg_write(gemm.base + 4 * word, value)
    board.reg_write(gemm.offset("ctrl"), 1)           # started, but no DMA channel set up
    done, ran = board.run(2000)
    assert not done and ran == 2000
    outputs, cycles = board.run_unit_job("gemm0", job)   # the same job with its channels
    np.testing.assert_array_equal(outputs["c"], _gemm_job(gemm, 2)[1].reshape(-1))
    assert 0 < cycles < 100


@needs_verilator
def test_a_chain_that_cannot_finish_names_its_instances(board):
    overlay = board.boardmap.overlay
    chain, jobs, _ = _chain(overlay, n=64)
    with pytest.raises(KernelTimeout, match=r"^fir0 and crc0 on the virtual board not done after "
                                            r"10 cycles, the cycle budget \(max_cycles; pass "
                                            r"max_cycles= to hetflow.open to change it\); "
                                            r"fir0 status=0x1, crc0 status=0x1$"):
        board.run_jobs(jobs, list(reversed(chain.order)), max_cycles=10)
    # The board is usable after it.
    _, jobs, expected = _chain(overlay, n=64, seed=2)
    outputs, _ = board.run_jobs(jobs, list(reversed(chain.order)))
    assert outputs["crc0"]["crc"][0] == expected[0]


@needs_verilator
def test_a_single_kernel_board_has_no_manifest():
    from hetflow.hw.kernels.crc32 import Crc32
    from hetflow.hw.shell import Shell
    from hetflow.sim.board.virtual import VirtualBoard
    with VirtualBoard(Shell(Crc32)) as vb:
        assert vb.read_manifest() is None
        assert vb.boardmap.overlay is None and vb.kernel.name == "crc32"
        outputs, _ = vb.run_job(Crc32.prepare(vb.kernel.p, {"data": np.arange(10, dtype=np.uint8)},
                                              {}))
        assert outputs["crc"][0] == zlib.crc32(bytes(range(10)))
        assert P.VERSION == vb.info.version
