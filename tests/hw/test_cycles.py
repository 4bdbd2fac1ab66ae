"""Cycle counts of the built-in kernels on the virtual board, pinned.

A change to the shell or to a kernel's core (typed lanes, the register bank, ...) must not
change how many cycles a job takes; these are the counts measured before those changes.
Values do not matter to the timing, only the shapes of the calls.
"""

import numpy as np
import pytest

import hetflow

from ..conftest import needs_verilator

RNG = np.random.default_rng(5)


def ints(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


CALLS = [
    ("saxpy", {"lanes": 1}, lambda: ((ints(np.int32, 1000), ints(np.int32, 1000)), {"a": 3}), 1002),
    ("saxpy", {"lanes": 4}, lambda: ((ints(np.int32, 1001), ints(np.int32, 1001)), {"a": -7}), 253),
    ("dot", {"lanes": 2}, lambda: ((ints(np.int16, 777), ints(np.int16, 777)), {}), 391),
    ("fir", {"taps": 8}, lambda: ((ints(np.int16, 500),), {"h": ints(np.int16, 8)}), 502),
    ("gemm", {}, lambda: ((ints(np.int8, (2, 50)), ints(np.int8, (50, 4))), {}), 52),
    ("conv2d", {}, lambda: ((ints(np.uint8, (10, 12)),), {"w": ints(np.int8, (3, 3))}), 123),
    ("crc32", {}, lambda: ((ints(np.uint8, 1001),), {}), 253),
]


@pytest.fixture(scope="module")
def sim():
    with hetflow.open("sim") as dev:
        yield dev


@needs_verilator
@pytest.mark.parametrize("name, params, make, cycles", CALLS,
                         ids=[f"{c[0]}-{'-'.join(f'{k}{v}' for k, v in c[1].items())}"
                              for c in CALLS])
def test_cycles_are_unchanged(sim, name, params, make, cycles):
    kernel = sim.kernel(name, **params)
    args, scalars = make()
    kernel(*args, **scalars)
    assert kernel.last_cycles == cycles
