"""``hetflow bench prove``: proof time and method of each kernel's contract.

Every kernel is proven at its default parameters; the built-ins once more in a
configuration that changes their structure (more lanes, taps or a tile shape),
as CI does.  Prints one row per proof and ``key=value`` totals.
"""

import time
from dataclasses import dataclass

from ..formal.proof import prove_kernel
from ..hw.registry import get_kernel

__all__ = ["STRUCTURAL", "ProofRow", "run_prove_bench", "print_report"]

#: The second configuration of each built-in: one that changes the core's structure.
STRUCTURAL = {
    "saxpy": {"lanes": 4},
    "dot": {"lanes": 4},
    "fir": {"taps": 3},
    "gemm": {"rows": 1, "cols": 1},
    "conv2d": {"signed": 1},
    "crc32": {"lanes": 1},
}


@dataclass(frozen=True)
class ProofRow:
    kernel: str
    params: dict
    passed: bool
    method: str
    jobs: tuple
    cover_s: float
    check_s: float
    seconds: float
    summary: str


def configurations(names):
    """``[(kernel, params)]``: defaults for every kernel, plus :data:`STRUCTURAL` for built-ins."""
    out = []
    for name in names:
        out.append((name, {}))
        if name in STRUCTURAL:
            out.append((name, dict(STRUCTURAL[name])))
    return out


def run_prove_bench(names, *, solver=None, status=None):
    """Prove each configuration of ``names``; a :class:`ProofRow` per proof."""
    rows = []
    for name, params in configurations(names):
        get_kernel(name)        # an unknown name fails before any proof runs
        started = time.monotonic()
        proof = prove_kernel(name, params, solver=solver, status=status)
        rows.append(ProofRow(proof.kernel, proof.params, proof.passed, proof.method,
                             proof.jobs, proof.cover.seconds, proof.check.seconds,
                             time.monotonic() - started, proof.summary()))
    return rows


def print_report(rows, console):
    """Print the table of the proofs, each failure's summary and the ``key=value`` totals."""
    from rich.table import Table

    table = Table(title="hetflow bench prove: the shell's contract, per kernel")
    for col in ("kernel", "params", "method", "jobs", "cover", "check", "total", "result"):
        table.add_column(col, justify="right" if col in ("cover", "check", "total") else "left")
    for r in rows:
        table.add_row(r.kernel, " ".join(f"{k}={v}" for k, v in r.params.items()), r.method,
                      ", ".join(r.jobs), f"{r.cover_s:.1f} s", f"{r.check_s:.1f} s",
                      f"{r.seconds:.1f} s", "PASS" if r.passed else "FAIL")
    console.print(table)
    for r in rows:
        if not r.passed:
            print(r.summary)
    print(f"proofs_passed={sum(r.passed for r in rows)}/{len(rows)}")
    print(f"prove_seconds_total={sum(r.seconds for r in rows):.1f}")
    print(f"prove_seconds_max={max(r.seconds for r in rows):.1f}")
