"""Serve a kernel's board SoC RTL on a pty: a serial board without hardware.

Builds (once, cached) the SoC that goes into the kernel's bitstream (kernel +
memory + DMA + the UART-to-bus frame bridge, minus the UART) with Verilator
and connects the bridge to a fresh pty.  Any host code can then use it as a
board: hetflow.open("serial:PTY").  The SoC memory is the board's
(``--board``, default icebreaker: 128 KiB), so a call that would not fit the
board does not fit here either.  The first line printed is the pty path;
Ctrl-C, SIGTERM or --seconds stops it (and the simulated board with it).
"""

import signal
import sys
import threading
import time

from ..hw.errors import HetflowError
from ..hw.shell import Shell
from .common import add_param_argument, parse_params, progress

#: The board ``hetflow serve`` stands in for when none is named (128 KiB of SPRAM).
DEFAULT_SERVED_BOARD = "icebreaker"


def add_arguments(parser):
    parser.add_argument("kernel", metavar="KERNEL", help="kernel name or module:Class")
    add_param_argument(parser)
    parser.add_argument("--board", "-b", default=DEFAULT_SERVED_BOARD, metavar="BOARD",
                        help=f"the board whose SoC is served: its memory size (default: "
                             f"{DEFAULT_SERVED_BOARD}; see 'hetflow boards')")
    parser.add_argument("--memory", type=int, default=None, metavar="BYTES",
                        help="bytes of SoC memory, a power of two (default: the board's, "
                             "e.g. 131072 for icebreaker)")
    parser.add_argument("--seconds", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..boards.registry import get_board
    from ..boards.serialsim import SerialSocSimulation
    from ..hw.registry import get_kernel

    if args.seconds is not None and not args.seconds > 0:
        raise HetflowError(f"--seconds {args.seconds:g} is out of range; allowed more than 0")
    board = get_board(args.board)
    memory = board.memory_size if args.memory is None else args.memory
    cls = get_kernel(args.kernel)
    params = cls.bind(**parse_params(args.param))
    with progress(not args.quiet) as status:
        sim = SerialSocSimulation(Shell(cls, **params), memory_size=memory, status=status)
    handling = threading.current_thread() is threading.main_thread()
    if handling:
        # Stopped by a service manager or Popen.terminate(): leave through the `with`, so
        # that the board process and the pty are released.
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with sim:
            print(sim.port, flush=True)
            mem = (f"{board.name}'s {memory // 1024} KiB {board.memory}" if args.memory is None
                   else f"{memory} bytes (--memory)")
            print(f"serving {cls.name}({', '.join(f'{k}={v}' for k, v in params.items())}) "
                  f"on {sim.port} with {mem} of SoC memory: use "
                  f"hetflow.open('serial:{sim.port}'); Ctrl-C stops",
                  file=sys.stderr, flush=True)
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            while deadline is None or time.monotonic() < deadline:
                if not sim.running:
                    raise HetflowError(f"the simulated board of {cls.name} stopped "
                                       f"unexpectedly")
                time.sleep(0.1)
    finally:
        if handling:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _stop(signum, frame):
    raise SystemExit(0)
