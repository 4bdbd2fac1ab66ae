"""Serve a kernel's or an overlay's board design on a pty: a serial board without hardware.

Builds (once, cached) the design that goes into the bitstream (the kernel, or
with --overlay FILE the overlay's instances and FIFOs with its manifest ROM,
+ memory + DMA + the UART-to-bus frame bridge + the UART) with Verilator and
drives the UART's pins from a fresh pty, bit by bit at the line rate in
simulated SoC time, with the turnaround of the board's USB-UART chip.  Any
host code can then use it as a board: hetflow.open("serial:PTY").  The SoC
memory, clock and USB-UART chip are the board's (``--board``, default
icebreaker: 128 KiB, 12 MHz, FT2232H).  The first line printed is the pty
path; the second, on stderr, says what is served and names the file that
holds its SoC cycle count.  Ctrl-C, SIGTERM or --seconds stops it (and the
simulated board with it).
"""

import signal
import sys
import threading
import time

from ..hw.errors import HetflowError
from ..link.boardmap import KernelView
from .common import add_param_argument, parse_params, progress


def add_arguments(parser):
    from ..boards.serialline import DEFAULT_SERVED_BOARD
    from ..link.framing import DEFAULT_TURNAROUND_S
    parser.add_argument("kernel", metavar="KERNEL", nargs="?",
                        help="kernel name or module:Class (or --overlay FILE)")
    add_param_argument(parser)
    parser.add_argument("--overlay", metavar="FILE",
                        help="serve the overlay in FILE (TOML: instances and streams, see "
                             "docs/overlays.md) instead of one kernel")
    parser.add_argument("--board", "-b", default=DEFAULT_SERVED_BOARD, metavar="BOARD",
                        help=f"the board whose design is served: its memory size, clock and "
                             f"USB-UART chip (default: {DEFAULT_SERVED_BOARD}; see "
                             f"'hetflow boards')")
    parser.add_argument("--memory", type=int, default=None, metavar="BYTES",
                        help="bytes of SoC memory, a power of two (default: the board's, "
                             "e.g. 131072 for icebreaker)")
    parser.add_argument("--baud", type=int, default=None, metavar="N",
                        help="line rate of the served UART, 8N1 (default: the board's default "
                             "rate); the board clock must divide it within 2 %%")
    parser.add_argument("--turnaround-ms", type=float, default=DEFAULT_TURNAROUND_S * 1e3,
                        metavar="T",
                        help=f"latency timer of the modelled USB-UART: bytes the board sends "
                             f"reach the host when a USB packet is full or the line has been "
                             f"quiet for T ms (default: {DEFAULT_TURNAROUND_S * 1e3:g}; FTDI chips "
                             f"ship with 16; 0: at once)")
    parser.add_argument("--seconds", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..boards.registry import get_board
    from ..boards.serialsim import SerialSocSimulation

    if args.seconds is not None and not args.seconds > 0:
        raise HetflowError(f"--seconds {args.seconds:g} is out of range; allowed more than 0")
    board = get_board(args.board)
    memory = board.memory_size if args.memory is None else args.memory
    design, label = _design(args)
    with progress(not args.quiet) as status:
        sim = SerialSocSimulation(design(), board=board, memory_size=memory,
                                  baud=args.baud, turnaround_ms=args.turnaround_ms,
                                  status=status)
    handling = threading.current_thread() is threading.main_thread()
    if handling:
        # Stopped by a service manager or Popen.terminate(): leave through the `with`, so
        # that the board process and the pty are released.
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with sim:
            print(sim.port, flush=True)
            opened = "" if args.overlay is None else f", overlay={args.overlay!r}"
            mem = (f"{board.name}'s {memory // 1024} KiB {board.memory}" if args.memory is None
                   else f"{memory} bytes (--memory)")
            print(f"serving {label} on {sim.port} with {mem} of SoC memory at "
                  f"{sim.line.clock_hz / 1e6:g} MHz, "
                  f"{sim.line.describe()}; SoC cycles in {sim.clock_path}; use "
                  f"hetflow.open('serial:{sim.port}', baudrate={sim.line.baud}{opened}); Ctrl-C "
                  f"stops",
                  file=sys.stderr, flush=True)
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            while deadline is None or time.monotonic() < deadline:
                if not sim.running:
                    raise HetflowError(f"the simulated board of {sim.design.name} stopped "
                                       f"unexpectedly")
                time.sleep(0.1)
    finally:
        if handling:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _design(args):
    """``(make, label)``: what makes the served design (a Shell or an Overlay), checked now."""
    from ..hw.overlay import load_overlay
    from ..hw.registry import get_kernel

    if args.overlay is not None:
        if args.kernel is not None or args.param:
            given = "KERNEL" if args.kernel is not None else "--param"
            raise HetflowError(f"--overlay serves the instances its file lists; drop {given}")
        overlay = load_overlay(args.overlay).check()
        units = ", ".join(f"{name}={inst.kernel_cls.name}" for name, inst
                          in overlay.instances.items())
        return (lambda: overlay), f"overlay {overlay.name} ({units})"
    if args.kernel is None:
        raise HetflowError("name a KERNEL to serve, or an overlay with --overlay FILE")
    cls = get_kernel(args.kernel)
    params = cls.bind(**parse_params(args.param))
    label = f"{cls.name}({', '.join(f'{k}={v}' for k, v in params.items())})"
    return (lambda: KernelView.of(cls, params)), label


def _stop(signum, frame):
    raise SystemExit(0)
