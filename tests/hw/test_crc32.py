"""Tests of the crc32 kernel: golden model, stimulus checks, Verilator runs."""

import zlib

import numpy as np
import pytest

from hetflow.hw.errors import StimulusError
from hetflow.hw.kernels.crc32 import POLY, Crc32


def bitwise_crc32(data):
    """CRC-32 straight from its definition, one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (POLY if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def golden(data, lanes=4):
    p = Crc32.bind(lanes=lanes)
    out = Crc32.golden(p, {"data": np.asarray(data, dtype=np.uint8)}, {})["crc"]
    assert out.dtype == np.uint32 and out.shape == (1,)
    return int(out[0])


@pytest.mark.parametrize("data, expected", [
    (b"", 0x00000000),
    (b"123456789", 0xCBF43926),          # the catalogued check value of CRC-32
    (b"a", 0xE8B7BE43),
    (b"The quick brown fox jumps over the lazy dog", 0x414FA339),
    (b"\x00" * 32, 0x190A55AD),
    (b"\xff" * 32, 0xFF6CAB0B),
])
def test_golden_known_vectors(data, expected):
    assert bitwise_crc32(data) == expected
    assert golden(np.frombuffer(data, dtype=np.uint8)) == expected


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 9, 15, 17, 63, 1000])
def test_golden_matches_bitwise_reference(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    assert golden(data) == bitwise_crc32(data) == zlib.crc32(data.tobytes())


def test_golden_does_not_depend_on_lanes():
    data = np.arange(37, dtype=np.uint8)
    assert {golden(data, lanes) for lanes in (1, 2, 4, 8)} == {zlib.crc32(bytes(range(37)))}


def test_prepare_job():
    p = Crc32.bind(lanes=4)
    data = np.arange(10, dtype=np.uint8)
    job = Crc32.prepare(p, {"data": data}, {})
    assert job.registers == {"len": 10}
    assert job.expect == {"crc": 1}
    assert np.array_equal(job.streams["data"], data)
    assert Crc32.work(p, job) == (10, "byte")
    empty = Crc32.prepare(p, {"data": np.zeros(0, dtype=np.uint8)}, {})
    assert empty.registers == {"len": 0} and empty.expect == {"crc": 1}


def test_prepare_rejects_2d():
    p = Crc32.bind()
    with pytest.raises(StimulusError, match=r"^crc32: input 'data' has shape \(2, 3\); "
                                            r"expected a 1-D array$"):
        Crc32.prepare(p, {"data": np.zeros((2, 3), dtype=np.uint8)}, {})


def test_prepare_rejects_wrong_dtype():
    p = Crc32.bind()
    with pytest.raises(StimulusError, match=r"^crc32: input 'data' has dtype int8; expected "
                                            r"uint8 \(convert with \.astype\(np\.uint8\)\)$"):
        Crc32.prepare(p, {"data": np.zeros(4, dtype=np.int8)}, {})


def test_prepare_rejects_bytes_object():
    p = Crc32.bind()
    with pytest.raises(StimulusError, match=r"^crc32: input 'data' must be a numpy array "
                                            r"of uint8, not bytes$"):
        Crc32.prepare(p, {"data": b"123456789"}, {})


def test_prepare_rejects_scalars():
    p = Crc32.bind()
    with pytest.raises(StimulusError, match=r"^crc32: runtime scalars are: none; unexpected seed$"):
        Crc32.prepare(p, {"data": np.zeros(4, dtype=np.uint8)}, {"seed": 0})


@pytest.mark.parametrize("lanes", [1, 4])
def test_cases_cover_edges(lanes):
    p = Crc32.bind(lanes=lanes)
    cases = Crc32.cases(p, np.random.default_rng(0), 12)
    assert len(cases) == 12
    sizes = [len(inputs["data"]) for inputs, _ in cases]
    assert sizes[:3] == [0, 1000, 9]
    assert all(inputs["data"].dtype == np.uint8 for inputs, _ in cases)
    assert len(Crc32.cases(p, np.random.default_rng(0), 2)) == 2


@pytest.mark.parametrize("lanes", [pytest.param(1, marks=pytest.mark.slow), 4,
                                   pytest.param(8, marks=pytest.mark.slow)])
def test_verify_verilator(lanes):
    from hetflow.sim.verify import verify
    result = verify("crc32", {"lanes": lanes}, count=8, seed=1)
    print(result.summary())
    assert result.passed, result.summary() + "\n" + "\n".join(
        result.errors + [str(m) for m in result.mismatches])
    # One beat per cycle plus a few cycles per job.
    assert result.cycles_per_unit < 1 / lanes + 0.01
