"""Build a kernel, or an overlay, into a bitstream for a board (Yosys + nextpnr, YoWASP by default).

Synthesises the kernel (or with --overlay FILE the overlay's instances, the
FIFOs of its streams and its manifest ROM) inside the board SoC (+ memory +
DMA + host bridge), writes the bitstream, the tool logs and report.json to
--out, and prints the report.  Unchanged builds come from the cache.
"""

import json

from ..hw.errors import HetflowError
from .common import add_param_argument, parse_params, progress


def add_arguments(parser):
    parser.add_argument("kernel", metavar="KERNEL", nargs="?",
                        help="kernel name or module:Class (or --overlay FILE)")
    parser.add_argument("--overlay", metavar="FILE",
                        help="build the overlay in FILE (TOML: instances and streams, see "
                             "docs/overlays.md) instead of one kernel; the report has a "
                             "component per instance")
    parser.add_argument("--board", "-b", required=True, metavar="BOARD",
                        help="board name (see 'hetflow boards')")
    add_param_argument(parser)
    parser.add_argument("--freq", type=float, metavar="MHZ",
                        help="SoC clock in MHz (default: the board oscillator; "
                             "another value adds a PLL)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: 1)")
    parser.add_argument("--baud", type=int, default=None,
                        help="line speed of the UART bridge, 8N1 (default: the fastest rate "
                             "the board's USB-UART chip and the SoC clock both make, see "
                             "'hetflow boards'); hetflow.open('serial:PORT', board=OUT) "
                             "reads it from the build")
    parser.add_argument("--toolchain", default="yowasp", metavar="yowasp|native",
                        help="YoWASP tools from PyPI (default; a native tool on PATH stands "
                             "in for one that is missing) or native tools on PATH only")
    parser.add_argument("--out", "-o", metavar="DIR",
                        help="output directory (default: build/KERNEL-PARAMS-BOARD, e.g. "
                             "build/saxpy-lanes1-icebreaker; an overlay: "
                             "build/OVERLAY-BOARD)")
    parser.add_argument("--dry-run", "-n", action="store_true",
                        help="check the arguments, find the tools and key the build; print "
                             "what would run and write nothing")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print JSON")
    parser.add_argument("--no-cache", action="store_true", help="rebuild even if unchanged")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..boards.build import build
    from .report import print_report

    if args.seed < 0:
        raise HetflowError(f"--seed {args.seed} is out of range; allowed 0 or more")
    if args.freq is not None and not args.freq > 0:
        raise HetflowError(f"--freq {args.freq:g} is out of range; allowed a frequency "
                           f"above 0 MHz")
    params = parse_params(args.param)
    if args.json and not args.dry_run:
        raise HetflowError("--json goes with --dry-run; a build prints its report, and "
                           "writes it as report.json in the output directory")
    if args.dry_run:
        return _dry_run(args, params)
    out = args.out
    with progress(not args.quiet) as status:
        result = build(args.kernel, args.board, params=params, freq_mhz=args.freq,
                       seed=args.seed, toolchain=args.toolchain, out_dir=out, status=status,
                       use_cache=not args.no_cache, baud=args.baud, overlay=args.overlay)
    print_report(result.report, title=f"hetflow build: {result.out_dir}")
    if not result.report["timing_met"]:
        print(f"warning: Fmax {result.report['fmax_mhz']} MHz is below the "
              f"{result.report['target_mhz']:g} MHz target")
    return 0


def _dry_run(args, params):
    from ..boards.build import dry_run
    plan = dry_run(args.kernel, args.board, params=params, freq_mhz=args.freq, seed=args.seed,
                   toolchain=args.toolchain, baud=args.baud, out_dir=args.out,
                   overlay=args.overlay)
    if args.json:
        print(json.dumps(plan, indent=2))
        return 0
    print(f"would build {plan['label']} for {plan['board']} into {plan['out_dir']}")
    for name, tool in plan["tools"].items():
        print(f"  {tool['env']:<20} {tool['path']}  ({tool['source']}; {tool['version']})")
    print(f"  serial bridge at {plan['baud']:,} baud (8N1)")
    for note in plan["notes"]:
        print(f"  note: {note}")
    print(f"  cache key {plan['cache_key']}: "
          + ("cached, would be copied" if plan["cached"] else "not cached, would run the tools"))
    return 0
