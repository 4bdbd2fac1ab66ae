"""Serve a kernel's board SoC RTL on a pty: a serial board without hardware.

Builds (once, cached) the SoC that goes into the kernel's bitstream (kernel +
memory + DMA + the UART-to-bus frame bridge, minus the UART) with Verilator
and connects the bridge to a fresh pty.  Any host code can then use it as a
board: hetflow.open("serial:PTY").  The first line printed is the pty path;
Ctrl-C, SIGTERM or --seconds stops it (and the simulated board with it).
"""

import signal
import sys
import threading
import time

from ..hw.errors import HetflowError
from .common import add_param_argument, parse_params, progress


def add_arguments(parser):
    parser.add_argument("kernel", metavar="KERNEL", help="kernel name or module:Class")
    add_param_argument(parser)
    parser.add_argument("--memory", type=int, default=64 * 1024, metavar="BYTES",
                        help="bytes of SoC memory, a power of two (default: 65536)")
    parser.add_argument("--seconds", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..boards.serialsim import SerialSocSimulation
    from ..hw.registry import get_kernel

    if args.seconds is not None and not args.seconds > 0:
        raise HetflowError(f"--seconds {args.seconds:g} is out of range; allowed more than 0")
    cls = get_kernel(args.kernel)
    params = cls.bind(**parse_params(args.param))
    with progress(not args.quiet) as status:
        sim = SerialSocSimulation(cls(**params), memory_size=args.memory, status=status)
    handling = threading.current_thread() is threading.main_thread()
    if handling:
        # Stopped by a service manager or Popen.terminate(): leave through the `with`, so
        # that the board process and the pty are released.
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with sim:
            print(sim.port, flush=True)
            print(f"serving {cls.name}({', '.join(f'{k}={v}' for k, v in params.items())}) "
                  f"on {sim.port}: use hetflow.open('serial:{sim.port}'); Ctrl-C stops",
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
