"""Tests of the ``dot`` kernel: golden model, call checking, RTL in Verilator."""

import numpy as np
import pytest

from hetflow.hw.errors import ParamError, StimulusError
from hetflow.hw.job import pack_beats
from hetflow.hw.kernels.dot import Dot
from hetflow.sim.verify import verify

I16_MIN, I16_MAX = -2**15, 2**15 - 1


def reference(x, y):
    """Exact dot product with Python integers."""
    return sum(int(a) * int(b) for a, b in zip(x, y))


def golden(x, y, lanes=1):
    out = Dot.golden(Dot.bind(lanes=lanes), {"x": x, "y": y}, {})["out"]
    assert out.dtype == np.int64 and out.shape == (1,)
    return int(out[0])


# ---- golden model ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_golden_random(n):
    rng = np.random.default_rng(n)
    x = rng.integers(I16_MIN, I16_MAX, n, endpoint=True).astype(np.int16)
    y = rng.integers(I16_MIN, I16_MAX, n, endpoint=True).astype(np.int16)
    assert golden(x, y) == reference(x, y)


@pytest.mark.parametrize("a, b, n", [
    (I16_MIN, I16_MIN, 1),      # 2**30, the largest product
    (I16_MIN, I16_MIN, 4),      # 2**32: would wrap a 32-bit accumulator
    (I16_MIN, I16_MAX, 5),      # the most negative products
    (I16_MAX, I16_MAX, 3),
    (I16_MIN, I16_MIN, 4099),   # beyond 2**42
])
def test_golden_extremes(a, b, n):
    x = np.full(n, a, np.int16)
    y = np.full(n, b, np.int16)
    assert golden(x, y) == n * a * b
    # The products must not be formed in int16 or int32.
    assert golden(x, y) == reference(x, y)


def test_golden_ignores_lanes():
    x = np.arange(-50, 50, dtype=np.int16)
    y = np.arange(100, dtype=np.int16)[::-1].copy()
    assert {golden(x, y, lanes) for lanes in (1, 2, 4, 8)} == {reference(x, y)}


def test_zero_padding_adds_nothing():
    # The host pads the last beat with zeros; padded and unpadded sums agree.
    p = Dot.bind(lanes=8)
    x = np.array([I16_MIN, 3, -7], np.int16)
    port = Dot.inputs(p)[0]
    padded = np.frombuffer(pack_beats(port, x)[0].to_bytes(16, "little"), dtype="<i2")
    assert list(padded) == [I16_MIN, 3, -7, 0, 0, 0, 0, 0]
    y = np.array([I16_MIN, -2, 5, 1, 1, 1, 1, 1], np.int16)
    assert golden(padded.astype(np.int16), y) == golden(x, y[:3])


# ---- prepare ---------------------------------------------------------------------------

def prepare(x, y, lanes=1, **scalars):
    p = Dot.bind(lanes=lanes)
    return Dot.prepare(p, {"x": x, "y": y}, scalars)


def test_prepare_job():
    x = np.arange(5, dtype=np.int16)
    job = prepare(x, -x, lanes=4)
    assert job.registers == {"len": 5}
    assert job.expect == {"out": 1}
    assert np.array_equal(job.streams["x"], x) and np.array_equal(job.streams["y"], -x)
    assert Dot.work(Dot.bind(lanes=4), job) == (5, "element")


def test_prepare_empty():
    job = prepare(np.zeros(0, np.int16), np.zeros(0, np.int16))
    assert job.registers == {"len": 0} and job.expect == {"out": 1}


def test_prepare_rejects_dtype():
    with pytest.raises(StimulusError, match=r"^dot: input 'x' has dtype int32; expected int16 "
                                            r"\(convert with \.astype\(np\.int16\)\)$"):
        prepare(np.zeros(3, np.int32), np.zeros(3, np.int16))


def test_prepare_rejects_2d():
    with pytest.raises(StimulusError,
                       match=r"^dot: input 'y' has shape \(2, 3\); expected a 1-D array$"):
        prepare(np.zeros(6, np.int16), np.zeros((2, 3), np.int16))


def test_prepare_rejects_scalar_array():
    with pytest.raises(StimulusError,
                       match=r"^dot: input 'x' has shape \(\); expected a 1-D array$"):
        prepare(np.array(3, np.int16), np.zeros(1, np.int16))


def test_prepare_rejects_length_mismatch():
    with pytest.raises(StimulusError, match=r"^dot: input 'y' has 4 elements but 'x' has 5; "
                                            r"they must be equal$"):
        prepare(np.zeros(5, np.int16), np.zeros(4, np.int16))


def test_prepare_rejects_too_long():
    # A zero-stride view: 2**32 elements without the memory.
    big = np.lib.stride_tricks.as_strided(np.zeros(1, np.int16), shape=(2**32,), strides=(0,))
    with pytest.raises(StimulusError,
                       match=r"^dot: length 4294967296 is out of range; allowed 0\.\.4294967295$"):
        prepare(big, big)


def test_prepare_rejects_missing_input():
    p = Dot.bind()
    with pytest.raises(StimulusError, match=r"^dot: inputs are x, y; missing y$"):
        Dot.prepare(p, {"x": np.zeros(1, np.int16)}, {})


def test_prepare_rejects_scalar():
    with pytest.raises(StimulusError, match=r"^dot: runtime scalars are: none; unexpected a$"):
        prepare(np.zeros(1, np.int16), np.zeros(1, np.int16), a=1)


def test_bad_lanes():
    with pytest.raises(ParamError, match=r"^dot: parameter 'lanes' = 3 is out of range; "
                                         r"allowed one of 1, 2, 4, 8$"):
        Dot.bind(lanes=3)


# ---- cases -----------------------------------------------------------------------------

def test_cases():
    p = Dot.bind()
    cases = Dot.cases(p, np.random.default_rng(0), 10)
    assert len(cases) == 10
    lengths = [len(inputs["x"]) for inputs, _ in cases]
    assert lengths[:2] == [0, 1] and max(lengths) >= 1000
    for inputs, scalars in cases:
        assert scalars == {}
        Dot.prepare(p, dict(inputs), scalars)
    assert len(Dot.cases(p, np.random.default_rng(0), 2)) == 2


# ---- RTL -------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, pytest.param({"lanes": 4}, marks=pytest.mark.slow)])
def test_verify(params):
    result = verify("dot", params, count=8, seed=5)
    print(result.summary())
    assert result.passed, result.summary() + "\n" + "\n".join(
        result.errors + [str(m) for m in result.mismatches])
    # One beat per cycle: 1/lanes cycles per element plus a little latency.
    lanes = params.get("lanes", 1)
    assert result.cycles_per_unit < 1 / lanes + 0.01
