"""The board's design in Verilator, its UART pins driven from a pty at the line rate.

A board's bitstream holds :class:`~hetflow.boards.soc.SoC` (a kernel or an
overlay + memory + DMA), the frame bridge of :mod:`hetflow.boards.bridge` and the UART of
:mod:`hetflow.boards.uart`, as :class:`~hetflow.boards.top.BoardTop` joins
them.  :class:`SerialSoC` is that design with the UART's ``rx`` and ``tx``
pins as its ports.  :class:`SerialSocSimulation` compiles it with Verilator
(cached like the virtual board) into a process (``templates/serial_line.cpp``)
that drives those pins from the master side of a pty: bytes the host writes
are shifted onto ``rx`` bit by bit, ``CLOCK_HZ / BAUD`` simulated cycles a
bit, and the bits the UART sends on ``tx`` are assembled into bytes, held as
a USB-UART chip holds them (:mod:`hetflow.boards.serialline`) and passed to the
host.  ``hetflow.open("serial:" + sim.port)`` then drives the very RTL that
goes onto the board, through the serial backend's real code path, and every
timing the line shows is the board's: the simulation's cycle count is the
clock, published for any process to read (:mod:`hetflow.boards.socclock`).

The process clocks the design while anything is under way (a byte on the
line or held in the USB-UART, a frame in the bridge), and sleeps in
``poll()`` while the line and the bridge are idle (a started kernel then
pauses too; ``RUN`` clocks it again, so only the wall time changes).  It
exits on ``SIGTERM``, when its parent process changes, or when its input is a
pipe that reaches end of file.
"""

import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
import tty
from importlib import resources

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..hw.errors import HetflowError
from ..hw.overlay import Overlay
from ..hw.shell import Shell
from ..hw.verilog import to_verilog
from ..link.framing import Frame, FrameDecoder, encode_frame
from ..sim.board.harness import build_executable
from .bridge import FrameBridge
from .registry import get_board
from ..link.framing import DEFAULT_TURNAROUND_S
from .serialline import DEFAULT_SERVED_BOARD, LineTiming
from .usbuart import default_baud
from .soc import SoC
from .socclock import MAGIC, SocClock, create_clock_file
from .top import IDLE_GAP_S
from .uart import UART, check_divisor, divisor_for

__all__ = ["SerialSoC", "SerialSocSimulation", "SerialSimError", "build_serial_soc"]
#: Seconds the process may take to come up and publish its clock.
_START_TIMEOUT = 30.0


class SerialSimError(HetflowError, RuntimeError):
    """The simulated serial board could not be started."""


