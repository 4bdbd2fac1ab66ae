"""Prove that kernels keep the shell's stream and register contract (SymbiYosys).

For each kernel in its shell, with the host's writes, the input streams and the
output back-pressure left free, checks on every input sequence, bounded to a
depth that covers the kernel's small jobs from reset to finish: outputs hold
valid and payload until ready; no beat moves outside a job or beyond it; finish
comes after the last output beat; busy, done, the registers and the cycle counter
follow the register contract; an eager job finishes within its cycle bound.  A
cover run first shows the harness reaches a finished job.  Ends with a line
starting with PASS or FAIL.
"""

import json
import sys

from ..hw.registry import kernel_names
from .common import add_param_argument, parse_params, progress


def add_arguments(parser):
    parser.add_argument("kernels", nargs="*", metavar="KERNEL",
                        help="kernel name or module:Class (default: every registered kernel)")
    add_param_argument(parser)
    parser.add_argument("--depth", type=int, default=None,
                        help="cycles to check from reset (default: enough for the kernel's "
                             "longest small job)")
    parser.add_argument("--solver", choices=("z3", "boolector"), default=None,
                        help="SMT solver (default: boolector when installed, else z3)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per SymbiYosys run (default: none)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..formal.proof import prove_kernel
    from ..hw.errors import HetflowError

    if args.depth is not None and args.depth < 1:
        raise HetflowError(f"--depth {args.depth} is out of range; allowed 1 or more")
    if args.timeout is not None and args.timeout <= 0:
        raise HetflowError(f"--timeout {args.timeout} is out of range; allowed above 0")
    params = parse_params(args.param)
    names = args.kernels or kernel_names()
    if params and len(names) != 1:
        raise HetflowError("--param needs exactly one kernel")
    results = []
    with progress(not args.quiet) as status:
        for name in names:
            result = prove_kernel(name, params, depth=args.depth, solver=args.solver,
                                  timeout=args.timeout, status=status)
            results.append(result)
            if not args.json:
                print(result.summary())
                sys.stdout.flush()
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    elif len(results) > 1:
        failed = [r.kernel for r in results if not r.passed]
        print(f"{'FAIL' if failed else 'PASS'} {len(results) - len(failed)}/{len(results)} "
              f"kernels proven" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0 if all(r.passed for r in results) else 1
