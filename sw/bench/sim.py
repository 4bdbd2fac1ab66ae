"""``hetflow bench sim``: the virtual board against raw Verilator and the cocotb bench.

One call of one kernel on the same data, three ways, all on the same Verilog
(:func:`hetflow.hw.verilog.to_verilog`):

virtual board
    ``hetflow.open("sim")`` and one blocking kernel call: argument checks,
    the input arrays sent to the board process (through the staging area it
    shares with the host), the clocking in C++, the outputs read back.  Timed with ``time.perf_counter`` around the
    call; the one-time build and process start are not in it.
raw Verilator
    The same harness C++ (memory, DMA channels, clock) with a ``main`` that
    loads the job from a file, clocks it to completion and times itself with
    ``std::chrono`` (:func:`hetflow.sim.board.harness.encode_bench_job`): no
    protocol, no Python, no data transfer in the timed part.
cocotb
    The generic cocotb bench of ``hetflow verify`` (:mod:`hetflow.sim.cocotb_bench`)
    on the first ``cocotb_elements`` elements, without gaps or back-pressure.
    Timed by cocotb itself: the wall time of its test (the ``time`` of the
    test case in its results XML), which leaves out the start of the simulator
    and of Python, so the figure is cocotb's per-cycle speed.  (Subtracting an
    empty run instead was too noisy on a busy machine.)

Throughput is kernel cycles (the kernel's own cycle counter) per second.  The
outputs of all three are compared with the golden model.

Besides the wall time, the virtual board and the raw harness are timed in CPU
time over the same parts: the raw harness's process CPU clock, and for the
virtual board this process's :func:`time.process_time` plus the board
process's run time (:meth:`~hetflow.backends.sim.SimDevice.board_cpu_seconds`).
The wall-time ratio is the one a user sees; the CPU-time ratio leaves out the
time the machine gave to other processes while a run waited for a core.

The virtual board and the raw harness each run ``repeats`` times, taking turns
(a fresh device or process each time, so every timed board call is a first
call), and each figure is the best of its runs: on a busy machine one run of
either can be slowed by the other processes, and taking turns lets a busy
spell hit both alike.  On this project's 2-core VM a run's speed was seen to be one
of two (a 1M-element saxpy took ~80-90 ms or ~130-150 ms, either side, in CPU time as
much as in wall time), so one side's best of three could come from the fast mode and
the other's not (ratio 0.59 in one run, 0.94 in the next): seven runs each make that
unlikely.  The raw harness is always the same binary, built with
the same flags as the virtual board's.
"""

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hw.errors import HetflowError
from ..hw.job import from_memory_image, memory_image
from ..hw.registry import get_kernel
from ..hw.shell import Shell
from .calls import check_stimulus, make_call

__all__ = ["Measurement", "SimBench", "BenchError", "run_sim_bench",
           "measure_board", "measure_raw", "measure_cocotb", "board_memory_needed",
           "print_report"]

#: Seconds the raw harness or a virtual-board call may take before it counts as hung.
RUN_TIMEOUT = 600.0


class BenchError(HetflowError, RuntimeError):
    """A benchmark run failed (the harness did not finish, or produced no figures)."""


# ---- results ---------------------------------------------------------------------------

@dataclass
class Measurement:
    """One timed run.

    Attributes
    ----------
    bench : str
        Which way the kernel ran.
    elements : int
        Elements of the call.
    cycles : int
        The kernel's cycle counter at the end of the job.
    seconds : float
        The timed part (see the module doc).
    mismatches : int
        Output elements that differ from the golden model.
    note : str
        What else is worth knowing (start-up time subtracted, ...).
    cpu_seconds : float or None
        CPU time of the timed part (see the module doc); None where unknown.
    """

    bench: str
    elements: int
    cycles: int
    seconds: float
    mismatches: int
    note: str = ""
    cpu_seconds: float = None

    @property
    def cycles_per_s(self):
        return self.cycles / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cpu_cycles_per_s(self):
        """Cycles per CPU second; None where the CPU time is unknown."""
        if self.cpu_seconds is None:
            return None
        return self.cycles / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")

    @property
    def check(self):
        return "ok" if self.mismatches == 0 else f"{self.mismatches} wrong"


@dataclass
class SimBench:
    """The three measurements of :func:`run_sim_bench` and their ratios."""

    kernel: str
    params: dict
    board: Measurement
    raw: Measurement
    cocotb: Measurement

    @property
    def ratio_vs_raw(self):
        """Virtual-board cycles/s over raw-Verilator cycles/s (1.0: no overhead at all)."""
        return self.board.cycles_per_s / self.raw.cycles_per_s

    @property
    def cpu_ratio_vs_raw(self):
        """The same ratio in cycles per CPU second; None where a CPU time is unknown."""
        board, raw = self.board.cpu_cycles_per_s, self.raw.cpu_cycles_per_s
        return None if board is None or raw is None else board / raw

    @property
    def speedup_vs_cocotb(self):
        """Virtual-board cycles/s over cocotb cycles/s."""
        return self.board.cycles_per_s / self.cocotb.cycles_per_s

    @property
    def ok(self):
        return all(m.mismatches == 0 for m in (self.board, self.raw, self.cocotb))


