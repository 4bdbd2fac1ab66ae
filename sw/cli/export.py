"""Export a kernel's register map (JSON, C header) or its Verilog."""

from ..hw.errors import HetflowError
from ..hw.registry import get_kernel
from .common import add_param_argument, parse_params, write_output

FORMATS = ("regmap-json", "c-header", "verilog")


def add_arguments(parser):
    parser.add_argument("kernel", metavar="KERNEL", help="kernel name or module:Class")
    parser.add_argument("--format", "-f", required=True, metavar="FORMAT",
                        help="one of: " + ", ".join(FORMATS))
    add_param_argument(parser)
    parser.add_argument("--out", "-o", metavar="FILE", help="output file (default: stdout)")


def run(args):
    if args.format not in FORMATS:
        raise HetflowError(f"unknown format '{args.format}'; choose one of: {', '.join(FORMATS)}")
    kernel_cls = get_kernel(args.kernel)
    p = kernel_cls.bind(**parse_params(args.param))
    if args.format == "regmap-json":
        text = kernel_cls.regmap(p).to_json()
    elif args.format == "c-header":
        text = kernel_cls.regmap(p).to_c_header()
    else:
        from ..hw.verilog import to_verilog
        text = to_verilog(kernel_cls(**p))
    write_output(args.out, text)
    return 0