class SerialSoC(wiring.Component):
    """SoC + frame bridge + UART, with the UART's pins as ports.

    Parameters
    ----------
    design : KernelView or Overlay
        A kernel's description (:meth:`KernelView.of <hetflow.link.boardmap.KernelView.of>`),
        or an overlay: descriptions, whose hardware is made once every check has passed.
    memory_size : int
        Bytes of SoC memory (block RAM).
    divisor : int
        Clock cycles per bit of the UART (:func:`~hetflow.boards.uart.divisor_for`).
    idle_cycles : int
        The bridge's idle gap (see :class:`~hetflow.boards.bridge.FrameBridge`).

    Members
    -------
    rx : In(1)
        The UART's receive pin (idles high).
    tx : Out(1)
        The UART's transmit pin (idles high).
    busy : Out(1)
        Something is under way: the bridge is receiving, executing or answering a
        frame, or the UART holds a received byte or is sending one.
    """

    def __new__(cls, design, memory_size, divisor, idle_cycles):
        # Checked before anything is made, so a refused design leaves no unused elaboratable.
        SoC.check(design, "bram", memory_size)
        check_divisor(divisor)
        return super().__new__(cls)

    def __init__(self, design, memory_size, divisor, idle_cycles):
        self.design = design
        hardware = design if isinstance(design, Overlay) else Shell(design.kernel_cls,
                                                                     **design.p)
        self.soc = SoC(hardware, memory="bram", memory_size=memory_size)
        self.bridge = FrameBridge.for_soc(self.soc, idle_cycles=idle_cycles)
        self.uart = UART(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.soc = self.soc
        m.submodules.bridge = bridge = self.bridge
        m.submodules.uart = uart = self.uart
        wiring.connect(m, bridge.bus, self.soc.bus)
        wiring.connect(m, uart.out, bridge.rx)
        wiring.connect(m, bridge.tx, uart.inp)
        m.d.comb += [
            uart.rx.eq(self.rx),
            self.tx.eq(uart.tx),
            self.busy.eq(bridge.busy | uart.out.valid | uart.inp.valid | ~uart.inp.ready),
        ]
        return m


#: Builds this process has made or found, by design: the binary is cached by the hash of
#: the design's Verilog, and converting the design to Verilog to find it takes seconds.
_BUILT = {}


def design_key(design):
    """What identifies ``design`` (a KernelView or an Overlay) among the designs of this
    process."""
    if isinstance(design, Overlay):
        return ("overlay", design.name,
                tuple((name, inst.kernel_cls, tuple(sorted(inst.params.items())))
                      for name, inst in design.instances.items()),
                tuple((s.source, s.sink, s.depth, bool(s.reinterpret)) for s in design.streams))
    return (design.kernel_cls, tuple(sorted(design.p.items())))


def build_serial_soc(design, memory_size, clock_hz, baud, status=None):
    """Build (or reuse) the Verilator binary of :class:`SerialSoC`; a ``BoardBuild``.

    ``design`` is a kernel's KernelView or an Overlay.  The UART's divisor comes
    from ``clock_hz`` and ``baud``, the bridge's idle gap is the board's
    (:data:`~hetflow.boards.top.IDLE_GAP_S`).
    """
    key = (design_key(design), memory_size, clock_hz, baud)
    if key in _BUILT and _BUILT[key].executable.exists():
        return _BUILT[key]
    soc = SerialSoC(design, memory_size=memory_size, divisor=divisor_for(clock_hz, baud),
                    idle_cycles=max(16, round(clock_hz * IDLE_GAP_S)))
    top = f"hetflow_serial_{design.name}"
    text = to_verilog(soc, name=top)
    main = (resources.files(__package__) / "templates" / "serial_line.cpp").read_text()
    _BUILT[key] = build = build_executable(
        name=f"serial-{design.name}", what=f"the serial SoC of {design.name}", top=top,
        verilog_text=text, cpp_text=main, status=status)
    return build


class SerialSocSimulation:
    """:class:`SerialSoC` of ``design`` running in Verilator behind a fresh pty.

    Use as a context manager, or call :meth:`close`.

    Parameters
    ----------
    design : KernelView or Overlay
        A kernel's description, or an overlay (its instances' windows, DMA
        channels and manifest as :class:`~hetflow.link.boardmap.BoardMap`
        says).
    board : str or Board
        The board the design stands in for: its clock, its memory and its
        USB-UART chip (default :data:`DEFAULT_SERVED_BOARD`).
    memory_size : int, optional
        Bytes of SoC memory (default: the board's).
    baud : int, optional
        The line rate (default: the board's default rate).
    turnaround_ms : float
        The USB-UART's latency timer (:mod:`hetflow.boards.serialline`); 0
        passes every byte on at once, as a bare pty.
    status : callable, optional
        One-line progress messages (the first build takes a while).
    rx_filter, tx_filter : callable, optional
        ``bytes -> bytes`` applied to every chunk the host sends and to every
        response frame the bridge sends: a noisy line, for tests.  With
        either, a thread relays the bytes between the pty and the process's
        pipes; without, the process owns the pty directly.

    Attributes
    ----------
    port : str
        The pty's path: open it with ``hetflow.open("serial:" + port)``.
    line : LineTiming
        Clock, baud rate, turnaround and USB-UART chip of the served line.
    clock_path : str
        The SoC clock file (:class:`~hetflow.boards.socclock.SocClock` reads it).
    clock : SocClock
        That file, open.
    """

    def __init__(self, design, board=DEFAULT_SERVED_BOARD, memory_size=None, baud=None,
                 turnaround_ms=DEFAULT_TURNAROUND_S * 1e3, status=None, rx_filter=None,
                 tx_filter=None):
        self.design = design
        self._proc = self.clock = None
        self.board = get_board(board)
        self.memory_size = self.board.memory_size if memory_size is None else memory_size
        clock_hz = round(self.board.clock_mhz * 1e6)
        baud = default_baud(self.board, clock_hz) if baud is None else baud
        self.line = LineTiming(clock_hz, baud, turnaround_ms, self.board.usb_uart)
        divisor_for(clock_hz, baud)
        self.build = build_serial_soc(design, self.memory_size, clock_hz, baud, status=status)
        self.clock_path = create_clock_file()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)          # no echo, no CR/LF mangling: a byte line
        tty.setraw(self._master)
        self.port = os.ttyname(self._slave)
        self._log = tempfile.TemporaryFile(prefix="hetflow-serial-soc-")
        relay = rx_filter is not None or tx_filter is not None
        self._relay = None
        self._stop = threading.Event()
        line = self.line
        try:
            self._proc = subprocess.Popen(
                [str(self.build.executable), str(os.getpid()), self.clock_path,
                 str(line.clock_hz), str(line.baud), str(line.turnaround_cycles),
                 str(line.chip.packet_data)],
                stdin=subprocess.PIPE if relay else self._master,
                stdout=subprocess.PIPE if relay else self._master,
                stderr=self._log, start_new_session=True)
        except OSError as exc:
            self._close_fds()
            raise SerialSimError(f"serial SoC of {design.name}: cannot start "
                                 f"{self.build.executable}: {exc}") from None
        try:
            self.clock = self._wait_for_clock()
        except BaseException:
            self.close()
            raise
        if relay:
            self._relay = threading.Thread(target=self._serve_relay,
                                           args=(rx_filter, tx_filter), daemon=True,
                                           name="hetflow-serial-soc-relay")
            self._relay.start()

    def _wait_for_clock(self):
        """The clock file once the process has published it (it is then out of reset)."""
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.clock_path, "rb") as f:
                if f.read(len(MAGIC)) == MAGIC:
                    return SocClock(self.clock_path)
            if self._proc.poll() is not None:
                self._log.seek(0)
                said = self._log.read().decode(errors="replace").strip()
                raise SerialSimError(f"serial SoC of {self.design.name}: the simulation "
                                     f"exited with status {self._proc.returncode} before it "
                                     f"started" + (f": {said}" if said else ""))
            time.sleep(0.01)
        raise SerialSimError(f"serial SoC of {self.design.name}: the simulation did not start "
                             f"within {_START_TIMEOUT:g} s")

    def _serve_relay(self, rx_filter, tx_filter):
        rx_filter = rx_filter or (lambda data: data)
        tx_filter = tx_filter or (lambda data: data)
        to_proc, from_proc = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        frames = FrameDecoder()          # the bridge's output is well formed: whole frames
        with selectors.DefaultSelector() as sel:
            sel.register(self._master, selectors.EVENT_READ)
            sel.register(from_proc, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    try:
                        data = os.read(key.fd, 1 << 16)
                    except OSError:
                        data = b""
                    if key.fd == from_proc:
                        if not data:
                            return                          # the process ended
                        for event in frames.feed(data):
                            if isinstance(event, Frame):
                                out = tx_filter(encode_frame(event.seq, event.payload))
                                if out:
                                    os.write(self._master, out)
                    elif data:
                        data = rx_filter(data)
                        if data:
                            os.write(to_proc, data)

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def _close_fds(self):
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1
        self._log.close()
        if self.clock is not None:
            self.clock.close()
        try:
            os.unlink(self.clock_path)
        except OSError:
            pass

    def close(self):
        """Stop the process and release the pty."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self._stop.set()
            if self._relay is not None:
                self._relay.join(5)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._close_fds()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
