"""The kernel contract, proven on built-in kernels and failing on broken ones (real SymbiYosys)."""

import json
import os
import subprocess
import sys

import pytest
from amaranth.hdl import Fragment

from hetflow.formal.kernel import KernelHarness, small_jobs
from hetflow.formal.proof import prove_kernel
from hetflow.hw import get_kernel

from ..conftest import ROOT

FIXTURES = ROOT / "tests" / "sim" / "fixtures"
HARNESS = ROOT / "sw" / "formal" / "kernel.py"


def line_of(text):
    """The line of the Assert whose message holds ``text`` (where the statement starts)."""
    lines = HARNESS.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if text in line)
    while "Assert(" not in lines[i]:
        i -= 1
    return i + 1


@pytest.fixture
def faulty(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    yield
    sys.modules.pop("faulty_kernels", None)


def test_small_jobs_come_from_the_description():
    saxpy = get_kernel("saxpy")
    jobs = small_jobs(saxpy, saxpy.bind())
    assert [j.label for j in jobs] == ["len=0", "len=1", "len=2"]
    assert [j.in_beats for j in jobs] == [{"x": n, "y": n} for n in (0, 1, 2)]
    # len and the scalar a are written before the start; the bound is len/lanes + beats + 8.
    assert [len(j.writes) for j in jobs] == [2, 2, 2]
    assert [j.bound for j in jobs] == [8, 10, 12]
    conv = get_kernel("conv2d")
    smallest, = small_jobs(conv, conv.bind())
    assert smallest.label == "len=9, width=3, height=3" and smallest.out_beats == {"out": 1}


def test_the_default_depth_covers_the_longest_job():
    harness = KernelHarness(get_kernel("fir"))
    longest = max(len(j.writes) + j.bound for j in harness.jobs)
    assert harness.depth == longest + 4
    Fragment.get(harness, None)          # and it elaborates, without a solver


def test_saxpy_keeps_the_contract():
    proof = prove_kernel("saxpy")
    assert proof.passed, proof.summary()
    assert proof.method == "bounded, depth 18"
    covers = {c.name: c.step for c in proof.cover.covers}
    assert set(covers) == {"a job finishes", "a job with stalls finishes",
                           "the largest job finishes", "z: an output beat stalls"}
    assert all(step is not None for step in covers.values())
    assert proof.summary().startswith("PASS saxpy lanes=1: bounded, depth 18 (")


@pytest.mark.parametrize("kernel,prop", [
    ("DropsValidSaxpy", "z: valid held until ready"),
    ("EagerSaxpy", "x: no input beat taken while idle"),
    ("NeverFinishingSaxpy", "an eager job finishes within its cycle bound"),
])
def test_a_broken_kernel_fails_with_the_property_named(faulty, kept, kernel, prop):
    proof = prove_kernel(f"faulty_kernels:{kernel}")
    kept(proof)
    assert not proof.passed
    failed = {c.name: c for c in proof.check.failed}
    assert prop in failed, proof.summary()
    needle = prop.split(": ", 1)[1] if ": " in prop else prop     # after a port's name
    assert failed[prop].src == f"{HARNESS}:{line_of(needle)}"
    assert failed[prop].trace is not None and failed[prop].trace.is_file()
    summary = proof.summary()
    assert summary.startswith("FAIL ") and prop in summary and "trace " in summary
    assert "\n" not in summary


def test_a_kernel_that_never_finishes_reaches_no_cover(faulty, kept):
    proof = prove_kernel("faulty_kernels:HungSaxpy")
    kept(proof)
    assert not proof.cover.passed
    assert "a job finishes" in {c.name for c in proof.cover.unreached}


def cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, env={**os.environ, **env})


def test_cli_prints_pass_and_json():
    proc = cli("prove", "crc32", "--param", "lanes=1", "--json", "-q")
    assert proc.returncode == 0, proc.stderr
    result, = json.loads(proc.stdout)
    assert result["passed"] and result["params"] == {"lanes": 1}
    assert result["method"].startswith("bounded, depth ") and result["failed"] == []


def test_cli_failure_exits_1_with_the_property(faulty):
    proc = cli("prove", "faulty_kernels:EagerSaxpy", "-q", PYTHONPATH=str(FIXTURES))
    assert proc.returncode == 1
    line, = proc.stdout.strip().splitlines()
    assert line.startswith("FAIL eager_saxpy lanes=1: bounded, depth 18")
    assert "x: no input beat taken while idle" in line


@pytest.mark.parametrize("args,message", [
    (("saxpy", "--depth", "0"), "hetflow prove: error: --depth 0 is out of range; allowed 1 "
                                "or more"),
    (("saxpy", "--timeout", "0"), "hetflow prove: error: --timeout 0.0 is out of range; "
                                  "allowed above 0"),
    (("saxpy", "dot", "--param", "lanes=2"), "hetflow prove: error: --param needs exactly one "
                                             "kernel"),
    (("nope",), "hetflow prove: error: unknown kernel 'nope'; known kernels: conv2d, crc32, "
                "dot, fir, gemm, saxpy"),
])
def test_cli_bad_input_is_one_line(args, message):
    proc = cli("prove", *args)
    assert proc.returncode == 2
    assert proc.stderr.strip() == message
