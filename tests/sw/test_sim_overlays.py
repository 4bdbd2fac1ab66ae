"""An overlay on the simulated board: the same script as on the cpu, the same results.

The designs are the demo's (hetflow.demo.demo_overlay), so their builds are shared.
"""

import zlib

import numpy as np
import pytest

import hetflow
from hetflow.backends.sim_overlay import OverlayRunner
from hetflow.demo import demo_overlay
from hetflow.fit import MemoryTooSmall
from hetflow.hw.errors import StimulusError

from ..conftest import (PIPELINE_TOML as PIPELINE, needs_verilator, pipeline_script,
                        refuses_what_the_pipeline_does_not_offer)

RNG = np.random.default_rng(5)
X = RNG.integers(-2**15, 2**15, 777, dtype=np.int16)
H = RNG.integers(-2**15, 2**15, 16, dtype=np.int16)
A = RNG.integers(-128, 128, (7, 9), dtype=np.int8)
B = RNG.integers(-128, 128, (9, 6), dtype=np.int8)


def fir(x, h):
    return (np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)]
            & 0xFFFFFFFF).astype("<u4")


def script(dev):
    """The host script of every overlay device test, on this module's data."""
    return pipeline_script(dev, X, H, A, B)


@needs_verilator
def test_one_script_on_cpu_and_sim(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE)
    with hetflow.open("cpu", overlay=path) as dev:
        cpu = script(dev)
    with hetflow.open("sim", overlay=path) as dev:
        sim = script(dev)
        # Every call counts its link; the chain's moves the signal in and the CRC out only.
        chain = dev.fir0_crc0
        assert chain.last_cycles >= len(X) and chain.last_link.bytes > X.nbytes
    assert cpu["kernels"] == sim["kernels"] == ["fir0", "crc0", "gemm0"]
    assert cpu["chains"] == sim["chains"] == ["fir0_crc0"]
    expected_crc = zlib.crc32(fir(X, H).tobytes())
    expected_c = A.astype(np.int32) @ B.astype(np.int32)
    for result in (cpu, sim):
        assert result["crc"][0] == result["crc2"][0] == expected_crc
        np.testing.assert_array_equal(result["c"], expected_c)
        np.testing.assert_array_equal(result["c2"], expected_c)


@needs_verilator
def test_instances_alone_on_the_design_without_the_stream():
    with hetflow.open("sim", overlay=demo_overlay(chained=False)) as dev:
        assert dev.chains == {}
        y = dev.fir0(X, h=H)
        np.testing.assert_array_equal(y.astype("<u4"), fir(X, H))
        crc = dev.crc0(y.astype("<i4").view(np.uint8))
        assert crc[0] == zlib.crc32(fir(X, H).tobytes())
        assert dev.fir0.last_link.bytes > X.nbytes + y.nbytes
        assert dev.kernel("crc32", lanes=4) is dev.crc0


@needs_verilator
def test_started_calls_on_independent_instances_run_in_one_burst():
    with hetflow.open("sim", overlay=demo_overlay()) as dev:
        runner = dev._overlay
        assert isinstance(runner, OverlayRunner)
        gemm = runner.plan_instance(dev.gemm0, {"a": A[:2, :5], "b": B[:5, :4]}, {})
        chain = runner.plan_chain(dev.fir0_crc0, {("fir0", "x"): X}, {"fir0": {"h": H}})
        before = runner.board.meter.total
        c = gemm()                          # runs both: the chain was waiting
        crc = chain()                       # already done
        link = runner.board.meter.total - before
        np.testing.assert_array_equal(c["c"], A[:2, :5].astype(np.int32)
                                      @ B[:5, :4].astype(np.int32))
        assert crc[("crc0", "crc")][0] == zlib.crc32(fir(X, H).tobytes())
        assert dev.gemm0.last_link == dev.fir0_crc0.last_link == link
        # One burst: one RESET and one RUN for both jobs.
        alone = dev.fir0_crc0
        alone(X, h=H)
        dev.gemm0(A[:2, :5], B[:5, :4])
        assert link.requests == alone.last_link.requests + dev.gemm0.last_link.requests - 2


@needs_verilator
def test_errors_are_one_line():
    with hetflow.open("sim", overlay=demo_overlay()) as dev:
        refuses_what_the_pipeline_does_not_offer(dev, X, H)
        with pytest.raises(StimulusError, match=r"^fir0: fir: input 'x' has dtype int32"):
            dev.fir0_crc0(np.zeros(4, np.int32), h=H)
        # The device is usable after refusals.
        assert dev.fir0_crc0(X, h=H)[0] == zlib.crc32(fir(X, H).tobytes())


@needs_verilator
def test_instance_calls_are_cut_to_the_board_memory_and_a_chain_that_does_not_fit_says_so():
    x = RNG.integers(-2**15, 2**15, 4096, dtype=np.int16)
    with hetflow.open("sim", overlay=demo_overlay(chained=False), memory_size=8192) as dev:
        np.testing.assert_array_equal(dev.fir0(x, h=H).astype("<u4"), fir(x, H))
    with hetflow.open("sim", overlay=demo_overlay(), memory_size=8192) as dev:
        with pytest.raises(MemoryTooSmall, match=r"^fir0_crc0 on the virtual board: the call "
                                                 r"needs 12288 bytes of board memory but the "
                                                 r"board has 8192, and a chain is not cut on "
                                                 r"the host; make the call smaller or pass a "
                                                 r"larger memory_size$"):
            dev.fir0_crc0(x, h=H)
        assert dev.fir0_crc0(x[:1000], h=H)[0] == zlib.crc32(fir(x[:1000], H).tobytes())


@needs_verilator
def test_a_cycle_budget_that_runs_out_is_a_timeout_of_the_call():
    with hetflow.open("sim", overlay=demo_overlay(), max_cycles=50) as dev:
        with pytest.raises(TimeoutError, match=r"^fir0 and crc0 on the virtual board not done "
                                               r"after 50 cycles"):
            dev.fir0_crc0(X, h=H)
        np.testing.assert_array_equal(dev.gemm0(A[:2, :5], B[:5, :4]),
                                      A[:2, :5].astype(np.int32) @ B[:5, :4].astype(np.int32))
