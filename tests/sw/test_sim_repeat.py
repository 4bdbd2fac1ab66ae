"""Repeat calls on the simulated board: a call of a shape seen before gives what a full call
gives, refuses what it refuses with the same message, and never a stale result."""

import os
import signal
import threading
import zlib

import numpy as np
import pytest

import hetflow
import hetflow.handle
from hetflow.backends.sim import RepeatCall
from hetflow.hw import StimulusError
from hetflow.hw.errors import HetflowError
from hetflow.hw.kernels.saxpy import Saxpy

RNG = np.random.default_rng(5)


def ints(dtype, n):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, n, dtype=dtype, endpoint=True)


def saxpy(a, x, y):
    return Saxpy.golden(Saxpy.bind(), {"x": x, "y": y}, {"a": a})["z"]


def repeat_of(handle, *args, **kwargs):
    """The repeat call ``handle`` keeps for the shape of this call (None: none)."""
    return next((r for r in handle._repeats if r.match(args, kwargs) is not None), None)


@pytest.fixture(scope="module")
def sim():
    with hetflow.open("sim") as dev:
        yield dev


@pytest.fixture(autouse=True)
def calls_inline(monkeypatch):
    """Every call after a handle's first runs inline (repeat calls are made and used by
    inline calls), however busy the machine is."""
    monkeypatch.setattr(hetflow.handle, "INLINE_SECONDS", 60.0)


def test_repeat_calls_give_the_golden_model_call_after_call(sim):
    k = sim.kernel("saxpy")
    x, y = ints(np.int32, 5), ints(np.int32, 5)
    k(x, y, a=3)                        # a full call: through the worker
    first_cycles, first_link = k.last_cycles, k.last_link
    for _ in range(2):                  # the first inline call makes the repeat call
        k(x, y, a=3)
    assert isinstance(repeat_of(k, x, y, a=3), RepeatCall)
    for a in (-2**31, 2**31 - 1, -1, 0, 7, *RNG.integers(-2**31, 2**31, 20).tolist()):
        x, y = ints(np.int32, 5), ints(np.int32, 5)
        z = k(x, y, a=a)
        assert z.dtype == np.int32 and z.flags.writeable and np.array_equal(z, saxpy(a, x, y))
        assert (k.last_cycles, k.last_link) == (first_cycles, first_link)


def test_a_repeat_call_reads_the_arrays_of_this_call(sim):
    k = sim.kernel("saxpy")
    x, y = np.arange(4, dtype=np.int32), np.ones(4, np.int32)
    for _ in range(3):
        k(x, y, a=2)
    x[:] = [10, 20, 30, 40]                   # the same arrays, changed in place
    assert repeat_of(k, x, y, a=2) is not None
    assert k(x, y, a=2).tolist() == [21, 41, 61, 81]
    z = k(x, y, a=2)
    z[0] = 0                                  # the result is the caller's own array
    assert k(x, y, a=2).tolist() == [21, 41, 61, 81]


def test_a_repeat_call_longer_than_its_timeout_raises_when_it_returns(sim):
    k = sim.kernel("saxpy")
    x, y = np.arange(3, dtype=np.int32), np.ones(3, np.int32)
    for _ in range(3):
        k(x, y, a=1)
    assert repeat_of(k, x, y, a=1) is not None
    with pytest.raises(TimeoutError, match=r"^kernel 'saxpy' on sim did not finish within "
                                           r"1e-09 s \(waited 0\.\d\d s\)$"):
        k(x, y, a=1, timeout=1e-9)      # inline: it ran, and took longer than that
    assert k(x, y, a=4).tolist() == [1, 5, 9]       # and the next call runs as before


def test_crc32_repeat_calls_are_zlib(sim):
    k = sim.kernel("crc32")
    for _ in range(5):
        data = ints(np.uint8, 300)
        assert int(k(data)[0]) == zlib.crc32(data.tobytes())
    assert isinstance(repeat_of(k, data), RepeatCall)


def test_calls_of_another_shape_or_scalars_that_are_not_plain_ints_are_checked_in_full(sim):
    k = sim.kernel("saxpy")
    x = ints(np.int32, 6)
    for _ in range(3):
        k(x, x, a=1)
    # NumPy and bool scalars are taken by the full checks, as a first call's are.
    assert np.array_equal(k(x, x, a=np.int16(-3)), saxpy(-3, x, x))
    assert np.array_equal(k(x, x, a=True), saxpy(1, x, x))
    # A Buffer, inputs by name, a view with strides: each its own shape, each right.
    buf = sim.allocate(6, np.int32)
    buf[:] = x
    for _ in range(3):
        assert np.array_equal(k(buf, x, a=5), saxpy(5, x, x))
        assert np.array_equal(k(x=x, y=x, a=5), saxpy(5, x, x))
        wide = ints(np.int32, 12)
        assert np.array_equal(k(wide[::2], x, a=5), saxpy(5, wide[::2], x))
    assert isinstance(repeat_of(k, buf, x, a=5), RepeatCall)