def _mismatches(expected, got):
    from ..sim.verify import compare_outputs
    return compare_outputs(0, expected, got)[0]


# ---- memory layout (as the virtual board's run_job lays a job out) --------------------

def _layout(chans, job):
    """``([(address, beats)] per channel, total bytes)``: regions in channel order, aligned."""
    from ..link.job_layout import job_layout
    out, size = job_layout(chans, job)
    return [(address, beats) for _, address, beats in out.values()], size


def board_memory_needed(kernel_cls, p, job):
    """Bytes of board memory ``job`` takes on the virtual board of ``Shell(kernel_cls, **p)``."""
    from ..link.boardmap import Channel
    # The DMA channels of harness.channels(), from the class: no instance to elaborate.
    ports = [(port, False) for port in kernel_cls.inputs(p)]
    ports += [(port, True) for port in kernel_cls.outputs(p)]
    return _layout([Channel(i, port, out) for i, (port, out) in enumerate(ports)], job)[1]


def _register_writes(regmap, job):
    """``[(offset, value)]`` of a job's registers, then the start, as ``run_job`` writes them."""
    writes = []
    for name, value in job.registers.items():
        reg = regmap[name]
        values = list(np.asarray(value).reshape(-1)) if reg.array or np.ndim(value) else [value]
        writes += [(reg.offset + 4 * i, int(v) & 0xFFFFFFFF) for i, v in enumerate(values)]
    writes.append((regmap["ctrl"].offset, 1))
    return writes


# ---- the three ways --------------------------------------------------------------------

def measure_board(kernel_cls, p, inputs, scalars, expected, status=None):
    """Time one blocking call on ``hetflow.open("sim")``; returns a :class:`Measurement`."""
    from ..device import open as open_device
    say = status or (lambda msg: None)
    n = len(next(iter(inputs.values())))
    with open_device("sim", status=say) as dev:
        say(f"virtual board: loading {kernel_cls.name} (build and process start are not timed)")
        handle = dev.kernel(kernel_cls, **p)
        say(f"virtual board: one call of {n:,} elements")
        board0, host0 = dev.board_cpu_seconds(), time.process_time()
        t0 = time.perf_counter()
        out = handle(**inputs, **scalars, timeout=RUN_TIMEOUT)
        seconds = time.perf_counter() - t0
        host, board = time.process_time() - host0, dev.board_cpu_seconds()
        cycles = handle.last_cycles
    cpu = None if board is None or board0 is None else host + board - board0
    got = out if isinstance(out, dict) else {handle.output_names[0]: out}
    return Measurement("virtual board", n, cycles, seconds, _mismatches(expected, got),
                       "hetflow.open('sim') call", cpu)


_RAW_LINE = re.compile(r"done=(\d) clocked=(\d+) cycles=(\d+) seconds=([0-9.eE+-]+) "
                       r"cpu_seconds=([0-9.eE+-]+)")


def measure_raw(kernel_cls, p, inputs, scalars, expected, status=None):
    """Run the raw Verilator harness on one call; returns a :class:`Measurement`."""
    from ..sim.board.harness import build_board, encode_bench_job
    from ..link.boardmap import channels
    say = status or (lambda msg: None)
    kernel = Shell(kernel_cls, **p)
    build = build_board(kernel, status=say, main="bench")
    job = kernel_cls.prepare(p, dict(inputs), dict(scalars))
    chans = channels(kernel)
    regions, size = _layout(chans, job)
    loads, saves = [], []
    for ch, (address, beats) in zip(chans, regions):
        if ch.output:
            saves.append((address, beats * ch.stride))
        elif beats:
            loads.append((address, memory_image(ch.port, job.streams[ch.port.name], ch.stride)))
    regmap = kernel.map
    total_beats = sum(beats for _, beats in regions)
    data = encode_bench_job(64 * total_beats + 100_000,
                            (regmap["cycles_lo"].offset, regmap["cycles_hi"].offset),
                            _register_writes(regmap, job), regions, loads, saves)
    n = len(next(iter(inputs.values())))
    with tempfile.TemporaryDirectory(prefix="hetflow-bench-") as tmp:
        job_path, out_path = Path(tmp) / "job.bin", Path(tmp) / "out.bin"
        job_path.write_bytes(data)
        say(f"raw Verilator: one job of {n:,} elements")
        try:
            proc = subprocess.run([str(build.executable), str(max(size, 4096)), str(job_path),
                                   str(out_path)], capture_output=True, text=True,
                                  timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"the raw Verilator harness of {kernel_cls.name} did not finish "
                             f"within {RUN_TIMEOUT:g} s") from None
        found = _RAW_LINE.search(proc.stdout)
        if proc.returncode != 0 or not found:
            tail = (proc.stderr.strip() or proc.stdout.strip())[-400:]
            raise BenchError(f"the raw Verilator harness of {kernel_cls.name} exited with "
                             f"status {proc.returncode}" + (f": {tail}" if tail else ""))
        raw = out_path.read_bytes()
    got, offset = {}, 0
    for ch, (_, beats) in zip(chans, regions):
        if ch.output:
            length = beats * ch.stride
            got[ch.port.name] = from_memory_image(ch.port, raw[offset:offset + length], ch.stride,
                                                         job.expect[ch.port.name])
            offset += length
    got = kernel_cls.collect(p, job, got)
    return Measurement("raw Verilator", n, int(found.group(3)), float(found.group(4)),
                       _mismatches(expected, got), "C++ std::chrono, no protocol",
                       float(found.group(5)))


