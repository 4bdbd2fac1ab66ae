"""The demo: one design, FIR -> CRC-32 chained on the fabric beside a GEMM, on several devices.

The design (:func:`demo_overlay`) holds ``fir0`` (a 16-tap FIR filter),
``crc0`` (CRC-32) and ``gemm0`` (a 2x4 GEMM); ``fir0``'s output streams into
``crc0`` through a FIFO, so the chain ``fir0_crc0`` takes the signal and
returns the CRC of the filtered signal, which never leaves the fabric.
The same steps also run as separate calls on the design without the stream
(``fir0`` then ``crc0``, the filtered signal going to the host and back), so
the link bytes the chain saves are measured, not estimated.  Every device
must produce bit-identical results; the CPU (golden models) is the
reference, and the CRC is checked against NumPy and ``zlib``.
"""

import time
import zlib
from dataclasses import dataclass

import numpy as np

from .device import open as open_device
from .hw.overlay import Overlay

__all__ = ["Step", "run_pipeline", "demo_overlay", "link_summary", "DEMO_SIZES", "CHAINED", "SEPARATE"]

DEMO_SIZES = {"samples": 4096, "taps": 16, "features": 16}
#: Step names of the chained run and of the same work as separate calls.
CHAINED = "fir0 -> crc0 chained"
SEPARATE = ("fir0 separate", "crc0 separate")


@dataclass
class Step:
    """One call of the demo: its size, device cycles, link count and wall time.

    ``kernel`` names the call, ``kernels`` the kernels it runs; ``link`` is the
    call's :class:`~hetflow.boardtime.LinkCount` (None on the cpu).
    """

    device: str
    kernel: str
    elements: int
    cycles: int
    wall_s: float
    result: object
    link: object = None
    kernels: tuple = ()


def demo_overlay(chained=True, taps=16):
    """The demo's design (``pipeline``, as in docs/overlays.md) or, with
    ``chained=False``, the same instances with no stream (``pipeline_separate``)."""
    overlay = Overlay("pipeline" if chained else "pipeline_separate")
    overlay.add("fir0", "fir", taps=taps)
    overlay.add("crc0", "crc32", lanes=4)
    overlay.add("gemm0", "gemm", rows=2, cols=4)
    if chained:
        overlay.connect("fir0.y", "crc0.data", depth=32, reinterpret=True)
    return overlay


def _inputs(samples, taps, features, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples)
    signal = (3000 * np.sin(t / 20) + rng.normal(0, 800, samples)).astype(np.int16)
    h = np.hanning(taps + 2)[1:-1]
    h = np.round(h / h.sum() * 2**12).astype(np.int16)        # Q12 low-pass filter
    weights = rng.integers(-64, 64, (64, features)).astype(np.int8)
    return signal, h, weights


def _timed(spec, name, handle, kernels, elements, call):
    t0 = time.perf_counter()
    result = call()
    return Step(spec, name, elements, handle.last_cycles, time.perf_counter() - t0, result,
                handle.last_link, kernels)


def run_pipeline(spec, samples=4096, taps=16, features=16, status=None, options=None):
    """Run the demo on device ``spec``; returns the list of :class:`Step`.

    The steps: the chain ``fir0_crc0`` on the signal; ``gemm0`` on frames of
    the signal (int8, 64 a row) and the weights; then ``fir0`` and ``crc0`` as
    separate calls on the design without the stream.  ``options`` are passed
    to :func:`hetflow.open` (e.g. ``memory_size`` on sim).
    """
    say = status or (lambda msg: None)
    signal, h, weights = _inputs(samples, taps, features)
    frames = np.clip(signal >> 6, -128, 127).astype(np.int8).reshape(-1, 64)
    steps = []
    say(f"{spec}: loading the design (fir0 -> crc0 chained, gemm0)")
    with open_device(spec, overlay=demo_overlay(True, taps), **(options or {})) as dev:
        say(f"{spec}: fir0 -> crc0, {samples} samples x {taps} taps")
        steps.append(_timed(spec, CHAINED, dev.fir0_crc0, ("fir", "crc32"), samples,
                            lambda: dev.fir0_crc0(signal, h=h)))
        say(f"{spec}: gemm0 {frames.shape} @ {weights.shape}")
        steps.append(_timed(spec, "gemm0 2x4 tiles", dev.gemm0, ("gemm",),
                            frames.size * weights.shape[1], lambda: dev.gemm0(frames, weights)))
    say(f"{spec}: loading the design without the stream")
    with open_device(spec, overlay=demo_overlay(False, taps), **(options or {})) as dev:
        say(f"{spec}: fir0, then crc0 of its {samples * 4} bytes, as separate calls")
        fir = _timed(spec, SEPARATE[0], dev.fir0, ("fir",), samples,
                     lambda: dev.fir0(signal, h=h))
        data = fir.result.astype("<i4").view(np.uint8)
        crc = _timed(spec, SEPARATE[1], dev.crc0, ("crc32",), data.size,
                     lambda: dev.crc0(data))
        steps += [fir, crc]
    filtered = np.convolve(signal.astype(np.int64), h.astype(np.int64))[:samples]
    expected = zlib.crc32((filtered & 0xFFFFFFFF).astype("<u4").tobytes())
    for step in (steps[0], crc):
        if int(step.result[0]) != expected:
            raise AssertionError(f"{spec}: {step.kernel} gave crc32 0x{int(step.result[0]):08x}, "
                                 f"NumPy and zlib 0x{expected:08x}")
    return steps


def link_summary(steps):
    """``(chained bytes, separate bytes)`` of a device's steps, or None without link counts."""
    by_name = {s.kernel: s for s in steps}
    parts = [by_name[CHAINED], *(by_name[n] for n in SEPARATE)]
    if any(s.link is None for s in parts):
        return None
    return parts[0].link.bytes, sum(s.link.bytes for s in parts[1:])