@pytest.mark.parametrize("call,message", [
    (lambda k, x: k(x.astype(np.float64), x, a=1),
     r"^saxpy: input 'x' has dtype float64; expected int32 \(convert with \.astype\(np\.int32\)\)$"),
    (lambda k, x: k(x, x, a=2**31),
     r"^saxpy: scalar 'a' = 2147483648 does not fit int32 \(-2147483648\.\.2147483647\)$"),
    (lambda k, x: k(x, x, a=-2**31 - 1),
     r"^saxpy: scalar 'a' = -2147483649 does not fit int32 \(-2147483648\.\.2147483647\)$"),
    (lambda k, x: k(x, x, a=1.5), r"^saxpy: scalar 'a' must be an integer \(int32\), not float64$"),
    (lambda k, x: k(x, x, a=np.ones(2, np.int32)),
     r"^saxpy: scalar 'a' must have shape \(\), not \(2,\)$"),
    (lambda k, x: k(x, x), r"^saxpy: runtime scalars are: a; missing a$"),
    (lambda k, x: k(x, x, a=1, b=2), r"^saxpy: runtime scalars are: a; unexpected b$"),
    (lambda k, x: k(x, a=1), r"^saxpy: inputs are x, y; missing y$"),
    (lambda k, x: k(x, x[:3], a=1), r"^saxpy: input 'y' has 3 elements but 'x' has 4"),
    (lambda k, x: k(x.reshape(2, 2), x.reshape(2, 2), a=1),
     r"^saxpy: input 'x' has shape \(2, 2\); expected a 1-D array$"),
    (lambda k, x: k(x, list(x), a=1), r"^saxpy: input 'y' must be a numpy array of int32, not list$"),
])
def test_a_shape_seen_before_refuses_what_a_first_call_refuses(sim, call, message):
    k = sim.kernel("saxpy")
    x = np.arange(4, dtype=np.int32)
    for _ in range(3):
        k(x, x, a=1)
    assert repeat_of(k, x, x, a=1) is not None
    with pytest.raises(StimulusError, match=message):
        call(k, x)
    with hetflow.open("cpu") as cpu, pytest.raises(StimulusError, match=message):
        call(cpu.kernel("saxpy"), x)
    assert k(x, x, a=1).tolist() == [0, 2, 4, 6]


def test_a_repeat_call_whose_simulator_died_says_so_and_the_next_restarts_it(sim):
    k = sim.kernel("saxpy")
    x = np.arange(8, dtype=np.int32)
    for _ in range(3):
        k(x, x, a=1)
    assert repeat_of(k, x, x, a=1) is not None
    os.kill(sim._board(k)._proc.pid, signal.SIGKILL)
    with pytest.raises(HetflowError, match=r"killed by SIGKILL"):
        k(x, x, a=1)
    assert np.array_equal(k(x, x, a=3), 4 * x)
    assert np.array_equal(k(x, x, a=3), 4 * x)


def test_repeat_calls_from_two_threads_each_get_their_own_result(sim):
    k = sim.kernel("saxpy")
    x = np.arange(16, dtype=np.int32)
    for _ in range(3):
        k(x, x, a=1)
    wrong = []

    def calls(a):
        for i in range(100):
            y = np.full(16, i, np.int32)
            if not np.array_equal(k(x, y, a=a), a * x + y):
                wrong.append((a, i))
    threads = [threading.Thread(target=calls, args=(a,)) for a in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_kernels_whose_calls_their_shape_does_not_decide_have_no_repeat_calls(sim):
    from hetflow.hw.registry import get_kernel
    assert [name for name in ("saxpy", "crc32", "fir", "gemm", "dot", "conv2d")
            if get_kernel(name).shape_decides()] == ["saxpy", "crc32"]
    fir = sim.kernel("fir", taps=12)
    x, h = ints(np.int16, 50), ints(np.int16, 12)
    for _ in range(3):
        got = fir(x, h=h)
    assert repeat_of(fir, x, h=h) is None
    with hetflow.open("cpu") as cpu:
        assert np.array_equal(got, cpu.kernel("fir", taps=12)(x, h=h))
