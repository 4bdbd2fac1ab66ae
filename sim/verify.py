"""Verification of a kernel against its golden model in an HDL simulator.

``verify("fir", {"taps": 8})`` generates stimuli from the kernel's
:meth:`~hetflow.hw.Kernel.cases`, runs them through the generic cocotb bench
with random valid gaps and ready back-pressure, and compares every output
with the golden model.  On a mismatch the failing case is run once more with
waveform dumping and the path of the waveform is reported.
"""

import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..hw.errors import HetflowError
from ..hw.job import pack_beats, unpack_beats
from ..hw.registry import get_kernel
from ..hw.shell import Shell
from .build import RTL
from ..cache import cache_dir
from .toolchain import find_simulator

__all__ = ["verify", "VerifyResult", "Mismatch", "SimulationError", "check_golden", "run_plan",
           "compare_outputs", "bench_plan", "bench_unit", "new_run_dir",
           "GoldenModelMismatch"]

#: Probability of a gap before each input beat and of ready low on each output cycle.
DEFAULT_PAUSE = 0.3


class SimulationError(HetflowError, RuntimeError):
    """The simulator did not produce results."""


@dataclass(frozen=True)
class Mismatch:
    case: int
    output: str
    index: tuple
    expected: object
    got: object

    def __str__(self):
        idx = self.index[0] if len(self.index) == 1 else self.index
        return (f"case {self.case}: {self.output}[{idx}] expected {self.expected} "
                f"got {self.got}")


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    passed : bool
    cases, failed_cases : int
    mismatches : list of Mismatch
        The first mismatches found (at most 10 per case).
    mismatch_count : int
        Number of wrong output elements over all cases.
    errors : list of str
        Problems other than wrong values (hang, missing or extra output).
    waves : Path or None
        Waveform of the failing case (or of the whole run with ``waves=True``).
    cycles_per_unit : float or None
        Cycles per unit of work without gaps or back-pressure.
    target : str
        What was simulated: ``"RTL"`` (the kernel's Verilog) or, for example,
        ``"icebreaker netlist"``.
    build_s, sim_s : float
        Seconds spent building the simulation model (or finding it in the cache)
        and simulating.
    """

    kernel: str
    params: dict
    simulator: str
    seed: int
    cases: int = 0
    failed_cases: int = 0
    mismatches: list = field(default_factory=list)
    mismatch_count: int = 0
    errors: list = field(default_factory=list)
    waves: Path = None
    cycles_per_unit: float = None
    unit: str = "element"
    wall_s: float = 0.0
    build_cached: bool = False
    log: Path = None
    target: str = "RTL"
    build_s: float = 0.0
    sim_s: float = 0.0

    @property
    def passed(self):
        return self.cases > 0 and self.failed_cases == 0 and not self.errors

    def summary(self):
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        head = f"{'PASS' if self.passed else 'FAIL'} {self.kernel}" + (f" {params}" if params else "")
        if self.target != "RTL":
            head += f" ({self.target})"
        perf = (f", {self.cycles_per_unit:.3f} cycles/{self.unit}"
                if self.cycles_per_unit is not None else "")
        errors = f", {len(self.errors)} errors" if self.errors else ""
        return (f"{head}: {self.cases - self.failed_cases}/{self.cases} cases passed, "
                f"{self.mismatch_count} mismatching elements{errors}, seed {self.seed}, "
                f"{self.simulator}{perf}, {self.wall_s:.1f} s")


def bench_plan(kernel_cls, p, regmap, jobs, seed, pause):
    """The cocotb bench's plan of ``jobs`` of one kernel (one unit: its shell's ``csr``)."""
    planned = []
    for job in jobs:
        writes = regmap.word_writes(job.registers)
        in_ports = {port.name: port for port in kernel_cls.inputs(p)}
        out_ports = {port.name: port for port in kernel_cls.outputs(p)}
        beats = {name: pack_beats(in_ports[name], arr) for name, arr in job.streams.items()}
        expect = {name: out_ports[name].beats(n) for name, n in job.expect.items()}
        total = sum(len(b) for b in beats.values()) + sum(expect.values())
        planned.append({"units": [(0, writes)], "beats": beats, "expect": expect,
                        "in_pause": pause, "out_pause": pause,
                        "budget": 40 * total + 4000})
    return {
        "seed": seed,
        "inputs": [port.name for port in kernel_cls.inputs(p)],
        "outputs": [port.name for port in kernel_cls.outputs(p)],
        "units": [bench_unit("csr", regmap)],
        "jobs": planned,
    }


def bench_unit(csr, regmap):
    """A register bus of the cocotb bench's design: its port prefix and control words."""
    return {"csr": csr,
            "ctrl_word": regmap.offset("ctrl") >> 2,
            "status_word": regmap.offset("status") >> 2,
            "cycles_words": (regmap.offset("cycles_lo") >> 2, regmap.offset("cycles_hi") >> 2)}