def measure_cocotb(kernel_cls, p, inputs, scalars, expected, seed=1, status=None):
    """Run the generic cocotb bench on one call (no gaps); returns a :class:`Measurement`."""
    import importlib.util
    if importlib.util.find_spec("cocotb_tools") is None:    # the runner run_plan needs
        from ..tools import install_command
        raise HetflowError(f"cocotb is not installed; install it with: "
                           f"{install_command('sim')}")
    from ..sim.verify import bench_plan, run_plan
    from ..hw.job import unpack_beats
    from ..sim.build import build
    from ..cache import cache_dir
    from ..sim.toolchain import find_simulator
    say = status or (lambda msg: None)
    simulator = find_simulator("verilator")
    kernel = Shell(kernel_cls, **p)
    sim_build = build(kernel, simulator, waves=False, status=say)
    job = kernel_cls.prepare(p, dict(inputs), dict(scalars))
    plan = bench_plan(kernel_cls, p, kernel.map, [job], seed, 0.0)
    n = len(next(iter(inputs.values())))
    workdir = cache_dir() / "bench" / f"cocotb-{kernel_cls.name}"
    say(f"cocotb: {n:,} elements, cycle by cycle")
    t0 = time.perf_counter()
    results, _, log = run_plan(sim_build, plan, workdir, False, "job")
    total = time.perf_counter() - t0
    test_seconds = _cocotb_test_seconds(workdir / "results-job.xml")
    if not results or results[0]["error"] or not results[0]["cycles"]:
        what = results[0]["error"] if results else "no result"
        raise BenchError(f"the cocotb bench of {kernel_cls.name} failed: {what}; log: {log}")
    out_ports = {port.name: port for port in kernel_cls.outputs(p)}
    streams = {name: unpack_beats(out_ports[name], beats, job.expect[name])
               for name, beats in results[0]["outputs"].items()}
    got = kernel_cls.collect(p, job, streams)
    if test_seconds is None:
        # No figure from cocotb: the whole run, start-up included (makes cocotb look slower).
        seconds, note = total, f"whole run {total:.2f} s, start-up included (no results XML)"
    else:
        seconds, note = test_seconds, (f"cocotb's test time {test_seconds:.2f} s; whole run "
                                       f"with simulator start-up {total:.2f} s")
    return Measurement("cocotb", n, results[0]["cycles"], seconds, _mismatches(expected, got),
                       note)


