"""One benchmark call per kernel: random inputs of a given size, the same for a seed.

Each kernel here takes 1-D input streams, so a smaller call is a slice of the same data
(``hetflow bench sim`` runs cocotb on the first elements of the virtual board's call).
"""

import numpy as np

from ..hw.errors import HetflowError
from ..hw.stimuli import random_ints

__all__ = ["STIMULI", "check_stimulus", "make_call"]


def _saxpy(p, n, rng):
    return ({"x": random_ints(rng, "int32", n), "y": random_ints(rng, "int32", n)},
            {"a": int(random_ints(rng, "int32", 1)[0])})


def _dot(p, n, rng):
    return {"x": random_ints(rng, "int16", n), "y": random_ints(rng, "int16", n)}, {}


def _fir(p, n, rng):
    return {"x": random_ints(rng, "int16", n)}, {"h": random_ints(rng, "int16", p.taps)}


def _crc32(p, n, rng):
    return {"data": random_ints(rng, "uint8", n)}, {}


#: Kernels the benchmark can feed: name -> ``f(params, elements, rng) -> (inputs, scalars)``.
STIMULI = {"saxpy": _saxpy, "dot": _dot, "fir": _fir, "crc32": _crc32}


def check_stimulus(kernel_cls):
    """Raise unless the benchmarks can feed ``kernel_cls``."""
    if kernel_cls.name not in STIMULI:
        raise HetflowError(f"kernel '{kernel_cls.name}' has no benchmark stimulus; "
                           f"allowed: {', '.join(STIMULI)}")


def make_call(kernel_cls, p, elements, seed=1):
    """``(inputs, scalars)`` of one call of ``elements`` elements (random, reproducible)."""
    check_stimulus(kernel_cls)
    return STIMULI[kernel_cls.name](p, elements, np.random.default_rng(seed))
