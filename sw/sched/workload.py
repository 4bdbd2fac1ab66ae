"""The mixed workload of ``hetflow bench schedule``: FIR, GEMM, CRC-32 and NumPy steps.

Four independent channels of different lengths, each the demo's pipeline::

    samples -> fir(taps=16) -> quantise (NumPy) -> gemm 16x16 tiles -> bytes (NumPy) -> crc32

plus a large CRC-32 of a raw buffer, an FFT on the host, and a final NumPy
step that gathers every checksum.  Small and large FIRs, GEMMs and CRCs:
some tasks suit the CPU (the CRCs: zlib is fast), some are closer on the
simulated board (the FIRs and the 16x16 GEMM tiles), and the channels can run
side by side.  :func:`expected` computes every result with NumPy alone.
"""

import zlib

import numpy as np

from .graph import Graph

__all__ = ["mixed_workload", "expected", "CHANNELS", "TAPS", "GEMM"]

#: Samples of each channel's signal.
CHANNELS = (16384, 32768, 65536, 131072)
TAPS = 16
#: Frame length (GEMM K) and features (GEMM N); the tiles are 16x16.
FRAME, FEATURES = 2048, 32
GEMM = {"rows": 16, "cols": 16}
RAW_BYTES = 1 << 20
FFT_POINTS = 1 << 18


def _data(seed, channels):
    rng = np.random.default_rng(seed)
    signals = [(3000 * np.sin(np.arange(n) / 20) + rng.normal(0, 800, n)).astype(np.int16)
               for n in channels]
    h = np.hanning(TAPS + 2)[1:-1]
    h = np.round(h / h.sum() * 2**12).astype(np.int16)
    weights = rng.integers(-64, 64, (FRAME, FEATURES)).astype(np.int8)
    raw = rng.integers(0, 256, RAW_BYTES, dtype=np.uint8)
    tone = rng.normal(0, 1, FFT_POINTS)
    return signals, h, weights, raw, tone


def quantise(y):
    """Drop the Q12 gain and 5 more bits into int8 frames of FRAME samples."""
    return np.clip(y >> 17, -128, 127).astype(np.int8).reshape(-1, FRAME)


def as_bytes(c):
    """The GEMM result as the byte stream the CRC checks."""
    return np.ascontiguousarray(c).view(np.uint8).reshape(-1)


def peak(x):
    """Index of the strongest frequency of a real signal (an FFT on the host)."""
    return np.array([int(np.argmax(np.abs(np.fft.rfft(x))))], dtype=np.int64)


def gather(*parts):
    """All checksums and the FFT peak in one array."""
    return np.concatenate([np.asarray(p, dtype=np.int64).reshape(-1) for p in parts])


def mixed_workload(seed=0, channels=CHANNELS):
    """The workload as a :class:`Graph`; returns ``(graph, final TaskRef)``."""
    signals, h, weights, raw, tone = _data(seed, channels)
    g = Graph()
    fir = g.kernel("fir", taps=TAPS)
    gemm = g.kernel("gemm", **GEMM)
    crc = g.kernel("crc32")
    step_q, step_b = g.task(quantise), g.task(as_bytes)
    sums = []
    for i, x in enumerate(signals):
        y = fir(x, h=h, name=f"fir{i}")
        f = step_q(y, name=f"quant{i}")
        c = gemm(f, weights, name=f"gemm{i}")
        sums.append(crc(step_b(c, name=f"bytes{i}"), name=f"crc{i}"))
    sums.append(crc(raw, name="crc_raw"))
    sums.append(g.task(peak, tone, name="fft"))
    return g, g.task(gather, *sums, name="gather")


def expected(seed=0, channels=CHANNELS):
    """The final result of :func:`mixed_workload`, computed with NumPy and zlib only."""
    signals, h, weights, raw, tone = _data(seed, channels)
    parts = []
    for x in signals:
        y = (np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)] & 0xFFFFFFFF)
        y = y.astype(np.uint32).view(np.int32)
        f = quantise(y)
        c = ((f.astype(np.int64) @ weights.astype(np.int64)) & 0xFFFFFFFF)
        c = c.astype(np.uint32).view(np.int32)
        parts.append(zlib.crc32(as_bytes(c).tobytes()))
    parts.append(zlib.crc32(raw.tobytes()))
    parts.append(peak(tone))
    return gather(*parts)
