"""The mixed workload of ``hetflow bench schedule``: FIR, GEMM, CRC-32 and NumPy steps.

Four independent channels of different lengths, each::

    samples -> fir(taps=16) -> quantise (NumPy) -> gemm 16x16 tiles -> bytes (NumPy) -> crc32
                      \\-> analyse (NumPy: spectrum and percentiles of the filtered signal)

plus a large CRC-32 of a raw buffer, an FFT on the host, and a final NumPy
step that gathers every checksum and statistic.

On the simulated board a task takes the Verilator model's wall time, and on
a 2-core host that is slower than the CPU for every kernel (the performance
models say by how much: ``hetflow models``).  The board can still win tasks
as a *second worker*: while the host runs the analysis steps, a GEMM on the
board runs beside them instead of after them.  Whether that pays depends on
how much the two slow each other down (the simulator's driver thread and the
CPU's NumPy share the Python interpreter lock), which the performance models
learn from shared runs; when it does not pay, heft and dmda keep everything
on the CPU.

:func:`expected` computes every result with NumPy and zlib alone.
"""

import zlib

import numpy as np

from ..sched.graph import Graph

__all__ = ["mixed_workload", "expected", "CHANNELS", "TAPS", "GEMM", "FRAME", "FEATURES"]

#: Samples of each channel's signal (multiples of FRAME).
CHANNELS = (65536, 131072, 196608, 262144)
TAPS = 16
#: Frame length (GEMM K) and features (GEMM N); the tiles are 16x16.
FRAME, FEATURES = 4096, 64
GEMM = {"rows": 16, "cols": 16}
RAW_BYTES = 1 << 20
FFT_POINTS = 1 << 18
#: Window of the analysis spectrum, and the percentiles it reports.
WINDOW = 1024
PERCENTILES = (1, 50, 99)


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


def analyse(y):
    """Strongest bin of the mean windowed spectrum and percentiles of a filtered signal."""
    x = (y.astype(np.float64) / 2**12)[:len(y) - len(y) % WINDOW].reshape(-1, WINDOW)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(WINDOW), axis=1)).mean(axis=0)
    stats = np.percentile(np.sort(x, axis=None), PERCENTILES)
    return np.concatenate([[int(np.argmax(spectrum))], np.round(stats).astype(np.int64)])


def peak(x):
    """Index of the strongest frequency of a real signal (an FFT on the host)."""
    return np.array([int(np.argmax(np.abs(np.fft.rfft(x))))], dtype=np.int64)


def gather(*parts):
    """All checksums, statistics and the FFT peak in one array."""
    return np.concatenate([np.asarray(p, dtype=np.int64).reshape(-1) for p in parts])


def mixed_workload(seed=0, channels=CHANNELS):
    """The workload as a :class:`Graph`; returns ``(graph, final TaskRef)``."""
    signals, h, weights, raw, tone = _data(seed, channels)
    g = Graph()
    fir = g.kernel("fir", taps=TAPS)
    gemm = g.kernel("gemm", **GEMM)
    crc = g.kernel("crc32")
    step_q, step_b, step_a = g.task(quantise), g.task(as_bytes), g.task(analyse)
    parts = []
    for i, x in enumerate(signals):
        y = fir(x, h=h, name=f"fir{i}")
        c = gemm(step_q(y, name=f"quant{i}"), weights, name=f"gemm{i}")
        parts.append(crc(step_b(c, name=f"bytes{i}"), name=f"crc{i}"))
        parts.append(step_a(y, name=f"analyse{i}"))
    parts.append(crc(raw, name="crc_raw"))
    parts.append(g.task(peak, tone, name="fft"))
    return g, g.task(gather, *parts, name="gather")


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
        parts.append(analyse(y))
    parts.append(zlib.crc32(raw.tobytes()))
    parts.append(peak(tone))
    return gather(*parts)
