"""Random stimuli with the edge values that break hardware most often."""

import numpy as np

__all__ = ["random_ints", "lengths", "full"]


def random_ints(rng, dtype, size, edge=0.1):
    """Uniform random integers of ``dtype``, with about ``edge`` of them at the extremes.

    Parameters
    ----------
    rng : numpy.random.Generator
    dtype : numpy dtype-like (integer)
    size : int or tuple
    edge : float
        Fraction of elements replaced by min, max, 0, 1 or -1.
    """
    dt = np.dtype(dtype)
    info = np.iinfo(dt)
    arr = rng.integers(info.min, info.max, size=size, dtype=dt, endpoint=True)
    if edge:
        specials = np.array([v for v in (info.min, info.max, 0, 1, -1, info.min + 1, info.max - 1)
                             if info.min <= v <= info.max], dtype=dt)
        mask = rng.random(size) < edge
        arr[mask] = rng.choice(specials, size=int(mask.sum()))
    return arr


def lengths(rng, count, long=1000, short=64):
    """Job lengths for ``count`` cases: 1, then a long one, then random short ones."""
    out = [1, long] + [int(rng.integers(1, short, endpoint=True)) for _ in range(max(0, count - 2))]
    return out[:max(1, count)]


def full(dtype, size, which):
    """An array of ``size`` elements all at ``which`` ('min' or 'max') of ``dtype``."""
    info = np.iinfo(np.dtype(dtype))
    return np.full(size, getattr(info, which), dtype=dtype)