def run_plan(sim_build, plan, workdir, waves, tag):
    from cocotb_tools.runner import get_runner

    workdir.mkdir(parents=True, exist_ok=True)
    plan_path = workdir / f"plan-{tag}.pkl"
    result_path = workdir / f"result-{tag}.pkl"
    log_path = workdir / f"sim-{tag}.log"
    with open(plan_path, "wb") as f:
        pickle.dump(plan, f)
    if result_path.exists():
        result_path.unlink()
    sim = sim_build.simulator
    sim.apply()
    runner = get_runner(sim.name)
    plusargs = []
    wave_file = None
    if waves:
        if sim.name == "icarus":
            wave_file = workdir / f"{sim_build.toplevel}.fst"
            plusargs.append(f"+dumpfile_path={wave_file}")
        else:
            wave_file = workdir / "dump.vcd"
    try:
        runner.test(test_module="hetflow.sim.cocotb_bench", hdl_toplevel=sim_build.toplevel,
                    hdl_toplevel_lang="verilog",
                    build_dir=sim_build.directory, test_dir=workdir,
                    results_xml=str(workdir / f"results-{tag}.xml"), waves=waves,
                    plusargs=plusargs, log_file=log_path,
                    extra_env={"HETFLOW_BENCH_PLAN": str(plan_path),
                               "HETFLOW_BENCH_RESULT": str(result_path),
                               "COCOTB_LOG_LEVEL": "WARNING"})
    except (RuntimeError, SystemExit) as exc:
        raise SimulationError(f"{sim.name} run failed ({exc}); log: {log_path}") from None
    if not result_path.exists():
        raise SimulationError(f"{sim.name} produced no results; log: {log_path}")
    with open(result_path, "rb") as f:
        results = pickle.load(f)
    return results, wave_file, log_path


def compare_outputs(case, expected, got, limit=10):
    """``(count, first mismatches)`` between golden and kernel outputs of one case."""
    found = []
    count = 0
    for name, exp in expected.items():
        exp = np.asarray(exp)
        g = np.asarray(got.get(name, np.zeros(0, dtype=exp.dtype)))
        if g.shape != exp.shape:
            found.append(Mismatch(case, name, ("shape",), exp.shape, g.shape))
            count += 1
            continue
        bad = np.argwhere(exp != g)
        count += len(bad)
        for idx in bad[:limit]:
            idx = tuple(int(i) for i in idx)
            found.append(Mismatch(case, name, idx, exp[idx].item(), g[idx].item()))
    return count, found


class GoldenModelMismatch(HetflowError, ValueError):
    """The golden model's outputs cannot be what the kernel produces (names, shapes, dtypes)."""


