"""The simulated board device gives exactly what the CPU device gives."""

import os
import re
import signal
import time
import zlib

import numpy as np
import pytest

import hetflow
from hetflow.hw.errors import HetflowError


def both(devices, name, *args, params=None, **kwargs):
    cpu, sim = devices
    expected = cpu.kernel(name, **(params or {}))(*args, **kwargs)
    got = sim.kernel(name, **(params or {}))(*args, **kwargs)
    return expected, got


RNG = np.random.default_rng(11)


def ints(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def test_saxpy(devices):
    x, y = ints(np.int32, 3000), ints(np.int32, 3000)
    expected, got = both(devices, "saxpy", x, y, a=-7, params={"lanes": 4})
    assert np.array_equal(expected, got)
    assert devices[1].kernel("saxpy", lanes=4).last_cycles == pytest.approx(750, abs=10)


def test_crc32_is_zlib(devices):
    data = ints(np.uint8, 1001)
    expected, got = both(devices, "crc32", data)
    assert int(got[0]) == int(expected[0]) == zlib.crc32(data.tobytes())


def test_dot(devices):
    x, y = ints(np.int16, 777), ints(np.int16, 777)
    expected, got = both(devices, "dot", x, y, params={"lanes": 2})
    assert expected.tolist() == got.tolist() == [int(np.dot(x.astype(np.int64), y))]


def test_fir(devices):
    x, h = ints(np.int16, 500), ints(np.int16, 12)
    expected, got = both(devices, "fir", x, h=h, params={"taps": 12})
    assert np.array_equal(expected, got)


@pytest.mark.parametrize("m,k,n", [(5, 17, 3), (2, 70000, 4)])
def test_gemm_tiled_any_shape(devices, m, k, n):
    a, b = ints(np.int8, (m, k)), ints(np.int8, (k, n))
    expected, got = both(devices, "gemm", a, b)
    assert got.shape == (m, n) and np.array_equal(expected, got)


def test_conv2d(devices):
    image, w = ints(np.uint8, (9, 40)), ints(np.int8, (3, 3))
    expected, got = both(devices, "conv2d", image, w=w)
    assert got.shape == (7, 38) and np.array_equal(expected, got)


def test_bad_input_is_refused_before_the_board(devices):
    sim = devices[1]
    with pytest.raises(HetflowError, match=r"^conv2d: image width 80 is out of range; allowed 3..64"):
        sim.kernel("conv2d")(np.zeros((4, 80), np.uint8), w=np.zeros((3, 3), np.int8))


def test_hung_kernel_times_out_and_device_recovers(fixtures_on_path):
    with hetflow.open("sim", max_cycles=10**12) as sim:
        x = np.arange(16, dtype=np.int32)
        hung = sim.kernel("faulty_kernels:HungSaxpy")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^kernel 'hung_saxpy' on sim did not finish within "
                                               r"1 s \(waited 1\.\d\d s\)$"):
            hung.start(x, x, a=1).wait(timeout=1.0)
        assert time.monotonic() - t0 < 5
        assert np.array_equal(sim.kernel("saxpy")(x, x, a=2), 3 * x)


def test_hung_kernel_with_cycle_budget_is_a_timeout_at_once(fixtures_on_path):
    from hetflow.link.client import KernelTimeout
    with hetflow.open("sim", max_cycles=5000) as sim:
        x = np.arange(16, dtype=np.int32)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^hung_saxpy on the virtual board is not done "
                                               r"after 5000 cycles, its cycle budget "
                                               r"\(max_cycles; pass max_cycles= to hetflow.open "
                                               r"to change it\); status=0x1$") as exc:
            sim.kernel("faulty_kernels:HungSaxpy")(x, x, a=1, timeout=60.0)
        assert time.monotonic() - t0 < 30       # the budget, not the 60 s wall-time timeout
        assert isinstance(exc.value, KernelTimeout) and isinstance(exc.value, HetflowError)
    with hetflow.open("sim") as sim:
        with pytest.raises(KernelTimeout, match=r"not done after 101536 cycles, its cycle budget "
                                                r"\(64 per beat moved \(24\) \+ 100000; "):
            sim.kernel("faulty_kernels:HungSaxpy")(x[:8], x[:8], a=1)


