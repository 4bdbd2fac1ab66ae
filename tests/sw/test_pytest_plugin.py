"""The pytest plugin: ``hetflow_verify`` in a user's test, its options, its failure report."""

import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from hetflow.cache import cache_dir

from ..conftest import FIXTURES, have_icarus

pytest_plugins = ["pytester"]

# pytester points HOME at a fresh directory; keep the real build cache (computed here,
# before any pytester exists) so each inner run does not recompile its simulator.
CACHE = cache_dir()


@pytest.fixture(autouse=True)
def shared_build_cache(monkeypatch):
    monkeypatch.setenv("HETFLOW_CACHE", str(CACHE))


def test_registered_as_pytest11_entry_point():
    eps = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert eps.get("hetflow") == "hetflow.pytest_plugin", \
        "reinstall hetflow (pip install -e .) to register its pytest plugin"


def test_one_line_test_passes_and_options_apply(pytester):
    pytester.makepyfile(test_user="""
        def test_saxpy(hetflow_verify):
            result = hetflow_verify("saxpy", count=2)
            assert result.passed and result.cases == 2
            assert (result.seed, result.simulator) == (9, "verilator")
            assert result.waves is not None and result.waves.is_file()   # --hetflow-waves

        def test_arguments_win_over_options(hetflow_verify):
            assert hetflow_verify("saxpy", count=1, seed=3, waves=False).seed == 3
    """)
    result = pytester.runpytest("--hetflow-seed", "9", "--hetflow-waves", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_failing_kernel_reports_mismatch_and_waveform(pytester):
    pytester.syspathinsert(FIXTURES)
    pytester.makepyfile(test_user="""
        def test_wrong(hetflow_verify):
            hetflow_verify("faulty_kernels:WrongSaxpy", count=4)
    """)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--hetflow-seed", "4", f"--junitxml={junit}", "-rA",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "Traceback" not in out and "Running command" not in out
    result.stdout.fnmatch_lines([
        "*FAIL wrong_saxpy lanes=1: *cases passed, * mismatching elements, seed 4, verilator*",
        "*mismatch: case * expected * got *",
        "*waveform: *wrong_saxpy-seed4-case*.vcd",
        "*reproduce: pytest --hetflow-seed 4 --hetflow-sim verilator",
        "*- hetflow waveform -*",
    ])
    waves = [line.split("waveform: ", 1)[1].strip() for line in out.splitlines()
             if "waveform: " in line]
    assert waves and Path(waves[0]).is_file()
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    assert props["hetflow_waves"] == waves[0]


def test_user_errors_fail_the_test_in_one_line(pytester):
    pytester.makepyfile(test_user="""
        def test_unknown(hetflow_verify):
            hetflow_verify("nope")

        def test_bad_param(hetflow_verify):
            hetflow_verify("fir", params={"taps": 0})
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*hetflow_verify('nope'): unknown kernel 'nope'; known kernels: *",
        "*hetflow_verify('fir'): fir: parameter 'taps' = 0 is out of range; allowed 1..64",
    ])
    assert "Traceback" not in result.stdout.str()
    assert "During handling of the above exception" not in result.stdout.str()
    # Once: not the HetflowError first and then the failure again (the summary line is cut).
    assert result.stdout.str().count("is out of range; allowed 1..64") == 1


@pytest.mark.parametrize("args,message", [
    (["--hetflow-sim", "vcs"], "argument --hetflow-sim: invalid choice: 'vcs'"),
    (["--hetflow-seed", "-1"], "argument --hetflow-seed: -1 is negative; allowed 0 or more"),
    (["--hetflow-count", "x"], "argument --hetflow-count: 'x' is not an integer"),
])
def test_bad_options_are_rejected(pytester, args, message):
    pytester.makepyfile(test_user="def test_x():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str(), result.stderr.str()


@pytest.mark.skipif(not have_icarus(), reason="Icarus Verilog (iverilog, vvp) not installed")
def test_icarus_option(pytester):
    pytester.makepyfile(test_user="""
        def test_saxpy(hetflow_verify):
            assert hetflow_verify("saxpy", count=2).simulator == "icarus"
    """)
    pytester.runpytest("--hetflow-sim", "icarus", "-p", "no:cacheprovider") \
        .assert_outcomes(passed=1)
