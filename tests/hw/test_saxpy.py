import pytest

from hetflow.sim.verify import verify

from ..conftest import have_icarus


@pytest.mark.parametrize("lanes", [pytest.param(1, marks=pytest.mark.slow), 4])
def test_verify_verilator(lanes):
    result = verify("saxpy", {"lanes": lanes}, count=8, seed=2)
    print(result.summary())
    assert result.passed, result.summary()
    assert result.cycles_per_unit == pytest.approx(1 / lanes, rel=0.05)


@pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not installed")
@pytest.mark.parametrize("lanes", [1, 2])
def test_verify_icarus(lanes):
    result = verify("saxpy", {"lanes": lanes}, sim="icarus", count=6, seed=2)
    assert result.passed, result.summary()