def _cocotb_test_seconds(path):
    """Wall time cocotb recorded for the bench's test, or None (no or malformed XML)."""
    import xml.etree.ElementTree as ET
    try:
        case = ET.parse(path).getroot().find(".//testcase[@name='run_plan']")
        seconds = float(case.get("time"))
    except (OSError, ET.ParseError, AttributeError, TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


#: Runs of the virtual board and of the raw harness (taking turns); the best of each counts.
REPEATS = 7


def _best(measurements):
    """The fastest of several runs of one way (all must agree with the golden model);
    its CPU time is the least of the runs' (each clock's best)."""
    best = min(measurements, key=lambda m: m.seconds)
    cpus = [m.cpu_seconds for m in measurements]
    cpu = None if None in cpus else min(cpus)
    worst = max(m.mismatches for m in measurements)
    seconds = sorted(m.seconds for m in measurements)
    runs = ", ".join(f"{t * 1e3:.1f}" for t in seconds)
    note = f"{best.note}; best of {len(measurements)} runs ({runs} ms)" \
        if len(measurements) > 1 else best.note
    return Measurement(best.bench, best.elements, best.cycles, best.seconds, worst, note, cpu)


def run_sim_bench(kernel="saxpy", params=None, elements=1_000_000, cocotb_elements=20_000,
                  seed=1, status=None, repeats=REPEATS):
    """Measure one call of ``kernel`` three ways; returns a :class:`SimBench`.

    Parameters
    ----------
    kernel : str
        One of :data:`~hetflow.bench.calls.STIMULI`.
    params : dict, optional
        Elaboration parameters (default: the kernel's defaults, e.g. saxpy lanes=1).
    elements : int
        Elements of the call on the virtual board and the raw harness.
    cocotb_elements : int
        Elements of the (slower) cocotb run: the first ones of the same data.
    seed : int
        Seed of the data.
    status : callable, optional
        Called with one-line progress messages.
    repeats : int
        Runs of the virtual board and of the raw harness, taking turns; the
        best of each counts (see the module doc).
    """
    for name, value in (("elements", elements), ("cocotb_elements", cocotb_elements),
                        ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HetflowError(f"{name} must be a positive integer, not {value!r}")
    kernel_cls = get_kernel(kernel)
    check_stimulus(kernel_cls)          # before the parameters: the kernel is the first question
    p = kernel_cls.bind(**(params or {}))
    inputs, scalars = make_call(kernel_cls, p, elements, seed)
    from ..sim.board.virtual import DEFAULT_MEMORY
    job = kernel_cls.prepare(p, dict(inputs), dict(scalars))
    need = board_memory_needed(kernel_cls, p, job)
    if need > DEFAULT_MEMORY:
        raise HetflowError(f"{kernel_cls.name} of {elements} elements needs {need} bytes of "
                           f"board memory but the sim device has {DEFAULT_MEMORY}; "
                           f"use fewer elements")
    expected = kernel_cls.golden(p, dict(inputs), dict(scalars))
    boards, raws = [], []
    for _ in range(repeats):
        boards.append(measure_board(kernel_cls, p, inputs, scalars, expected, status))
        raws.append(measure_raw(kernel_cls, p, inputs, scalars, expected, status))
    board, raw = _best(boards), _best(raws)
    small = min(elements, cocotb_elements)
    s_inputs = {name: arr[:small] for name, arr in inputs.items()}
    s_expected = kernel_cls.golden(p, dict(s_inputs), dict(scalars))
    cocotb = measure_cocotb(kernel_cls, p, s_inputs, scalars, s_expected, seed, status)
    return SimBench(kernel_cls.name, dict(p), board, raw, cocotb)


def print_report(result, console):
    """Print ``result``'s table, its notes and its figures as ``key=value`` lines."""
    from rich.table import Table

    described = " ".join(f"{k}={v}" for k, v in result.params.items())
    table = Table(title=f"hetflow bench sim: {result.kernel} {described}".rstrip())
    for col in ("bench", "elements", "kernel cycles", "time", "cycles/s", "check"):
        table.add_column(col, justify="left" if col in ("bench", "check") else "right")
    rows = (("virtual board", result.board), ("raw Verilator", result.raw),
            ("cocotb", result.cocotb))
    for i, (name, m) in enumerate(rows, 1):
        table.add_row(f"({'abc'[i - 1]}) {name}", f"{m.elements:,}", f"{m.cycles:,}",
                      f"{m.seconds * 1e3:,.1f} ms", f"{m.cycles_per_s / 1e6:,.3f} M", m.check)
    console.print(table)
    print("(a) one blocking call on hetflow.open('sim'), wall time (build and start not timed)")
    print("(b) same harness C++ with a raw main: register writes + clocking, timed in C++")
    print(f"(c) cocotb bench, no gaps or back-pressure: {result.cocotb.note}")
    print(f"sim_cycles_per_s={result.board.cycles_per_s:.0f}")
    print(f"raw_cycles_per_s={result.raw.cycles_per_s:.0f}")
    print(f"cocotb_cycles_per_s={result.cocotb.cycles_per_s:.0f}")
    if result.cpu_ratio_vs_raw is not None:
        print("(a), (b) in CPU time: this process's and the board process's / the raw "
              "process's")
        print(f"sim_cpu_cycles_per_s={result.board.cpu_cycles_per_s:.0f}")
        print(f"raw_cpu_cycles_per_s={result.raw.cpu_cycles_per_s:.0f}")
        print(f"cpu_ratio_vs_raw_verilator={result.cpu_ratio_vs_raw:.3f}")
    print(f"ratio_vs_raw_verilator={result.ratio_vs_raw:.3f}")
    print(f"speedup_vs_cocotb={result.speedup_vs_cocotb:.1f}")
