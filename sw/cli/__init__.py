"""The ``hetflow`` command line.

Each sub-command lives in its own module with two functions:
``add_arguments(parser)`` and ``run(args) -> int``.  This module only wires
them together and turns user errors into one line and a non-zero exit.
"""

import argparse
import os
import select
import sys

from ..hw.errors import HetflowError
from . import bench, demo, doctor, export, kernels, prove, run, verify
from . import calibrate, models, schedule
from . import new
from . import boards, build, program, report, serve

__all__ = ["main"]

COMMANDS = {
    "demo": demo,
    "kernels": kernels,
    "verify": verify,
    "prove": prove,
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
    "serve": serve,
}

EXIT_USAGE = 2
#: Exit status when the reader of stdout went away (Python's own status on EPIPE).
EXIT_BROKEN_PIPE = 1


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
        status = args._run(args)
        # Flush here, not at interpreter exit, so that a reader gone early is seen below.
        sys.stdout.flush()
        return status
    except HetflowError as exc:
        print(f"hetflow {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"hetflow {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise   # a pipe of ours to a tool or simulator broke: a real error
        # The reader of our output left (``hetflow kernels | head -1``): stop quietly as
        # the Python docs recommend (signal module, "Note on SIGPIPE").  Point stdout at
        # devnull so the interpreter's final flush cannot raise again, and exit 1 like
        # Python itself and rich (which the table commands print through) do on EPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _stdout_reader_gone():
    """True if stdout is a pipe or socket whose reading end is closed."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False    # replaced by an in-memory stream: not a pipe
    if not hasattr(select, "poll"):
        return True     # Windows: no way to ask; stdout is the usual cause
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    # POSIX: polling the writing end of a pipe with no reader reports POLLERR.
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


if __name__ == "__main__":
    sys.exit(main())
