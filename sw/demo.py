"""The demo pipeline: FIR filter -> quantise -> GEMM -> CRC-32, on several devices.

Every device must produce bit-identical results; the CPU (golden models) is
the reference.
"""

import time
import zlib
from dataclasses import dataclass

import numpy as np

from .device import open as open_device

__all__ = ["Step", "run_pipeline", "DEMO_SIZES"]

DEMO_SIZES = {"samples": 4096, "taps": 16, "features": 16}


@dataclass
class Step:
    """One kernel call of the pipeline: its size, device cycles, link count and wall time.

    ``link`` is the call's :class:`~hetflow.boardtime.LinkCount` (None on the cpu).
    """

    device: str
    kernel: str
    elements: int
    cycles: int
    wall_s: float
    result: object
    link: object = None


def _inputs(samples, taps, features, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples)
    signal = (3000 * np.sin(t / 20) + rng.normal(0, 800, samples)).astype(np.int16)
    h = np.hanning(taps + 2)[1:-1]
    h = np.round(h / h.sum() * 2**12).astype(np.int16)        # Q12 low-pass filter
    weights = rng.integers(-64, 64, (64, features)).astype(np.int8)
    return signal, h, weights


def run_pipeline(spec, samples=4096, taps=16, features=16, status=None, options=None):
    """Run the pipeline on device ``spec``; returns the list of :class:`Step`.

    ``options`` are passed to :func:`hetflow.open` (e.g. ``memory_size`` on sim).
    """
    say = status or (lambda msg: None)
    signal, h, weights = _inputs(samples, taps, features)
    steps = []
    with open_device(spec, **(options or {})) as dev:
        say(f"{spec}: loading kernels")
        fir = dev.kernel("fir", taps=taps)
        gemm = dev.kernel("gemm")
        crc = dev.kernel("crc32")

        say(f"{spec}: fir, {samples} samples x {taps} taps")
        t0 = time.perf_counter()
        filtered = fir(signal, h=h)
        steps.append(Step(spec, f"fir taps={taps}", samples, fir.last_cycles,
                          time.perf_counter() - t0, filtered, fir.last_link))

        # NumPy step on the host: drop the Q12 gain and 5 more bits into int8 features.
        frames = np.clip(filtered >> 17, -128, 127).astype(np.int8).reshape(-1, 64)

        say(f"{spec}: gemm {frames.shape} @ {weights.shape}")
        t0 = time.perf_counter()
        product = gemm(frames, weights)
        steps.append(Step(spec, "gemm 2x4 tiles", frames.size * weights.shape[1],
                          gemm.last_cycles, time.perf_counter() - t0, product, gemm.last_link))

        say(f"{spec}: crc32 of {product.nbytes} bytes")
        t0 = time.perf_counter()
        digest = crc(product.view(np.uint8).reshape(-1))
        steps.append(Step(spec, "crc32", product.nbytes, crc.last_cycles,
                          time.perf_counter() - t0, digest, crc.last_link))
        assert int(digest[0]) == zlib.crc32(product.tobytes())
    return steps
