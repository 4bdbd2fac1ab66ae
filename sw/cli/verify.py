"""Verify kernels against their golden models in simulation (cocotb).

Runs edge-case and random stimuli through the kernel with random valid gaps
and ready back-pressure and compares every output with the golden model.
With --netlist BOARD, the same cases also run through the kernel's
post-synthesis netlist for BOARD (the board build's Yosys synthesis, the
family's cell models), which must match the golden model in the RTL's cycles.
With --overlay FILE, every chain and instance of the overlay runs at once
through its fabric and is compared with the composed golden models.
Ends with a line starting with PASS or FAIL.
"""

import sys

from ..hw.registry import kernel_names
from .common import add_param_argument, parse_params, progress


def add_arguments(parser):
    parser.add_argument("kernels", nargs="*", metavar="KERNEL",
                        help="kernel name or module:Class (default: every registered kernel)")
    parser.add_argument("--sim", default="verilator", choices=("verilator", "icarus"),
                        help="simulator (default: verilator)")
    parser.add_argument("--seed", type=int, default=1, help="stimulus seed (default: 1)")
    parser.add_argument("--count", type=int, default=20,
                        help="number of cases per kernel (default: 20)")
    add_param_argument(parser)
    parser.add_argument("--waves", action="store_true",
                        help="write a waveform of the whole run (always written for a failure)")
    parser.add_argument("--netlist", metavar="BOARD",
                        help="also simulate the kernel's post-synthesis netlist for BOARD "
                             "(an iCE40 or ECP5 board, see 'hetflow boards'); verilator only")
    parser.add_argument("--overlay", metavar="FILE",
                        help="verify the overlay in FILE (TOML: instances and streams, see "
                             "docs/overlays.md) instead of kernels")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..sim.verify import verify
    from ..hw.errors import HetflowError

    if args.count < 1:
        raise HetflowError(f"--count {args.count} is out of range; allowed 1 or more")
    if args.seed < 0:
        raise HetflowError(f"--seed {args.seed} is out of range; allowed 0 or more")
    if args.overlay is not None:
        return _run_overlay(args)
    params = parse_params(args.param)
    names = args.kernels or kernel_names()
    if params and len(names) != 1:
        raise HetflowError("--param needs exactly one kernel")
    if args.netlist is not None:
        return _run_netlist(args, names, params)
    results = []
    with progress(not args.quiet) as status:
        for name in names:
            r = verify(name, params, sim=args.sim, seed=args.seed, count=args.count,
                       waves=args.waves, status=status)
            results.append(r)
            _details(r)
            if len(names) > 1:
                print(r.summary())
            sys.stdout.flush()
    if len(names) == 1:
        print(results[0].summary())
    else:
        failed = [r.kernel for r in results if not r.passed]
        verdict = "FAIL" if failed else "PASS"
        print(f"{verdict} {len(results) - len(failed)}/{len(results)} kernels, seed {args.seed}, "
              f"{args.sim}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0 if all(r.passed for r in results) else 1


def _details(r):
    """Errors, first mismatches, log and waveform of one run (a VerifyResult)."""
    if not r.passed:
        for err in r.errors:
            print(f"  error: {err}")
        for m in r.mismatches[:10]:
            print(f"  mismatch: {m}")
        if r.log:
            print(f"  log: {r.log}")
    if r.waves:
        print(f"  waveform: {r.waves}")


def _run_netlist(args, names, params):
    """``--netlist BOARD``: RTL and netlist of each kernel, the netlist's verdict last."""
    from ..boards.netlist import netlist_board
    from ..boards.netlistsim import verify_netlist
    from ..hw.errors import HetflowError

    board = netlist_board(args.netlist)             # before anything runs
    if args.sim != "verilator":
        raise HetflowError(f"--netlist simulates with verilator only; drop --sim {args.sim}")
    results = []
    with progress(not args.quiet) as status:
        for name in names:
            r = verify_netlist(name, board.name, params, seed=args.seed, count=args.count,
                               waves=args.waves, status=status)
            results.append(r)
            print(r.rtl.summary())
            _details(r.rtl)
            if r.netlist is not None:
                print(r.netlist.summary())
                _details(r.netlist)
                print(f"  {r.timings()}")
            print(r.summary())
            sys.stdout.flush()
    if len(names) > 1:
        failed = [r.kernel for r in results if not r.passed]
        print(f"{'FAIL' if failed else 'PASS'} {len(results) - len(failed)}/{len(results)} "
              f"kernels, RTL and {board.name} netlist, seed {args.seed}"
              + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0 if all(r.passed for r in results) else 1


def _run_overlay(args):
    """``--overlay FILE``: every chain and instance at once, then the verdict."""
    from ..hw.errors import HetflowError
    from ..sim.overlay_verify import verify_overlay

    if args.kernels or args.param or args.netlist is not None:
        given = "KERNEL" if args.kernels else "--param" if args.param else "--netlist"
        raise HetflowError(f"--overlay verifies the instances its file lists; drop {given}")
    with progress(not args.quiet) as status:
        r = verify_overlay(args.overlay, sim=args.sim, seed=args.seed, count=args.count,
                           waves=args.waves, status=status)
    for failure in r.failures[:10]:
        print(f"  {failure}")
    if r.failures and r.log:
        print(f"  log: {r.log}")
    print(r.summary())
    return 0 if r.passed else 1
