"""Tests of the ``fir`` kernel: golden model, call checking, RTL in Verilator."""

import numpy as np
import pytest

from hetflow.hw.errors import StimulusError
from hetflow.hw.kernels.fir import Fir


def reference(x, h):
    """Plain-Python FIR, wrapping every product and partial sum to int32."""
    def wrap(v):
        return (v + 2**31) % 2**32 - 2**31

    out = []
    for n in range(len(x)):
        acc = 0
        for k, hk in enumerate(h):
            if n - k >= 0:
                acc = wrap(acc + wrap(int(hk) * int(x[n - k])))
        out.append(acc)
    return np.array(out, dtype=np.int32)


def golden(taps, x, h):
    y = Fir.golden(Fir.bind(taps=taps), {"x": x}, {"h": h})["y"]
    assert y.dtype == np.int32 and y.shape == x.shape
    return y


def i16(*values):
    return np.array(values, dtype=np.int16)


# ---- golden model --------------------------------------------------------------------

@pytest.mark.parametrize("taps", [1, 3, 8, 33, 64])
def test_golden_matches_convolve_without_overflow(taps):
    rng = np.random.default_rng(taps)
    x = rng.integers(-1000, 1000, size=200, dtype=np.int16)
    h = rng.integers(-1000, 1000, size=taps, dtype=np.int16)
    expected = np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)]
    np.testing.assert_array_equal(golden(taps, x, h), expected)


@pytest.mark.parametrize("taps", [1, 2, 8, 33, 64])
def test_golden_matches_python_loop_at_extremes(taps):
    rng = np.random.default_rng(100 + taps)
    x = rng.choice(i16(-32768, 32767, -1, 0, 1), size=3 * taps + 5).astype(np.int16)
    h = rng.choice(i16(-32768, 32767, -1, 1), size=taps).astype(np.int16)
    np.testing.assert_array_equal(golden(taps, x, h), reference(x, h))


def test_golden_wraps_64_taps_of_min_times_min():
    x = np.full(70, -32768, dtype=np.int16)
    h = np.full(64, -32768, dtype=np.int16)
    y = golden(64, x, h)
    # After n+1 products of 2**30 the sum is (n+1)*2**30 modulo 2**32.
    assert y[0] == 2**30
    assert y[1] == -2**31
    assert y[2] == -2**30
    assert y[3] == 0
    assert y[63] == 0 and y[69] == 0   # 64 * 2**30 = 2**36 wraps to 0
    np.testing.assert_array_equal(y, reference(x, h))


def test_golden_wraps_max_times_max():
    x = np.full(40, 32767, dtype=np.int16)
    h = np.full(33, 32767, dtype=np.int16)
    y = golden(33, x, h)
    assert y[35] == 33 * 32767**2 - 8 * 2**32   # full history, wrapped
    np.testing.assert_array_equal(y, reference(x, h))


def test_golden_impulse_response_is_h():
    h = i16(5, -7, 32767, -32768, 1, 0, 2, -3)
    x = np.zeros(12, dtype=np.int16)
    x[0] = 1
    np.testing.assert_array_equal(golden(8, x, h)[:8], h.astype(np.int32))
    np.testing.assert_array_equal(golden(8, x, h)[8:], 0)


def test_golden_h0_weighs_newest_sample():
    # y[n] = 2*x[n] + 3*x[n-1]
    np.testing.assert_array_equal(golden(2, i16(1, 10, 100), i16(2, 3)), [2, 23, 230])


def test_golden_taps_one_accepts_shape_one_and_scalar():
    x = i16(1, -2, 3)
    np.testing.assert_array_equal(golden(1, x, i16(-4)), [-4, 8, -12])
    np.testing.assert_array_equal(golden(1, x, np.int16(-4)), [-4, 8, -12])


# ---- prepare -------------------------------------------------------------------------

def prepare(taps, x, h):
    return Fir.prepare(Fir.bind(taps=taps), {"x": x}, {"h": h})


def test_prepare_builds_job():
    x = i16(1, 2, 3, 4, 5)
    h = np.arange(8, dtype=np.int16) - 4
    job = prepare(8, x, h)
    assert job.registers == {"len": 5, "h": [-4, -3, -2, -1, 0, 1, 2, 3]}
    np.testing.assert_array_equal(job.streams["x"], x)
    assert job.expect == {"y": 5}


def test_prepare_taps_one():
    # h stays an array of taps values even when taps is 1.
    job = prepare(1, i16(1, 2), i16(-3))
    assert job.registers == {"len": 2, "h": [-3]}
    with pytest.raises(StimulusError, match=r"^fir: scalar 'h' must have shape \(1,\), not \(\)$"):
        prepare(1, i16(1, 2), np.int16(-3))


def test_prepare_rejects_wrong_sample_dtype():
    with pytest.raises(StimulusError, match=r"^fir: input 'x' has dtype int32; expected int16 "
                                            r"\(convert with \.astype\(np\.int16\)\)$"):
        prepare(8, np.zeros(4, dtype=np.int32), np.zeros(8, dtype=np.int16))


def test_prepare_rejects_two_dimensional_samples():
    with pytest.raises(StimulusError, match=r"^fir: input 'x' must be 1-D, not shape \(2, 3\)$"):
        prepare(8, np.zeros((2, 3), dtype=np.int16), np.zeros(8, dtype=np.int16))


def test_prepare_rejects_wrong_coefficient_count():
    with pytest.raises(StimulusError, match=r"^fir: scalar 'h' must have shape \(8,\), not \(7,\)$"):
        prepare(8, i16(1), np.zeros(7, dtype=np.int16))


def test_prepare_rejects_coefficient_out_of_range():
    h = np.zeros(8, dtype=np.int32)
    h[3] = 32768
    with pytest.raises(StimulusError,
                       match=r"^fir: scalar 'h' = 32768 does not fit int16 \(-32768\.\.32767\)$"):
        prepare(8, i16(1), h)


def test_prepare_rejects_float_coefficients():
    with pytest.raises(StimulusError, match=r"^fir: scalar 'h' must be an integer \(int16\), "
                                            r"not float64$"):
        prepare(8, i16(1), np.zeros(8))


def test_prepare_rejects_missing_coefficients():
    with pytest.raises(StimulusError, match=r"^fir: runtime scalars are: h; missing h$"):
        Fir.prepare(Fir.bind(), {"x": i16(1)}, {})


# ---- cases ---------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 5, 20])
def test_cases_are_valid_and_bounded(count):
    p = Fir.bind(taps=33)
    cases = Fir.cases(p, np.random.default_rng(0), count)
    assert len(cases) == count
    assert len(cases[0][0]["x"]) == 1
    for inputs, scalars in cases:
        Fir.prepare(p, dict(inputs), dict(scalars))


# ---- RTL in Verilator ----------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, pytest.param({"taps": 1}, marks=pytest.mark.slow),
                                    pytest.param({"taps": 33}, marks=pytest.mark.slow)])
def test_verify_verilator(params):
    from hetflow.sim.verify import verify
    result = verify("fir", params, count=8, seed=5)
    print(result.summary())
    assert result.passed, result.summary() + "\n" + "\n".join(
        [str(m) for m in result.mismatches] + result.errors)
    assert result.cycles_per_unit < 1.05
