"""The ``hetflow`` command line.

Each sub-command lives in its own module with two functions:
``add_arguments(parser)`` and ``run(args) -> int``.  This module only wires
them together and turns user errors into one line and a non-zero exit.
"""

import argparse
import sys

from ..hw.errors import HetflowError
from . import bench, demo, doctor, export, kernels, run, verify
from . import calibrate, models, schedule
from . import new
from . import boards, build, program, report

__all__ = ["main"]

COMMANDS = {
    "demo": demo,
    "kernels": kernels,
    "verify": verify,
    "export": export,
    "doctor": doctor,
    "run": run,
    "bench": bench,
    "schedule": schedule,
    "models": models,
    "calibrate": calibrate,
    "new": new,
    "build": build,
    "boards": boards,
    "report": report,
    "program": program,
}

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage; one line is enough to say what is wrong.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="hetflow",
                     description="Hardware/software co-design for FPGA acceleration.")
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"hetflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=doc, description=(module.__doc__ or "").strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args._run(args)
    except HetflowError as exc:
        print(f"hetflow {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"hetflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
