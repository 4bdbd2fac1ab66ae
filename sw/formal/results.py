"""What a SymbiYosys run established, read from its log and named after the Python source.

SymbiYosys names a property by its Yosys witness path
(``top.dut._witness_.check_21``) and its ``src`` attribute, which Amaranth
sets to the Python file and line of the ``Assert``/``Cover``.  The name a
user gave the property is the message of the statement
(``Assert(test, "no bus access for a bad frame")``); it survives in the
RTLIL as the ``$check`` cell's ``FORMAT`` parameter, so :func:`parse_checks`
reads it from the converted design and the results carry both.
"""

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Check", "ProofResult", "parse_checks", "read_log"]


@dataclass(frozen=True)
class Check:
    """One property of the formal top.

    Attributes
    ----------
    kind : {"assert", "assume", "cover"}
    name : str
        The statement's message, or ``"<kind> at <src>"`` when it has none.
    src : str
        ``file:line`` of the statement in the Python source.
    step : int or None
        The cycle where it failed (assert) or was reached (cover); None when
        unreached or not applicable.
    trace : pathlib.Path or None
        The VCD showing it (kept only when the run's directory is kept).
    """

    kind: str
    name: str
    src: str
    step: int | None = None
    trace: Path | None = None

    def __str__(self):
        at = "" if self.step is None else f" at step {self.step}"
        return f"{self.name} ({self.src}){at}"


_MODULE = re.compile(r"^module \\(\S+)")
_SRC = re.compile(r'^\s*attribute \\src "((?:[^"\\]|\\.)*)"')
_CELL = re.compile(r"^\s*cell \$check \$(\d+)")
_PARAM = re.compile(r'^\s*parameter \\(FORMAT|FLAVOR) "((?:[^"\\]|\\.)*)"')


def _unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def parse_checks(design):
    """The properties of an RTLIL design, keyed by witness path (``top._witness_.check_7``)."""
    checks = {}
    module = src = cell = None
    for line in design.splitlines():
        stripped = line.strip()
        if cell is not None:
            if m := _PARAM.match(line):
                cell[m.group(1)] = _unescape(m.group(2))
            elif stripped == "end":
                kind = cell.get("FLAVOR", "assert")
                name = cell.get("FORMAT") or f"{kind} at {cell['src']}"
                checks[f"{module}._witness_.check_{cell['id']}"] = Check(kind, name, cell["src"])
                cell = None
            continue
        if m := _MODULE.match(line):
            module, src = m.group(1), None
        elif m := _SRC.match(line):
            src = _unescape(m.group(1)).split("|")[0]
        elif m := _CELL.match(line):
            cell, src = {"id": m.group(1), "src": src or "?"}, None
        elif not stripped.startswith("attribute"):
            src = None          # the attribute belonged to something else
    return checks


_LINE = re.compile(r"^SBY\s+\S+\s+\[[^\]]*\]\s+(?P<who>[\w.]+):\s?(?P<text>.*)$")
_DONE = re.compile(r"\bDONE \((?P<status>\w+), rc=\d+\)")
_STEP = re.compile(r"Checking (?:assertions|cover reachability) in step (\d+)\.\.")
_TRACE = re.compile(r"^(?:counterexample trace(?: \[(?P<part>\w+)\])?|(?P<cover>cover) trace): "
                    r"(?P<path>.+)$")
_FAILED = re.compile(r"^\s+failed assertion (?P<path>\S+) at (?P<src>.+?)"
                     r"(?: step (?P<step>\d+))?$")
_REACHED = re.compile(r"^\s+reached cover statement (?P<path>\S+) at (?P<src>.+?) "
                      r"step (?P<step>\d+)$")
_UNREACHED = re.compile(r"^\s+(?P<path>\S+) at (?P<src>.+)$")


@dataclass
class Log:
    """The facts of a SymbiYosys log (see :func:`read_log`)."""

    status: str | None = None
    last_step: int | None = None
    unsat_step: int | None = None
    failed: list = field(default_factory=list)
    unproven: list = field(default_factory=list)
    reached: list = field(default_factory=list)
    unreached: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def error_line(self, proc):
        """The most telling line of a failed run, for a one-line error."""
        # The first error is the cause; those after it are SymbiYosys reporting it.
        lines = self.errors or [l for l in (proc.stderr or "").splitlines() if l.strip()]
        return lines[0].strip() if lines else "no output"


def read_log(text, checks, workdir):
    """Read the SymbiYosys output ``text``; ``checks`` from :func:`parse_checks`."""
    log = Log()
    part = trace = None
    unreached_section = False

    def check(m, step=None):
        src = m.group("src")
        known = checks.get(m.group("path"))
        if known is None:           # a witness name of another form: match the source line
            known = next((c for c in checks.values() if c.src == src),
                         Check("assert", f"property at {src}", src))
        path = None if trace is None else (Path(workdir) / trace)
        return replace(known, step=step, trace=path)

    for raw in text.splitlines():
        if m := _DONE.search(raw):
            log.status = m.group("status")
            continue
        m = _LINE.match(raw)
        if not m:
            continue
        who, line = m.group("who"), m.group("text")
        if "ERROR" in line or "Unexpected response" in line or "Error" in line:
            log.errors.append(line.strip())
        if who != "summary":
            if (s := _STEP.search(line)) and not who.endswith("induction"):
                log.last_step = int(s.group(1))
            if "Assumptions are unsatisfiable" in line or "PREUNSAT" in line:
                log.unsat_step = log.last_step or 0
            continue
        if t := _TRACE.match(line):
            part = "cover" if t.group("cover") else (t.group("part") or "basecase")
            trace, unreached_section = t.group("path").strip(), False
        elif line.strip() == "unreached cover statements:":
            unreached_section, trace = True, None
        elif f := _FAILED.match(line):
            step = int(f.group("step")) if f.group("step") else None
            (log.unproven if part == "induction" else log.failed).append(check(f, step))
        elif r := _REACHED.match(line):
            log.reached.append(check(r, int(r.group("step"))))
        elif unreached_section and (u := _UNREACHED.match(line)):
            log.unreached.append(check(u))
    return log