def check_golden(kernel_cls, p, cases):
    """The jobs and golden outputs of ``cases``, checked against the kernel's ports.

    For each case the golden model's outputs must have the names of the
    kernel's output ports, and the shape and dtype that :meth:`Kernel.collect`
    gives for :meth:`Kernel.output_length` elements of each port's dtype.
    Runs on the host in milliseconds, before anything is compiled.

    Returns ``(jobs, expected)``; raises :class:`GoldenModelMismatch`.
    """
    ports = kernel_cls.memo("outputs", p)
    jobs, expected = [], []
    for i, (inputs, scalars) in enumerate(cases):
        job = kernel_cls.prepare(p, dict(inputs), dict(scalars))
        gold = kernel_cls.golden(p, dict(inputs), dict(scalars))
        names = [port.name for port in ports]
        if not isinstance(gold, dict) or sorted(gold) != sorted(names):
            got = sorted(gold) if isinstance(gold, dict) else type(gold).__name__
            raise GoldenModelMismatch(
                f"{kernel_cls.name}: golden() must return a dict of the outputs "
                f"{', '.join(names)}; for case {i} it returned {got}")
        zeros = {port.name: np.zeros(job.expect[port.name], port.np_dtype) for port in ports}
        produced = kernel_cls.collect(p, job, zeros)
        for port in ports:
            g, c = np.asarray(gold[port.name]), np.asarray(produced[port.name])
            if g.shape != c.shape or g.dtype != c.dtype:
                raise GoldenModelMismatch(
                    f"{kernel_cls.name}: for case {i} the golden model's output '{port.name}' "
                    f"is {g.dtype} of shape {g.shape}, but the kernel gives {c.dtype} of shape "
                    f"{c.shape} ({job.expect[port.name]} elements by output_length(), port "
                    f"dtype {port.dtype}); fix golden() or output_length()")
        jobs.append(job)
        expected.append(gold)
    return jobs, expected


def _param_tag(params):
    return "-".join(f"{k}{v}" for k, v in params.items()) or "default"