# ---- calls larger than the board's memory --------------------------------------------

@pytest.fixture(scope="module")
def small_board():
    """A virtual board with 64 KiB of memory, as ulx3s-85f's SoC has."""
    with hetflow.open("sim", memory_size=64 * 1024) as sim, hetflow.open("cpu") as cpu:
        yield sim, cpu


def test_an_element_wise_call_larger_than_the_memory_is_cut_on_the_host(small_board):
    sim, cpu = small_board
    x, y = ints(np.int32, 20000), ints(np.int32, 20000)     # 240 KB of streams
    saxpy = sim.kernel("saxpy")
    assert np.array_equal(saxpy(x, y, a=5), cpu.kernel("saxpy")(x, y, a=5))
    assert saxpy.last_cycles >= 20000


@pytest.mark.slow   # a verify/cut of the same kind stays in CI
def test_a_sum_and_a_filter_are_cut_too(small_board):
    sim, cpu = small_board
    x, y = ints(np.int16, 40000), ints(np.int16, 40000)
    assert sim.kernel("dot")(x, y).tolist() == cpu.kernel("dot")(x, y).tolist()
    h = ints(np.int16, 16)
    # The pieces overlap by taps - 1 samples; every output equals the uncut filter's.
    assert np.array_equal(sim.kernel("fir", taps=16)(x[:30000], h=h),
                          cpu.kernel("fir", taps=16)(x[:30000], h=h))


def test_a_call_that_cannot_be_cut_names_the_largest_that_fits(small_board):
    from hetflow.fit import MemoryTooSmall, largest_call
    sim, _ = small_board
    crc = sim.kernel("crc32")
    n_max = largest_call(crc.kernel_cls, crc.params, sim._board(crc))
    data = ints(np.uint8, 100_000)
    with pytest.raises(MemoryTooSmall, match=(
            r"^crc32 on the virtual board: a call of 100000 elements needs \d+ bytes of board "
            r"memory but the board has 65536, and crc32 cannot be split on the host; the "
            rf"largest call that fits has {n_max} elements$")):
        crc(data)
    assert int(crc(data[:n_max])[0]) == zlib.crc32(data[:n_max].tobytes())
    with pytest.raises(MemoryTooSmall):
        crc(data[:n_max + 1])


@pytest.mark.parametrize("size", [0, 100, True, 2**32, "64k"])
def test_bad_memory_size(size):
    with pytest.raises(HetflowError, match=rf"^sim: memory_size {re.escape(repr(size))} is out "
                                           r"of range; allowed 4096\.\.4294967295 bytes$"):
        hetflow.open("sim", memory_size=size)


def test_simulator_killed_mid_session_restarts(devices):
    sim = devices[1]
    saxpy = sim.kernel("saxpy")
    x = np.arange(64, dtype=np.int32)
    assert np.array_equal(saxpy(x, x, a=1), 2 * x)
    board = sim._board(saxpy)
    os.kill(board._proc.pid, signal.SIGKILL)
    with pytest.raises(HetflowError, match=r"killed by SIGKILL"):
        saxpy(x, x, a=1)
    assert np.array_equal(saxpy(x, x, a=3), 4 * x)


@pytest.mark.skipif(not os.path.exists("/proc/self/schedstat"), reason="no /proc/PID/schedstat")
def test_board_cpu_seconds_counts_the_board_process_run_time(devices):
    sim = devices[1]
    saxpy = sim.kernel("saxpy")
    x = np.arange(20_000, dtype=np.int32)
    saxpy(x, x, a=1)
    before = sim.board_cpu_seconds()
    t0 = time.perf_counter()
    saxpy(x, x, a=2)
    wall = time.perf_counter() - t0
    spent = sim.board_cpu_seconds() - before
    # The board process clocked the call's ~20,000 cycles, and ran no longer than it took.
    assert 0 < spent <= wall


def test_board_cpu_seconds_is_none_without_a_board():
    with hetflow.open("sim") as sim:
        assert sim.board_cpu_seconds() is None
