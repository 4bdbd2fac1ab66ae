"""Tests of the conv2d kernel: golden model, host-side checks, simulation."""

import numpy as np
import pytest

from hetflow.hw.errors import StimulusError
from hetflow.hw.kernels.conv2d import Conv2d
from hetflow.sim.verify import verify


def reference(img, w):
    """3x3 'valid' cross-correlation with plain Python loops and ints."""
    h, wd = img.shape
    return np.array([[sum(int(img[i + r, j + c]) * int(w[r, c])
                          for r in range(3) for c in range(3))
                      for j in range(wd - 2)] for i in range(h - 2)], dtype=np.int64)


def golden(img, w, **params):
    p = Conv2d.bind(**params)
    return Conv2d.golden(p, {"pixels": img}, {"w": w})["out"]


@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("shape", [(3, 3), (4, 7), (9, 5), (3, 64)])
def test_golden_matches_loops(signed, shape):
    rng = np.random.default_rng(sum(shape) + signed)
    dtype = np.int8 if signed else np.uint8
    info = np.iinfo(dtype)
    img = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    w = rng.integers(-128, 127, size=(3, 3), endpoint=True).astype(np.int8)
    out = golden(img, w, signed=signed)
    assert out.dtype == np.int32
    assert out.shape == (shape[0] - 2, shape[1] - 2)
    np.testing.assert_array_equal(out, reference(img, w))


def test_golden_is_not_flipped():
    # A single 1 at the top-left of the kernel picks the top-left pixel of each window.
    img = np.arange(20, dtype=np.uint8).reshape(4, 5)
    w = np.zeros((3, 3), dtype=np.int8)
    w[0, 0] = 1
    np.testing.assert_array_equal(golden(img, w), img[:2, :3])


@pytest.mark.parametrize("signed, pixel, weight, expected", [
    (0, 255, 127, 9 * 255 * 127),
    (0, 255, -128, 9 * 255 * -128),
    (1, -128, -128, 9 * 128 * 128),
    (1, -128, 127, 9 * -128 * 127),
    (1, 127, -128, 9 * 127 * -128),
])
def test_golden_extremes_do_not_wrap(signed, pixel, weight, expected):
    dtype = np.int8 if signed else np.uint8
    img = np.full((3, 4), pixel, dtype=dtype)
    w = np.full((3, 3), weight, dtype=np.int8)
    out = golden(img, w, signed=signed)
    np.testing.assert_array_equal(out, np.full((1, 2), expected, dtype=np.int32))


def prepare(img, w=None, **params):
    p = Conv2d.bind(**params)
    w = np.arange(9, dtype=np.int8).reshape(3, 3) if w is None else w
    return Conv2d.prepare(p, {"pixels": img}, {"w": w})


def test_prepare_job_layout():
    img = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6)
    w = np.array([[1, 2, 3], [4, 5, 6], [7, 8, -9]], dtype=np.int8)
    job = prepare(img, w)
    assert job.registers == {"len": 24, "w": [1, 2, 3, 4, 5, 6, 7, 8, -9],
                             "width": 6, "height": 4}
    np.testing.assert_array_equal(job.streams["pixels"], img.reshape(-1))
    assert job.expect == {"out": 8}
    p = Conv2d.bind()
    got = Conv2d.collect(p, job, {"out": np.arange(8, dtype=np.int32)})["out"]
    np.testing.assert_array_equal(got, np.arange(8).reshape(2, 4))
    assert Conv2d.work(p, job) == (24, "pixel")


def test_prepare_accepts_width_at_max():
    job = prepare(np.zeros((3, 16), dtype=np.int8), max_width=16, signed=1)
    assert job.registers["width"] == 16


@pytest.mark.parametrize("img, params, message", [
    (np.zeros(9, dtype=np.uint8), {},
     r"^conv2d: image must be 2-D \(height, width\), not 1-D with shape \(9,\)$"),
    (np.zeros((3, 3, 1), dtype=np.uint8), {},
     r"^conv2d: image must be 2-D \(height, width\), not 3-D with shape \(3, 3, 1\)$"),
    (np.zeros((5, 2), dtype=np.uint8), {},
     r"^conv2d: image width 2 is out of range; allowed 3\.\.64$"),
    (np.zeros((5, 17), dtype=np.int8), {"max_width": 16, "signed": 1},
     r"^conv2d: image width 17 is out of range; allowed 3\.\.16$"),
    (np.zeros((2, 8), dtype=np.uint8), {},
     r"^conv2d: image height 2 is out of range; allowed 3\.\.65535$"),
    (np.zeros((3, 3), dtype=np.int8), {},
     r"^conv2d: input 'pixels' has dtype int8; expected uint8"),
])
def test_prepare_rejects_bad_images(img, params, message):
    with pytest.raises(StimulusError, match=message):
        prepare(img, **params)


@pytest.mark.parametrize("w, message", [
    (np.zeros(9, dtype=np.int8), r"^conv2d: scalar 'w' must have shape \(3, 3\), not \(9,\)$"),
    (np.full((3, 3), 128), r"^conv2d: scalar 'w' = 128 does not fit int8 \(-128\.\.127\)$"),
])
def test_prepare_rejects_bad_weights(w, message):
    with pytest.raises(StimulusError, match=message):
        prepare(np.zeros((3, 3), dtype=np.uint8), w)


@pytest.mark.parametrize("params", [{}, {"max_width": 16, "signed": 1}, {"max_width": 1024}])
def test_cases_cover_edges(params):
    p = Conv2d.bind(**params)
    cases = Conv2d.cases(p, np.random.default_rng(0), 10)
    assert len(cases) == 10
    shapes = [inputs["pixels"].shape for inputs, _ in cases]
    assert shapes[0] == (3, 3)
    assert shapes[1][1] == p.max_width and np.prod(shapes[1]) >= 1000
    for inputs, scalars in cases:
        Conv2d.prepare(p, inputs, scalars)   # every case is a valid call
    assert len(Conv2d.cases(p, np.random.default_rng(0), 1)) == 1


@pytest.mark.parametrize("params", [
    {}, pytest.param({"max_width": 16, "signed": 1}, marks=pytest.mark.slow)])
def test_verify_verilator(params):
    result = verify("conv2d", params, count=8, seed=2)
    print(result.summary())
    assert result.passed, result.summary() + "\n" + "\n".join(
        result.errors + [str(m) for m in result.mismatches])
    assert result.cycles_per_unit < 1.05