@dataclass(frozen=True)
class ProofResult:
    """What one run established.

    Attributes
    ----------
    status : {"PASS", "FAIL", "UNKNOWN", "ERROR"}
        PASS: proven (``prove``), no counterexample within the depth
        (``bmc``), every cover reached (``cover``).  FAIL: a counterexample,
        or a cover not reached.  UNKNOWN: induction did not close, or the
        timeout came first.  ERROR: the assumptions allow no behaviour at
        all (a vacuous harness).
    mode, depth
        As asked.
    method : str
        ``"k-induction depth N"``, ``"bounded, depth N"`` or ``"cover, depth N"``.
    seconds : float
        Wall time of the SymbiYosys run.
    steps : int or None
        Cycles checked from reset without a failure: ``depth`` when the run
        passed, the step of the first failure, or how far a timed-out run got.
    failed : tuple of Check
        Assertions with a counterexample (``trace`` is the VCD).
    unproven : tuple of Check
        Assertions whose induction step failed (``prove`` ending UNKNOWN).
    covers : tuple of Check
        Every cover, reached ones with their step, unreached ones with None.
    trace : pathlib.Path or None
        The counterexample of the first failed (or unproven) assertion.
    workdir : pathlib.Path or None
        The run's kept directory (None once a passing run is deleted).
    detail : str
        Why a run did not pass, in one line ("" when it passed).
    """

    status: str
    mode: str
    depth: int
    method: str
    seconds: float
    steps: int | None
    failed: tuple = ()
    unproven: tuple = ()
    covers: tuple = ()
    trace: Path | None = None
    workdir: Path | None = None
    detail: str = ""

    @property
    def passed(self):
        """True when the status is PASS."""
        return self.status == "PASS"

    @property
    def unreached(self):
        """The covers not reached within the depth."""
        return tuple(c for c in self.covers if c.step is None)

    @classmethod
    def from_log(cls, log, *, mode, depth, seconds, timeout, workdir):
        """The result of a run whose SymbiYosys log was read into ``log``."""
        method = {"prove": f"k-induction depth {depth}", "bmc": f"bounded, depth {depth}",
                  "cover": f"cover, depth {depth}"}[mode]
        status, detail = log.status, ""
        steps = depth if log.status in ("PASS", "FAIL") else log.last_step
        failed_steps = [c.step for c in log.failed if c.step is not None]
        if failed_steps:
            steps = min(failed_steps)           # the cycles before the first failure held
        if status == "TIMEOUT":
            status = "UNKNOWN"
            steps = log.last_step
            detail = (f"timed out after {timeout} s; cycles 0..{(steps or 1) - 1} were checked"
                      if steps else f"timed out after {timeout} s before the first cycle")
        elif status == "ERROR":
            detail = (f"the assumptions cannot all hold (from step {log.unsat_step} on): "
                      f"the harness allows no behaviour, so nothing is checked")
            steps = log.unsat_step
        elif status == "FAIL" and log.failed:
            detail = "failed: " + "; ".join(str(c) for c in log.failed)
        elif status == "FAIL" and log.unreached:
            detail = (f"not reached within {depth} cycles (a vacuous harness?): "
                      + "; ".join(c.name + f" ({c.src})" for c in log.unreached))
        elif status == "UNKNOWN" and log.unproven:
            detail = (f"the base case holds for {depth} cycles, but induction did not close: "
                      + "; ".join(c.name + f" ({c.src})" for c in log.unproven))
        covers = tuple(sorted(log.reached, key=lambda c: c.step)) + tuple(log.unreached)
        failing = log.failed or log.unproven
        return cls(status=status, mode=mode, depth=depth, method=method, seconds=seconds,
                   steps=steps, failed=tuple(log.failed), unproven=tuple(log.unproven),
                   covers=covers, trace=failing[0].trace if failing else None,
                   workdir=Path(workdir), detail=detail)

    def without_workdir(self):
        """This result once its directory is deleted (no paths into it)."""
        def drop(checks):
            return tuple(replace(c, trace=None) for c in checks)
        return replace(self, workdir=None, trace=None, failed=drop(self.failed),
                       unproven=drop(self.unproven), covers=drop(self.covers))

    def summary(self):
        """One line: status, method, wall time and, when it did not pass, why."""
        text = f"{self.status}  {self.method}  {self.seconds:.1f} s"
        if self.mode == "cover" and self.covers:
            reached = [c for c in self.covers if c.step is not None]
            text += f"  ({len(reached)}/{len(self.covers)} covers reached)"
        if self.detail:
            text += f"  -- {self.detail}"
        if self.workdir is not None and self.status != "PASS":
            text += f"  [kept: {self.workdir}]"
        return text
