"""``python -m hetflow.formal``: prove the frame bridge's safety and print what was proven.

Every line of :data:`PLAN` is one SymbiYosys run of
:class:`~hetflow.formal.bridge.BridgeHarness`: the covers that show a
property set's harness reaches the states it is about, the bounded proofs,
and the mutants, which must fail naming their property.  The command prints
one line per run (status, method, wall time, covers or the failed property)
and exits 1 when a run ends otherwise than expected (its run directory is kept
and named; those of runs that ended as expected are deleted).
"""

import argparse
import os
import shutil
import sys

from .bridge import PROPERTY_SETS, BridgeHarness
from .runner import SOLVERS, run

#: Payload lengths of the scripted single frames of the CRC set.
FRAME_LENGTHS = tuple(range(0, 13))
#: Depth of the retry set's runs: its cover is reached at the last step, 97.
RETRY_DEPTH = 98
#: (label, property set, mode, depth, harness options, expected status).  Depths: the
#: bridge stores a frame whole, judges its CRC a cycle later and then reads it back a byte
#: a cycle, so a frame of L payload bytes is in at step 10 + L, its response begins eleven
#: cycles later when it has no request header (L < 5) and a request's bus access comes at
#: step 32 + L; on a free line the CRC set is proven to step 22 (the first response any
#: frame can get is at 21) and its covers reach the bus write of a 9-byte RESET at 41.
#: The retry set needs that RESET, its response (steps 42 to 56), the same frame again
#: from step 57 and the first byte of its answer, at step 97 (a test simulates this
#: schedule, the fastest the harness allows); the oversize set's idle timeout (16 cycles)
#: fits in 24.
PLAN = (
    ("crc: covers, free line", "crc", "cover", 44, {}, "PASS"),
    ("crc: free line", "crc", "bmc", 22, {}, "PASS"),
    ("crc: mutant forge_crc", "crc", "bmc", 22, {"mutation": "forge_crc"}, "FAIL"),
    ("crc: covers, one 9-byte frame", "crc", "cover", 44, {"frame": 9}, "PASS"),
    ("crc: mutant forge_crc, 9-byte frame", "crc", "bmc", 44,
     {"mutation": "forge_crc", "frame": 9}, "FAIL"),
    *((f"crc: one {n}-byte frame", "crc", "bmc", 35 + n, {"frame": n}, "PASS")
      for n in FRAME_LENGTHS),
    ("retry: covers", "retry", "cover", RETRY_DEPTH, {}, "PASS"),
    ("retry: free line", "retry", "bmc", RETRY_DEPTH, {}, "PASS"),
    ("retry: mutant forget_retry", "retry", "bmc", RETRY_DEPTH, {"mutation": "forget_retry"},
     "FAIL"),
    ("oversize: covers", "oversize", "cover", 24, {}, "PASS"),
    ("oversize: free line", "oversize", "bmc", 24, {}, "PASS"),
    ("oversize: mutant lax_limits", "oversize", "bmc", 24, {"mutation": "lax_limits"},
     "FAIL"),
)


def _short(check):
    file, _, line = check.src.rpartition(":")
    at = "NOT REACHED" if check.step is None else f"step {check.step}"
    return f"{check.name} ({os.path.basename(file)}:{line}) {at}"


def describe(result):
    """The covers reached, or the properties failed, of ``result`` in a few words."""
    if result.failed:
        return "; ".join(_short(c) for c in result.failed)
    if result.mode == "cover":
        return "; ".join(_short(c) for c in result.covers)
    return result.detail


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hetflow.formal", description=__doc__)
    parser.add_argument("--only", choices=PROPERTY_SETS, action="append",
                        help="run only this property set's lines (repeatable)")
    parser.add_argument("--solver", choices=list(SOLVERS), default="boolector",
                        help="SMT solver (default: boolector, 10-20x faster than z3 here)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds per run before it counts as UNKNOWN (default 1800)")
    args = parser.parse_args(argv)
    unexpected = 0
    total = 0.0
    for label, properties, mode, depth, options, expect in PLAN:
        if args.only and properties not in args.only:
            continue
        result = run(BridgeHarness(properties, **options), mode, depth, solver=args.solver,
                     timeout=args.timeout)
        total += result.seconds
        as_expected = result.status == expect
        unexpected += not as_expected
        kept = ""
        if result.workdir is not None:
            if as_expected:             # a mutant that failed as it must: nothing to look at
                shutil.rmtree(result.workdir, ignore_errors=True)
            else:
                kept = f"  [kept: {result.workdir}]"
        print(f"{'ok ' if as_expected else '!! '}{label:38} {result.status:7} "
              f"{result.method:20} {result.seconds:7.1f} s  {describe(result)}{kept}",
              flush=True)
    print(f"{total:.0f} s of proofs with {args.solver}; "
          f"{'all as expected' if not unexpected else f'{unexpected} not as expected'}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
