"""The gemm kernel: golden model, call checks, stream layout, and RTL in Verilator."""

import numpy as np
import pytest

from hetflow.hw.errors import StimulusError
from hetflow.hw.job import pack_beats, unpack_beats
from hetflow.hw.kernels.gemm import Gemm
from hetflow.sim.verify import verify


def loop_gemm(a, b):
    """Plain-Python reference: int32 wrap-around after every multiply-accumulate."""
    rows, k = a.shape
    cols = b.shape[1]
    c = np.zeros((rows, cols), dtype=np.int32)
    for i in range(rows):
        for j in range(cols):
            acc = 0
            for t in range(k):
                acc = (acc + int(a[i, t]) * int(b[t, j]) + 2**31) % 2**32 - 2**31
            c[i, j] = acc
    return c


def call(p, a, b):
    return Gemm.golden(p, {"a": a, "b": b}, {})["c"]


@pytest.mark.parametrize("rows,cols", [(2, 4), (1, 1), (3, 5), (16, 16)])
def test_golden_matches_loops(rows, cols):
    rng = np.random.default_rng(rows * 100 + cols)
    p = Gemm.bind(rows=rows, cols=cols)
    for k in (1, 2, 17):
        a = rng.integers(-128, 127, (rows, k), dtype=np.int8, endpoint=True)
        b = rng.integers(-128, 127, (k, cols), dtype=np.int8, endpoint=True)
        c = call(p, a, b)
        assert c.dtype == np.int32 and c.shape == (rows, cols)
        np.testing.assert_array_equal(c, loop_gemm(a, b))


def test_golden_extremes():
    p = Gemm.bind()
    k = 9
    a = np.full((2, k), -128, np.int8)
    np.testing.assert_array_equal(call(p, a, np.full((k, 4), -128, np.int8)),
                                  np.full((2, 4), k * 16384))
    np.testing.assert_array_equal(call(p, a, np.full((k, 4), 127, np.int8)),
                                  np.full((2, 4), -k * 16256))


def test_golden_largest_k_does_not_overflow():
    """At K = 65535 the extreme sums still fit int32 (so no wrap in real jobs)."""
    p = Gemm.bind(rows=1, cols=2)
    k = 65535
    a = np.full((1, k), -128, np.int8)
    b = np.stack([np.full(k, -128, np.int8), np.full(k, 127, np.int8)], axis=1)
    np.testing.assert_array_equal(call(p, a, b), [[k * 16384, -k * 16256]])


def test_golden_wraps_like_int32():
    """Beyond the job limit the golden model wraps; checked against Python ints."""
    p = Gemm.bind(rows=1, cols=2)
    k = 140000    # 140000 * 16384 > 2**31 - 1 and -140000 * 16256 < -2**31
    a = np.full((1, k), -128, np.int8)
    b = np.stack([np.full(k, -128, np.int8), np.full(k, 127, np.int8)], axis=1)
    wrap = lambda v: (v + 2**31) % 2**32 - 2**31
    expected = [[wrap(k * 16384), wrap(-k * 16256)]]
    assert expected == [[-2001207296, 2019127296]]   # both wrapped across the sign
    np.testing.assert_array_equal(call(p, a, b), expected)


def test_prepare_layout_and_collect():
    p = Gemm.bind(rows=2, cols=3)
    a = np.array([[1, 2, 3, 4], [5, 6, 7, -8]], np.int8)
    b = np.arange(12, dtype=np.int8).reshape(4, 3)
    job = Gemm.prepare(p, {"a": a, "b": b}, {})
    assert job.registers == {"len": 4}
    # Beat k of a is column k of A; beat k of b is row k of B.
    np.testing.assert_array_equal(job.streams["a"], [1, 5, 2, 6, 3, 7, 4, -8])
    np.testing.assert_array_equal(job.streams["b"], b.reshape(-1))
    a_port, b_port = Gemm.inputs(p)
    assert len(pack_beats(a_port, job.streams["a"])) == 4
    assert len(pack_beats(b_port, job.streams["b"])) == 4
    assert job.expect == {"c": 6}
    assert Gemm.work(p, job) == (24, "MAC")
    # Output beats are rows of C; collect gives back the (rows, cols) matrix.
    c = np.array([[1, -2, 3], [2**31 - 1, -2**31, 0]], np.int32)
    (c_port,) = Gemm.outputs(p)
    beats = pack_beats(c_port, c.reshape(-1))
    assert len(beats) == 2
    got = Gemm.collect(p, job, {"c": unpack_beats(c_port, beats, job.expect["c"])})
    np.testing.assert_array_equal(got["c"], c)


