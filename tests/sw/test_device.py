"""The host API on the CPU device (the reference every other backend must equal)."""

import zlib

import numpy as np
import pytest

import hetflow
from hetflow.hw import StimulusError
from hetflow.hw.errors import HetflowError, ParamError


@pytest.fixture
def cpu():
    with hetflow.open("cpu") as dev:
        yield dev


def test_saxpy_wraps_like_int32(cpu):
    x = np.array([2**31 - 1, -5, 3], dtype=np.int32)
    y = np.array([1, 2, -2**31], dtype=np.int32)
    z = cpu.kernel("saxpy")(x, y, a=7)
    expected = ((7 * x.astype(np.int64) + y) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    assert z.dtype == np.int32 and np.array_equal(z, expected)


def test_crc32_equals_zlib(cpu):
    data = np.frombuffer(b"hetflow" * 100, dtype=np.uint8)
    assert int(cpu.kernel("crc32")(data)[0]) == zlib.crc32(data.tobytes())


def test_fir_equals_convolve(cpu):
    rng = np.random.default_rng(1)
    x = rng.integers(-100, 100, 500).astype(np.int16)
    h = rng.integers(-100, 100, 16).astype(np.int16)
    y = cpu.kernel("fir", taps=16)(x, h=h)
    assert np.array_equal(y, np.convolve(x.astype(np.int64), h)[:500])


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 33, 5), (16, 300, 9)])
def test_gemm_any_shape(cpu, m, k, n):
    rng = np.random.default_rng(m * k * n)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    assert np.array_equal(cpu.kernel("gemm")(a, b), a.astype(np.int32) @ b.astype(np.int32))


def test_async_start_and_wait(cpu):
    x = np.arange(1000, dtype=np.int32)
    run = cpu.kernel("saxpy").start(x, x, a=2)
    assert np.array_equal(run.wait(timeout=5.0), 3 * x)
    assert run.done()


def test_inputs_by_keyword_and_buffers(cpu):
    x = cpu.allocate(8, np.int32)
    x[:] = np.arange(8)
    assert isinstance(x, hetflow.Buffer) and x.owner is cpu
    z = cpu.kernel("saxpy")(x=x, y=x, a=-1)
    assert np.array_equal(z, np.zeros(8, dtype=np.int32))


@pytest.mark.parametrize("call,message", [
    (lambda k: k(np.zeros(3), np.zeros(3, np.int32), a=1),
     r"^saxpy: input 'x' has dtype float64; expected int32"),
    (lambda k: k(np.zeros(3, np.int32), a=1), r"^saxpy: inputs are x, y; missing y$"),
    (lambda k: k(np.zeros(3, np.int32), np.zeros(3, np.int32)),
     r"^saxpy: runtime scalars are: a; missing a$"),
    (lambda k: k(np.zeros(3, np.int32), np.zeros(3, np.int32), np.zeros(3, np.int32), a=1),
     r"^saxpy: takes 2 input array\(s\) \(x, y\), got 3$"),
    (lambda k: k(np.zeros(3, np.int32), np.zeros(2, np.int32), a=1),
     r"^saxpy: input 'y' has 2 elements but 'x' has 3"),
])
def test_bad_calls_fail_before_running(cpu, call, message):
    with pytest.raises(StimulusError, match=message):
        call(cpu.kernel("saxpy"))


def test_gemm_shape_errors(cpu):
    with pytest.raises(StimulusError, match=r"^gemm: a has shape \(2, 3\) and b has shape \(4, 2\); "
                                            r"a's columns must equal b's rows \(K\)$"):
        cpu.kernel("gemm")(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8))
    with pytest.raises(StimulusError, match=r"^gemm: a and b must be 2-D matrices"):
        cpu.kernel("gemm")(np.zeros(3, np.int8), np.zeros((3, 2), np.int8))


def test_bad_kernel_params(cpu):
    with pytest.raises(ParamError, match=r"^fir: parameter 'taps' = 0 is out of range; allowed 1..64$"):
        cpu.kernel("fir", taps=0)


def test_timeout_names_kernel_and_device_recovers(fixtures_on_path):
    with hetflow.open("cpu") as dev:
        slow = dev.kernel("slow_kernels:SlowSaxpy")
        x = np.arange(4, dtype=np.int32)
        with pytest.raises(TimeoutError, match=r"^kernel 'slow_saxpy' on cpu did not finish within "
                                               r"0.1 s \(waited 0\.\d\d s\)$"):
            slow.start(x, x, a=1).wait(timeout=0.1)
        # The device does not queue the next call behind the abandoned one.
        run = dev.kernel("saxpy").start(x, x, a=1)
        assert np.array_equal(run.wait(timeout=1.0), 2 * x)


def test_wait_needs_positive_timeout(cpu):
    run = cpu.kernel("saxpy").start(np.zeros(1, np.int32), np.zeros(1, np.int32), a=1)
    with pytest.raises(ValueError, match=r"timeout must be a positive number of seconds"):
        run.wait(timeout=None)


def test_open_errors():
    with pytest.raises(HetflowError, match=r"^unknown device 'gpu'; choose one of: cpu, sim, pynq, "
                                           r"serial:PORT$"):
        hetflow.open("gpu")
    dev = hetflow.open("cpu")
    dev.close()
    with pytest.raises(HetflowError, match=r"^device cpu is closed$"):
        dev.kernel("saxpy")