def verify(kernel, params=None, *, sim="verilator", seed=1, count=20, waves=False,
           workdir=None, pause=DEFAULT_PAUSE, status=None, target=None):
    """Verify ``kernel`` against its golden model in simulation.

    Parameters
    ----------
    kernel : str or Kernel subclass
        Registry name, ``module:Class`` path, or the class itself.
    params : dict, optional
        Elaboration parameters (strings are parsed as integers).
    sim : {"verilator", "icarus"}
    seed : int
        Seed for stimuli and for the gap/back-pressure pattern.
    count : int
        Number of cases (edge cases first, then random).
    waves : bool
        Dump a waveform of the whole run (otherwise only of a failing case).
    workdir : path-like, optional
        Where plans, logs and waveforms go (default: the hetflow cache).
    pause : float
        Probability of a valid gap / ready low per beat (0 disables).
    status : callable, optional
        Called with one-line progress messages.
    target : optional
        What is compiled and simulated (see :class:`hetflow.sim.build.RTL`);
        default the kernel's RTL.  :func:`hetflow.boards.netlist.verify_netlist`
        passes a board's post-synthesis netlist.

    Returns
    -------
    VerifyResult
    """
    t0 = time.monotonic()
    say = status or (lambda msg: None)
    kernel_cls = get_kernel(kernel)
    p = kernel_cls.bind(**(params or {}))
    if not isinstance(count, int) or count < 1:
        raise HetflowError(f"count must be a positive integer, not {count!r}")
    if not isinstance(seed, int) or seed < 0:
        raise HetflowError(f"seed must be a non-negative integer, not {seed!r}")
    rng = np.random.default_rng(seed)
    cases = kernel_cls.cases(p, rng, count)
    jobs, expected = check_golden(kernel_cls, p, cases)
    simulator = find_simulator(sim)
    instance = Shell(kernel_cls, **p)
    regmap = instance.map

    plan = bench_plan(kernel_cls, p, regmap, jobs, seed, pause)
    # One more run of the largest job with no gaps and no back-pressure gives the
    # kernel's own throughput.
    work = [kernel_cls.work(p, job) for job in jobs]
    perf_index = max(range(len(jobs)), key=lambda i: work[i][0])
    perf_job = dict(plan["jobs"][perf_index], in_pause=0.0, out_pause=0.0)
    plan["jobs"].append(perf_job)

    target = target or RTL()
    result = VerifyResult(kernel_cls.name, dict(p), simulator.name, seed, cases=len(cases),
                          target=target.label)
    if workdir:
        workdir = Path(workdir)
        if workdir.exists():
            shutil.rmtree(workdir)
    else:
        workdir = new_run_dir(f"{kernel_cls.name}-{_param_tag(p)}-{simulator.name}-seed{seed}")

    what = kernel_cls.name if target.label == "RTL" else f"the {target.label} of {kernel_cls.name}"
    say(f"building {what} for {simulator.name}")
    t_build = time.monotonic()
    sim_build = target.build(instance, simulator, waves=waves or simulator.name == "verilator",
                             status=say)
    result.build_cached = sim_build.cached
    result.build_s = time.monotonic() - t_build
    say(f"simulating {len(cases)} cases of {what}")
    t_sim = time.monotonic()
    results, wave_file, log = run_plan(sim_build, plan, workdir, waves, "all")
    result.sim_s = time.monotonic() - t_sim
    result.log = log

    out_ports = {port.name: port for port in kernel_cls.outputs(p)}
    failing = []
    for i, (job, exp) in enumerate(zip(jobs, expected)):
        if i >= len(results):
            failing.append(i)
            continue
        r = results[i]
        if r["error"]:
            result.errors.append(f"case {i}: {r['error']}")
            failing.append(i)
            continue
        streams = {name: unpack_beats(out_ports[name], beats, job.expect[name])
                   for name, beats in r["outputs"].items()}
        got = kernel_cls.collect(p, job, streams)
        bad, found = compare_outputs(i, exp, got)
        result.mismatch_count += bad
        if r["extra"]:
            result.errors.append(f"case {i}: output beyond the expected "
                                 f"{', '.join(f'{n} ({job.expect[n]} elements)' for n in r['extra'])}")
        if found or r["extra"]:
            failing.append(i)
            result.mismatches.extend(found)
    result.failed_cases = len(failing)
    if len(results) == len(jobs) + 1 and results[-1]["cycles"] and not results[-1]["error"]:
        amount, unit = work[perf_index]
        if amount:
            result.cycles_per_unit = results[-1]["cycles"] / amount
            result.unit = unit

    if waves and wave_file is not None and wave_file.exists():
        result.waves = _keep_waves(wave_file, workdir, kernel_cls.name, seed)
    elif failing:
        first = failing[0]
        say(f"re-running case {first} with waveform dumping")
        if simulator.name == "icarus" and not sim_build.waves:
            sim_build = target.build(instance, simulator, waves=True, status=say)
        # The gap pattern is seeded per job index: keep the original index.
        one = dict(plan, jobs=[plan["jobs"][first]], index_offset=first)
        _, wave_file, _ = run_plan(sim_build, one, workdir, True, f"case{first}")
        if wave_file is not None and wave_file.exists():
            result.waves = _keep_waves(wave_file, workdir, kernel_cls.name, seed, case=first)
    result.wall_s = time.monotonic() - t0
    return result


#: Runs kept per kernel configuration and seed in the cache (older ones are removed).
KEEP_RUNS = 5


def new_run_dir(tag):
    """A fresh directory for one run, so concurrent runs of the same case never collide."""
    root = cache_dir() / "verify"
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = Path(tempfile.mkdtemp(prefix=f"{tag}-{stamp}-", dir=root))
    previous = sorted(root.glob(f"{tag}-*"), key=lambda d: d.stat().st_mtime)
    for old in previous[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    return run


def _keep_waves(path, workdir, name, seed, case=None):
    suffix = path.suffix
    target = workdir / (f"{name}-seed{seed}" + (f"-case{case}" if case is not None else "") + suffix)
    os.replace(path, target)
    return target
