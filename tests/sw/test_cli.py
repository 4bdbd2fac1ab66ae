"""The hetflow command line, run as a user runs it (a subprocess)."""

import json
import os
import subprocess
import sys

import pytest

from ..conftest import FIXTURES, ROOT, one_line_error


def hetflow(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True, cwd=ROOT,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_kernels_json():
    proc = hetflow("kernels", "--json")
    assert proc.returncode == 0, proc.stderr
    kernels = json.loads(proc.stdout)
    names = {k["name"] for k in kernels}
    assert {"saxpy", "dot", "fir", "gemm", "conv2d", "crc32"} <= names
    fir = next(k for k in kernels if k["name"] == "fir")
    assert fir["params"][0]["name"] == "taps" and fir["params"][0]["max"] == 64


def test_kernels_table():
    proc = hetflow("kernels")
    assert proc.returncode == 0, proc.stderr
    for name in ("saxpy", "dot", "fir", "gemm", "conv2d", "crc32"):
        assert name in proc.stdout


def test_verify_pass_line():
    proc = hetflow("verify", "saxpy", "--count", "3", "--seed", "9", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("PASS saxpy lanes=1: 3/3 cases passed") and "seed 9" in last


def test_verify_fail_reports_mismatch_and_waveform():
    proc = hetflow("verify", "faulty_kernels:WrongSaxpy", "--count", "4", "--seed", "4", "-q",
                   env={"PYTHONPATH": str(FIXTURES)})
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("FAIL wrong_saxpy") and "seed 4" in lines[-1]
    assert any(l.strip().startswith("mismatch: case") and "expected" in l and "got" in l
               for l in lines)
    waves = [l.split("waveform: ")[1] for l in lines if "waveform: " in l]
    assert waves and os.path.exists(waves[0])


@pytest.mark.parametrize("args,message", [
    (["verify", "nope"], "unknown kernel 'nope'; known kernels: "),
    (["verify", "fir", "--param", "taps=0"],
     "fir: parameter 'taps' = 0 is out of range; allowed 1..64"),
    (["verify", "fir", "--param", "tapz=3"], "fir: unknown parameter 'tapz'; parameters are: taps"),
    (["verify", "fir", "--param", "taps"], "--param 'taps' is not of the form NAME=VALUE"),
    (["verify", "saxpy", "--count", "0"], "--count 0 is out of range; allowed 1 or more"),
    (["verify", "saxpy", "dot", "--param", "lanes=2"], "--param needs exactly one kernel"),
    (["verify", "saxpy", "--sim", "vcs"], "argument --sim: invalid choice: 'vcs'"),
    (["export", "saxpy", "--format", "vhdl"],
     "unknown format 'vhdl'; choose one of: regmap-json, c-header, verilog"),
    (["export", "saxpy", "-f", "c-header", "-o", "/nonexistent/dir/x.h"],
     "cannot write /nonexistent/dir/x.h: directory /nonexistent/dir does not exist"),
])
def test_bad_input_is_one_line(args, message):
    one_line_error(hetflow(*args), message)


def test_verify_missing_simulator():
    proc = hetflow("verify", "saxpy", "--sim", "icarus", env={"PATH": "/nonexistent"})
    one_line_error(proc, "simulator 'icarus' is not installed")


@pytest.mark.parametrize("fmt,needle", [
    ("regmap-json", '"kernel": "fir"'),
    ("c-header", "#define HETFLOW_FIR_H_COUNT 4u"),
    ("verilog", "module hetflow_fir("),
])
def test_export_formats(tmp_path, fmt, needle):
    out = tmp_path / f"fir.{fmt}"
    proc = hetflow("export", "fir", "--format", fmt, "--param", "taps=4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert needle in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]   # no temporary files left


def test_export_regmap_is_consistent_with_hardware():
    proc = hetflow("export", "gemm", "--format", "regmap-json")
    regmap = json.loads(proc.stdout)
    names = [r["name"] for r in regmap["registers"]]
    assert names[:6] == ["ctrl", "status", "len", "cycles_lo", "cycles_hi", "id"]
    assert regmap["size"] >= 64


def test_doctor_lists_tools():
    proc = hetflow("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    tools = {t["name"]: t for t in json.loads(proc.stdout)}
    assert tools["verilator"]["found"] and tools["cocotb"]["found"]
    for name in ("icarus", "nextpnr-ice40", "nextpnr-ecp5", "openFPGALoader", "pynq"):
        assert name in tools and tools[name]["needed_for"]
    table = hetflow("doctor")
    assert table.returncode == 0 and "verilator" in table.stdout


def test_no_command_prints_help():
    proc = hetflow()
    assert proc.returncode == 2 and "verify" in proc.stdout


def test_run_script_on_cpu():
    proc = hetflow("run", "examples/saxpy_host.py", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("cpu: saxpy of 4096 elements ok")


@pytest.mark.parametrize("args,message", [
    (["run", "no_such_script.py"], "script no_such_script.py does not exist"),
    (["run", "examples/saxpy_host.py", "--device", "gpu"],
     "unknown device 'gpu'; choose one of: cpu, sim, pynq, serial:PORT"),
    (["run", "examples/saxpy_host.py", "--device", "cpu", "--board", "build/x"],
     "--board names the build on a serial board; use it with --device serial:PORT, not cpu"),
    (["run", "examples/saxpy_host.py", "--device", "serial:/dev/null", "--board",
      "/nonexistent/build"], "build directory /nonexistent/build does not exist"),
])
def test_run_bad_input(args, message):
    one_line_error(hetflow(*args), message)


def test_kernels_by_module_path():
    proc = hetflow("kernels", "clamp_kernels:Clamp", "--json",
                   env={"PYTHONPATH": str(ROOT / "examples" / "user_kernel" / "src")})
    # The example package is my_kernels; a wrong module is one clear line.
    one_line_error(proc, "kernel 'clamp_kernels:Clamp': cannot import module 'clamp_kernels'")
    proc = hetflow("kernels", "my_kernels:Clamp", "--json",
                   env={"PYTHONPATH": str(ROOT / "examples" / "user_kernel" / "src")})
    assert proc.returncode == 0, proc.stderr
    assert [k["name"] for k in json.loads(proc.stdout)] == ["clamp"]


@pytest.mark.parametrize("args", [["kernels"], ["kernels", "--json"], ["boards"]])
def test_reader_gone_early_exits_quietly(args):
    # ``hetflow kernels | head -1`` with head gone before hetflow writes: the reading
    # end of a real pipe is closed first, so every write of the command gets EPIPE.
    proc = subprocess.Popen([sys.executable, "-m", "hetflow.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1, err
    assert err == "", err


def test_reader_reading_part_of_the_output():
    # A reader that takes one line, then closes (head -1), while output is still coming.
    code = ("import sys; from hetflow.cli import main; "
            "sys.argv[1:] = ['kernels', '--json']; [main(sys.argv[1:]) for _ in range(200)]")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "[\n"
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_broken_pipe_elsewhere_is_not_taken_for_stdout(monkeypatch):
    from hetflow.cli import _stdout_reader_gone

    r, w = os.pipe()
    with os.fdopen(w, "w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        assert not _stdout_reader_gone()     # reader still there: re-raise, not exit quietly
        os.close(r)
        assert _stdout_reader_gone()
