"""Export a kernel's register map (JSON, C header), its Verilog, or a PYNQ IP.

``--format pynq-ip --board pynq-z1|pynq-z2 --out DIR`` writes the kernel with
AXI4-Lite/AXI4-Stream ports as Verilog, the Vivado Tcl that packages it and
builds the overlay, the host driver metadata and the design's hardware
handoff (``.hwh``).  ``--overlay FILE`` exports an overlay instead of a
kernel: one IP per instance, AXI DMAs for the unchained streams only.
Vivado does not run here: the scripts are generated and checked, not run.
"""

from ..hw.errors import HetflowError
from ..hw.registry import get_kernel
from ..hw.shell import Shell
from .common import add_param_argument, parse_params, write_output

FORMATS = ("regmap-json", "c-header", "verilog", "pynq-ip")


def add_arguments(parser):
    parser.add_argument("kernel", metavar="KERNEL", nargs="?",
                        help="kernel name or module:Class (or --overlay FILE)")
    parser.add_argument("--overlay", metavar="FILE",
                        help="pynq-ip only: export the overlay in FILE (TOML, see "
                             "docs/overlays.md) instead of a kernel")
    parser.add_argument("--format", "-f", required=True, metavar="FORMAT",
                        help="one of: " + ", ".join(FORMATS))
    add_param_argument(parser)
    parser.add_argument("--out", "-o", metavar="FILE|DIR",
                        help="output file (default: stdout); for pynq-ip a directory (required)")
    parser.add_argument("--board", metavar="BOARD",
                        help="pynq-ip only: pynq-z1 or pynq-z2")
    parser.add_argument("--freq", metavar="MHZ",
                        help="pynq-ip only: kernel clock FCLK_CLK0 in MHz (default: 100)")
    parser.add_argument("--force", action="store_true",
                        help="pynq-ip only: replace a previous export in DIR")


def run(args):
    if args.format not in FORMATS:
        raise HetflowError(f"unknown format '{args.format}'; choose one of: {', '.join(FORMATS)}")
    if args.format == "pynq-ip":
        return _run_pynq(args)
    for option, given in (("--board", args.board), ("--freq", args.freq),
                          ("--force", args.force), ("--overlay", args.overlay)):
        if given:
            raise HetflowError(f"{option} applies only to --format pynq-ip, "
                               f"not {args.format}")
    if args.kernel is None:
        raise HetflowError(f"--format {args.format} needs a KERNEL")
    kernel_cls = get_kernel(args.kernel)
    p = kernel_cls.bind(**parse_params(args.param))
    if args.format == "regmap-json":
        text = kernel_cls.regmap(p).to_json()
    elif args.format == "c-header":
        text = kernel_cls.regmap(p).to_c_header()
    else:
        from ..hw.verilog import to_verilog
        text = to_verilog(Shell(kernel_cls, **p))
    write_output(args.out, text)
    return 0


def _run_pynq(args):
    from ..boards.zynq import DEFAULT_MHZ, ZYNQ_BOARDS, check_board, export_pynq_ip

    if (args.kernel is None) == (args.overlay is None):
        raise HetflowError("--format pynq-ip exports a KERNEL or an --overlay FILE; give one "
                           "of them")
    if args.overlay is not None and args.param:
        raise HetflowError(f"--overlay takes the parameters of each instance from its file; "
                           f"drop --param {' '.join(args.param)}")
    if not args.board:
        raise HetflowError(f"--format pynq-ip needs --board ({' or '.join(ZYNQ_BOARDS)})")
    check_board(args.board)
    if args.out in (None, "-"):
        raise HetflowError("--format pynq-ip needs --out DIR (it writes several files)")
    freq = DEFAULT_MHZ if args.freq is None else args.freq
    if args.overlay is not None:
        from ..boards.zynq.overlay_export import export_overlay_pynq_ip
        from ..hw.overlay import load_overlay
        files = export_overlay_pynq_ip(load_overlay(args.overlay), args.out, board=args.board,
                                       freq_mhz=freq, force=args.force)
    else:
        files = export_pynq_ip(args.kernel, parse_params(args.param), args.out,
                               board=args.board, freq_mhz=freq, force=args.force)
    for path in files:
        print(path)
    print("note: Vivado does not run here; run package_ip.tcl, then build_overlay.tcl, "
          "with Vivado (see README.md in the directory)")
    return 0