@pytest.mark.parametrize("a_shape,b_shape,message", [
    ((3, 5), (5, 4), r"^gemm: a has shape \(3, 5\); this tile needs \(2, K\) \(rows=2\)$"),
    ((8,), (4, 4), r"^gemm: a has shape \(8,\); this tile needs \(2, K\) \(rows=2\)$"),
    ((2, 5), (5, 3), r"^gemm: b has shape \(5, 3\); this tile needs \(K, 4\) \(cols=4\)$"),
    ((2, 5), (20,), r"^gemm: b has shape \(20,\); this tile needs \(K, 4\) \(cols=4\)$"),
    ((2, 5), (6, 4), r"^gemm: a has shape \(2, 5\) and b has shape \(6, 4\); "
                     r"a's columns must equal b's rows \(K\)$"),
    ((2, 0), (0, 4), r"^gemm: K = 0 is out of range; allowed 1\.\.65535$"),
    ((2, 65536), (65536, 4), r"^gemm: K = 65536 is out of range; allowed 1\.\.65535$"),
])
def test_prepare_rejects_bad_shapes(a_shape, b_shape, message):
    p = Gemm.bind()
    a, b = np.zeros(a_shape, np.int8), np.zeros(b_shape, np.int8)
    with pytest.raises(StimulusError, match=message):
        Gemm.prepare(p, {"a": a, "b": b}, {})


def test_prepare_rejects_bad_dtype_and_scalars():
    p = Gemm.bind()
    a, b = np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8)
    with pytest.raises(StimulusError, match=r"^gemm: input 'b' has dtype int32; expected int8"):
        Gemm.prepare(p, {"a": a, "b": b.astype(np.int32)}, {})
    with pytest.raises(StimulusError, match=r"^gemm: runtime scalars are: none; unexpected alpha$"):
        Gemm.prepare(p, {"a": a, "b": b}, {"alpha": 2})


def test_cases_edges_first():
    p = Gemm.bind(rows=3, cols=5)
    cases = Gemm.cases(p, np.random.default_rng(0), 6)
    assert len(cases) == 6
    ks = [inputs["a"].shape[1] for inputs, _ in cases]
    assert ks[:2] == [1, 1000]
    assert (cases[2][0]["a"] == -128).all() and (cases[2][0]["b"] == -128).all()
    assert (cases[3][0]["a"] == 127).all() and (cases[3][0]["b"] == -128).all()
    for inputs, scalars in cases:   # every case is a valid call
        Gemm.prepare(p, dict(inputs), dict(scalars))
    assert len(Gemm.cases(p, np.random.default_rng(0), 1)) == 1


@pytest.mark.parametrize("params", [
    {}, pytest.param({"rows": 1, "cols": 1}, marks=pytest.mark.slow),
    pytest.param({"rows": 3, "cols": 5}, marks=pytest.mark.slow)])
def test_verify_verilator(params):
    result = verify("gemm", params, count=8, seed=1)
    print(result.summary())
    assert result.passed, result.summary() + "\n" + "\n".join(
        [str(x) for x in result.mismatches] + result.errors)
    # One beat of a and b per cycle: K + rows cycles (plus start-up) for rows*cols*K MACs.
    p = Gemm.bind(**params)
    assert result.cycles_per_unit < 1.05 / (p.rows * p.cols)
