"""``hetflow bench sim`` / ``hetflow bench host`` and what they measure (real Verilator, cocotb).

No timing is asserted: only that the figures are there, parse, and that every
output was checked against the golden model.
"""

import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import hetflow
from hetflow.hw.errors import HetflowError
from hetflow.hw.kernels.fir import Fir
from hetflow.hw.kernels.saxpy import Saxpy
from hetflow.hw.shell import Shell

from ..conftest import ROOT, needs_verilator, one_line_error



def hetflow_cli(*args):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True,
                          cwd=ROOT, text=True, timeout=900, env=dict(os.environ))


def figures(stdout):
    """``name=value`` lines of the output as floats."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^([a-z0-9_]+)=([0-9.eE+-]+)$", stdout, re.MULTILINE)}


def table_rows(stdout, first_cells):
    """Cells of the table rows whose first cell starts with one of ``first_cells``."""
    rows = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        if len(cells) > 2 and any(cells[0].startswith(f) for f in first_cells):
            rows.append(cells)
    return rows


# ---- hetflow bench sim -------------------------------------------------------------------

@needs_verilator
def test_bench_sim_prints_table_and_ratios():
    proc = hetflow_cli("bench", "sim", "--elements", "20000", "--cocotb-elements", "2000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout, ("(a)", "(b)", "(c)"))
    assert [r[0] for r in rows] == ["(a) virtual board", "(b) raw Verilator", "(c) cocotb"]
    assert all(r[-1] == "ok" for r in rows), rows
    assert rows[0][1] == rows[1][1] == "20,000" and rows[2][1] == "2,000"
    got = figures(proc.stdout)
    for name in ("ratio_vs_raw_verilator", "speedup_vs_cocotb", "sim_cycles_per_s",
                 "raw_cycles_per_s", "cocotb_cycles_per_s", "sim_cpu_cycles_per_s",
                 "raw_cpu_cycles_per_s", "cpu_ratio_vs_raw_verilator"):
        assert got[name] > 0, name
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].startswith("ratio_vs_raw_verilator=")
    assert lines[-1].startswith("speedup_vs_cocotb=")
    assert "virtual board: one call of 20,000 elements" in proc.stderr   # progress


@needs_verilator
def test_raw_harness_with_array_registers_matches_golden():
    from hetflow.bench.calls import make_call
    from hetflow.bench.sim import measure_raw
    p = Fir.bind(taps=4)
    inputs, scalars = make_call(Fir, p, 300, seed=2)
    expected = Fir.golden(p, dict(inputs), dict(scalars))
    m = measure_raw(Fir, p, inputs, scalars, expected)
    assert m.mismatches == 0 and m.check == "ok"
    assert m.cycles >= 300 and m.seconds > 0
    # One thread: its CPU time over the timed part is at most that part's wall time.
    assert 0 < m.cpu_seconds <= m.seconds + 1e-3


@needs_verilator
@pytest.mark.parametrize("job, message", [
    (b"nope", "not a job file (no HFBJ magic)"),
    (b"HFBJ" + bytes(10), "truncated"),
])
def test_raw_harness_rejects_bad_job_files(tmp_path, job, message):
    from hetflow.sim.board.harness import build_board
    exe = build_board(Shell(Saxpy), main="bench").executable
    path = tmp_path / "job.bin"
    path.write_bytes(job)
    proc = subprocess.run([str(exe), "4096", str(path), str(tmp_path / "out.bin")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"job file {path}: {message}"
    usage = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_harness_main_is_checked():
    from hetflow.hw.verilog import to_verilog
    from hetflow.sim.board.harness import generate
    kernel = Shell(Saxpy)
    to_verilog(kernel)      # elaborated, as every harness build does (no unused-kernel warning)
    with pytest.raises(HetflowError, match=r"^harness main must be one of protocol, bench, "
                                           r"not 'raw'$"):
        generate(kernel, main="raw")
    bench = generate(kernel, main="bench")
    assert "int main" in bench and "std::chrono" in bench and "OP_RUN" not in bench.split(
        "raw benchmark: one job")[1]


@pytest.mark.parametrize("args, message", [
    (["bench"], "choose a benchmark: 'hetflow bench sim', 'host', 'schedule', 'build', 'prove' "
                "or 'link'"),
    (["bench", "sim", "--elements", "0"], "--elements 0 is out of range; allowed a positive integer"),
    (["bench", "sim", "--cocotb-elements", "-3"],
     "--cocotb-elements -3 is out of range; allowed a positive integer"),
    (["bench", "sim", "--kernel", "gemm"],
     "kernel 'gemm' has no benchmark stimulus; allowed: saxpy, dot, fir, crc32"),
    (["bench", "sim", "--param", "lanes=3"],
     "saxpy: parameter 'lanes' = 3 is out of range; allowed one of 1, 2, 4, 8"),
    (["bench", "sim", "--elements", "2000000"],
     "saxpy of 2000000 elements needs 24010752 bytes of board memory but the sim device has "
     "16777216; use fewer elements"),
    (["bench", "host", "--calls", "0"], "--calls 0 is out of range; allowed a positive integer"),
    (["bench", "host", "--board", "/nonexistent/build"],
     "build directory /nonexistent/build does not exist"),
    (["bench", "link", "--bytes", "0"], "--bytes 0 is out of range; allowed an integer of at "
                                        "least 1"),
    (["bench", "link", "--round-trips", "0"], "--round-trips 0 is out of range; allowed an "
                                              "integer of at least 1"),
    (["bench", "link", "--window", "-1"], "--window -1 is out of range; allowed an integer of "
                                          "at least 0"),
    (["bench", "link", "--board", "ulx3s-85f", "--bytes", "100000"],
     "--bytes 100000 is more than ulx3s-85f's 65536-byte SoC memory; allowed 1 to 65536"),
    (["bench", "link", "--baud", "5000000"],
     "baud rate 5000000 from a 12 MHz clock: divisor 2 is below the minimum of 4 clock cycles "
     "per bit; use a baud rate of at most 3000000 or a faster clock"),
    (["bench", "link", "--board", "ulx3s-85f", "--baud", "5000000"],
     "baud rate 5000000 is out of range; allowed 1 to 3000000 baud (the FT231X's fastest)"),
    (["bench", "link", "--turnaround-ms", "-1"],
     "turnaround -1.0 is out of range; allowed 0 to 255 ms"),
])
def test_bench_bad_input_is_one_line(args, message):
    one_line_error(hetflow_cli(*args), message)


@pytest.mark.parametrize("kwargs, message", [
    ({"elements": 0}, r"^elements must be a positive integer, not 0$"),
    ({"cocotb_elements": 1.5}, r"^cocotb_elements must be a positive integer, not 1.5$"),
    ({"repeats": 0}, r"^repeats must be a positive integer, not 0$"),
    ({"kernel": "conv2d"}, r"^kernel 'conv2d' has no benchmark stimulus; allowed: saxpy, dot, "
                           r"fir, crc32$"),
])
def test_run_sim_bench_checks_arguments(kwargs, message):
    from hetflow.bench.sim import run_sim_bench
    with pytest.raises(HetflowError, match=message):
        run_sim_bench(**kwargs)


# ---- hetflow bench link ------------------------------------------------------------------

@needs_verilator
def test_bench_link_prints_table_and_figures():
    # The design of tests/boards/test_serialsim.py (saxpy for icebreaker at 3 Mbaud): built
    # once for both files.  Small transfers: the figures are there and consistent, no goal.
    proc = hetflow_cli("bench", "link", "--baud", "3000000", "--bytes", "3000",
                       "--round-trips", "5", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout, ("write", "read", "register"))
    assert [r[0] for r in rows] == ["write", "read", "register round trips", "register burst"]
    assert [r[1] for r in rows] == ["3", "3", "5", "5"]
    got = figures(proc.stdout)
    assert (got["link_baud"], got["link_clock_hz"], got["link_turnaround_ms"]) == \
        (3_000_000, 12_000_000, 1)
    for what in ("write", "read"):
        assert 0 < got[f"{what}_line_fraction"] <= 1
        assert got[f"{what}_bytes_per_s"] == pytest.approx(
            got[f"{what}_line_fraction"] * 300_000, rel=1e-3)
    assert got["bulk_line_fraction"] == min(got["write_line_fraction"],
                                            got["read_line_fraction"])
    # One at a time, a round trip is at least both frames' line time plus the 1 ms timer.
    assert got["reg_round_trip_us"] >= 1000 + 2 * 19 * 10 / 3
    assert got["reg_burst_req_per_s"] >= got["reg_round_trip_req_per_s"]
    assert got["link_retries"] == 0


# ---- hetflow bench host ------------------------------------------------------------------

@needs_verilator
def test_bench_host_prints_table_and_figures():
    proc = hetflow_cli("bench", "host", "--calls", "100")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout, ("cpu", "sim"))
    assert [(r[0], r[1]) for r in rows] == [("cpu", "1"), ("cpu", "1,024"),
                                           ("sim", "1"), ("sim", "1,024")]
    assert all(r[-1] == "ok" for r in rows), rows
    assert [r[2] for r in rows] == ["100", "100", "20", "20"]
    got = figures(proc.stdout)
    assert set(got) == {"cpu_overhead_us", "sim_call_us", "sim_call_cpu_us", "sim_overhead_us"}
    assert got["sim_call_us"] > 0 and got["sim_overhead_us"] < got["sim_call_us"]
    assert got["sim_call_cpu_us"] > 0


@needs_verilator
def test_bench_host_with_a_build_prints_predicted_board_time(tmp_path):
    from .test_boardtime import write_build
    build = write_build(tmp_path / "b", kernel="saxpy", target_mhz=25.0, baud=1_500_000)
    proc = hetflow_cli("bench", "host", "--calls", "20", "--board", build)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("predicted, not measured: icebreaker build of saxpy: 25 MHz clock (Fmax 40 MHz), "
            "1,500,000 baud 8N1, 1 ms turnaround per exchange") in proc.stdout
    got = figures(proc.stdout)
    for n in (1, 1024):
        (line,) = [x for x in proc.stdout.splitlines()
                   if x.startswith(f"predicted board time saxpy n={n}: ")]
        m = re.fullmatch(r"predicted board time saxpy n=\d+: ([\d,.]+) ms = ([\d,.]+) compute "
                         r"\(([\d,]+) cycles\) \+ ([\d,.]+) link \(([\d,]+) bytes\) \+ "
                         r"([\d,.]+) turnaround \((\d+) exchange\(s\), \d+ requests\)", line)
        total, compute, cycles, link, nbytes, turnaround, exchanges = (
            float(v.replace(",", "")) for v in m.groups())
        assert compute == pytest.approx(cycles / 25e3, abs=1e-3)
        assert link == pytest.approx(nbytes * 10 / 1.5e6 * 1e3, abs=1e-3)
        assert turnaround == pytest.approx(exchanges, abs=1e-3)
        assert got[f"predicted_board_call_us_{n}"] == pytest.approx(total * 1e3, abs=1.0)
    # 1024 elements move 8 KiB in and 4 KiB out: more bytes and requests than 1 element.
    assert got["predicted_board_call_us_1024"] > got["predicted_board_call_us_1"]


@pytest.mark.parametrize("kwargs, message", [
    ({"calls": 0}, r"^calls must be a positive integer, not 0$"),
    ({"sizes": (1, 0)}, r"^sizes must be positive integers, not \(1, 0\)$"),
    ({"sizes": ()}, r"^sizes must be positive integers, not \(\)$"),
])
def test_run_host_bench_checks_arguments(kwargs, message):
    from hetflow.bench.host import run_host_bench
    with pytest.raises(HetflowError, match=message):
        run_host_bench(**kwargs)


# ---- the cpu fast path bench host measures (hetflow.device) -------------------------------

class ThreadSaxpy(Saxpy):
    """Saxpy whose model records its thread and sleeps ``delay`` seconds."""

    name = "thread_saxpy"
    delay = 0.0
    threads = []

    @classmethod
    def model(cls, p, inputs, scalars):
        cls.threads.append(threading.current_thread())
        if cls.delay:
            time.sleep(cls.delay)
        return super().model(p, inputs, scalars)


@pytest.fixture
def thread_saxpy():
    ThreadSaxpy.delay, ThreadSaxpy.threads = 0.0, []
    with hetflow.open("cpu") as dev:
        yield dev.kernel(ThreadSaxpy)


def test_small_cpu_calls_run_inline_once_seen_fast(thread_saxpy):
    main = threading.current_thread()
    x = np.arange(16, dtype=np.int32)
    for _ in range(3):
        assert np.array_equal(thread_saxpy(x, x, a=2), 3 * x)
    assert ThreadSaxpy.threads[0] is not main          # first call: the device's worker
    assert ThreadSaxpy.threads[1:] == [main, main]     # then in the caller's thread
    big = np.arange(64, dtype=np.int32)
    thread_saxpy(big, big, a=1)
    assert ThreadSaxpy.threads[-1] is not main         # more bytes than seen: the worker again
    run = thread_saxpy.start(x, x, a=1)                # start() always uses the worker
    assert np.array_equal(run.wait(timeout=5.0), 2 * x)
    assert ThreadSaxpy.threads[-1] is not main


def test_slow_inline_call_times_out_and_goes_back_to_the_worker(thread_saxpy):
    x = np.arange(4, dtype=np.int32)
    thread_saxpy(x, x, a=1)
    thread_saxpy(x, x, a=1)                            # now inline
    ThreadSaxpy.delay = 0.6
    with pytest.raises(TimeoutError, match=r"^kernel 'thread_saxpy' on cpu did not finish "
                                           r"within 0.1 s \(waited 0\.\d\d s\)$"):
        thread_saxpy(x, x, a=1, timeout=0.1)          # inline: raised when it returns
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not finish within 0.1 s"):
        thread_saxpy(x, x, a=1, timeout=0.1)          # slow seen: the worker, abandoned in time
    assert time.monotonic() - t0 < 0.45


def test_one_call_slowed_by_a_busy_machine_keeps_calls_inline(thread_saxpy):
    main = threading.current_thread()
    x = np.arange(4, dtype=np.int32)
    thread_saxpy(x, x, a=1)
    thread_saxpy(x, x, a=1)                            # now inline
    ThreadSaxpy.delay = 0.01                           # above INLINE_SECONDS, a hiccup
    thread_saxpy(x, x, a=1)
    thread_saxpy(x, x, a=1)                            # still inline: one slow call is no trend
    assert ThreadSaxpy.threads[-2:] == [main, main]
    ThreadSaxpy.delay = 0.0
    thread_saxpy(x, x, a=1)                            # a second slow call in a row was: worker
    assert ThreadSaxpy.threads[-1] is not main


def test_inline_call_keeps_checks(thread_saxpy):
    x = np.arange(4, dtype=np.int32)
    thread_saxpy(x, x, a=1)
    thread_saxpy(x, x, a=1)
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of seconds, "
                                         r"not 0$"):
        thread_saxpy(x, x, a=1, timeout=0)
    with pytest.raises(HetflowError, match=r"^thread_saxpy: input 'y' has dtype int64; "
                                           r"expected int32"):
        thread_saxpy(x, x.astype(np.int64), a=1)
    thread_saxpy.device.close()
    with pytest.raises(HetflowError, match=r"^device cpu is closed$"):
        thread_saxpy(x, x, a=1)


def test_bench_prove_report_figures(capsys):
    from rich.console import Console

    from hetflow.bench.prove import ProofRow, print_report
    rows = [ProofRow("saxpy", {}, True, "k-induction", ("contract",), 1.0, 2.5, 3.6, "ok"),
            ProofRow("fir", {"taps": 3}, False, "bmc", ("contract",), 0.5, 1.0, 1.6,
                     "FAIL fir: counterexample")]
    print_report(rows, Console(width=110))
    out = capsys.readouterr().out.splitlines()
    assert "FAIL fir: counterexample" in out
    assert out[-3:] == ["proofs_passed=1/2", "prove_seconds_total=5.2",
                        "prove_seconds_max=3.6"]
