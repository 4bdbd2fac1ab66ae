"""An overlay on a device: instances and chains called from the host API."""

import zlib

import numpy as np
import pytest

import hetflow
from hetflow.hw.errors import HetflowError, StimulusError
from hetflow.hw.overlay import Overlay, OverlayError



@pytest.fixture
def pipeline(pipeline_toml):
    return pipeline_toml


def fir_crc(x, h):
    y = np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)] & 0xFFFFFFFF
    return zlib.crc32(y.astype("<u4").tobytes())


def test_cpu_runs_instances_and_chains(pipeline):
    rng = np.random.default_rng(3)
    x = rng.integers(-2**15, 2**15, 777, dtype=np.int16)
    h = rng.integers(-2**15, 2**15, 16, dtype=np.int16)
    a = rng.integers(-128, 128, (3, 5), dtype=np.int8)
    b = rng.integers(-128, 128, (5, 4), dtype=np.int8)
    with hetflow.open("cpu", overlay=pipeline) as dev:
        assert list(dev.kernels) == ["fir0", "crc0", "gemm0"]
        assert list(dev.chains) == ["fir0_crc0"]
        assert dev.fir0_crc0(x, h=h)[0] == fir_crc(x, h)
        assert dev.fir0_crc0(x=x, fir0={"h": h})[0] == fir_crc(x, h)
        np.testing.assert_array_equal(dev.gemm0(a, b), a.astype(np.int32) @ b.astype(np.int32))
        # two independent units started, then waited for
        runs = [dev.gemm0.start(a, b), dev.fir0_crc0.start(x, h=h)]
        c, crc = (run.wait(timeout=10) for run in runs)
        np.testing.assert_array_equal(c, a.astype(np.int32) @ b.astype(np.int32))
        assert crc[0] == fir_crc(x, h)
        assert dev.kernel("gemm", rows=2, cols=4) is dev.gemm0


def test_python_overlay_and_shared_scalar_names():
    overlay = Overlay("twice")
    overlay.add("s0", "saxpy")
    overlay.add("s1", "saxpy")
    overlay.connect("s0.z", "s1.x")
    x, y, w = (np.arange(10, dtype=np.int32) * k for k in (1, 2, 3))
    with hetflow.open("cpu", overlay=overlay) as dev:
        z = dev.s0_s1(x, y, w, s0={"a": 2}, s1={"a": -1})
        np.testing.assert_array_equal(z, -(2 * x + y) + w)
        with pytest.raises(StimulusError, match=r"^s0_s1: unexpected argument 'a'; 'a' belongs "
                                                r"to s0 and s1: give it per instance, "
                                                r"s0=\{'a': ...\}$"):
            dev.s0_s1(x, y, w, a=2)
        with pytest.raises(StimulusError, match="^s0_s1: missing input"):
            dev.s0_s1(x, y, s0={"a": 2}, s1={"a": 1})


def test_chained_instance_is_not_called_alone(pipeline):
    with hetflow.open("cpu", overlay=pipeline) as dev:
        with pytest.raises(StimulusError, match=r"^fir0 is chained on the fabric \(fir0.y -> "
                                                r"crc0.data\) and cannot be called alone; call "
                                                r"its chain, dev.fir0_crc0\(...\)$"):
            dev.fir0(np.zeros(4, np.int16), h=np.zeros(16, np.int16))
        with pytest.raises(AttributeError, match="^device cpu has no instance or chain 'fir1'; "
                                                 "its overlay has: fir0, crc0, gemm0, fir0_crc0$"):
            dev.fir1
        with pytest.raises(HetflowError, match=r"^overlay 'pipeline' has no instance of "
                                               r"fir\(taps=8\); call an instance by name: "
                                               r"dev.fir0, dev.crc0, dev.gemm0$"):
            dev.kernel("fir", taps=8)
        with pytest.raises(StimulusError, match="^fir0: fir: input 'x' has dtype int32"):
            dev.fir0_crc0(np.zeros(4, np.int32), h=np.zeros(16, np.int16))


def test_devices_without_overlays_say_so(pipeline):
    from hetflow.device import Device
    from hetflow.overlays import attach

    class OneKernelDevice(Device):          # a device that leaves runs_overlays unset
        name = "one-kernel"

    device = OneKernelDevice()
    try:
        with pytest.raises(HetflowError, match=r"^device one-kernel cannot run an overlay yet; "
                                               r"overlays run on the cpu, sim and serial devices "
                                               r"\(hetflow.open\('sim', overlay=...\)\), or "
                                               r"call one kernel with dev.kernel\(...\)$"):
            attach(device, pipeline)
    finally:
        device.close()


def test_bad_overlay_argument(tmp_path):
    with pytest.raises(OverlayError, match="^overlay must be a hetflow.Overlay or the path of a "
                                           "TOML file, not 3$"):
        hetflow.open("cpu", overlay=3)
    with pytest.raises(OverlayError, match="does not exist$"):
        hetflow.open("cpu", overlay=tmp_path / "missing.toml")
