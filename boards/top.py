"""The board top: clock/reset + the SoC + the UART-to-bus bridge that drives it.

What goes into a board's bitstream::

    uart pins <-> UART (hetflow.boards.uart) <-> FrameBridge (hetflow.boards.bridge)
                                                     | host bus
                                          SoC (kernel or overlay + memory + DMA)

The serial backend (``hetflow.open("serial:/dev/ttyUSB1")``) talks to it.
With the UART's pins as ports this is :class:`~hetflow.boards.serialsim.SerialSoC`,
which the tests run in Verilator behind a pty, so the protocol a board
speaks, and its timing, is proven before a bitstream exists.
"""

from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import wiring

from .bridge import FrameBridge
from .clocking import PLLClockReset, soc_clock_mhz
from .soc import SoC
from .uart import UARTPins
from .usbuart import check_baud, default_baud

__all__ = ["BoardTop", "IDLE_GAP_S"]

#: Seconds of line silence after which the bridge drops a partial frame: well
#: above USB-UART latency (a few ms), well below the host's 1 s retry timeout.
IDLE_GAP_S = 0.05


class BoardTop(Elaboratable):
    """Everything that goes into a board's bitstream.

    Parameters
    ----------
    design : Shell or Overlay
        The kernel instance, or an overlay.
    board : Board
        From :mod:`hetflow.boards.registry`.
    pll : PLLSetting or None
        ``None`` runs the SoC on the board oscillator (the platform's own
        clock/reset); otherwise the SoC clock comes from this PLL setting.
    baud : int, optional
        Line speed of the UART (default: the board's top rate,
        :func:`~hetflow.boards.usbuart.default_baud`); the divisor comes from
        the SoC clock.  A rate the board's USB-UART chip or the clock cannot
        make (the clock's within 2 %) is refused with
        :class:`~hetflow.boards.usbuart.BaudError`.
    memory_size : int, optional
        Bytes of SoC memory (default: the board's).
    """

    def __init__(self, design, board, pll=None, baud=None, memory_size=None):
        self.design = design
        self.board = board
        self.pll = pll
        self.clock_hz = soc_clock_mhz(board, pll) * 1e6
        self.baud = default_baud(board, self.clock_hz) if baud is None else baud
        self.divisor = check_baud(board, self.clock_hz, self.baud)
        self.soc = SoC(design, memory=board.memory,
                       memory_size=memory_size or board.memory_size)

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            m.domains.sync = ClockDomain("sync")
            m.submodules.clocking = PLLClockReset(self.pll, platform.default_clk)
        m.submodules.soc = self.soc
        m.submodules.uart = uart = UARTPins(self.divisor)
        m.submodules.bridge = bridge = FrameBridge.for_soc(
            self.soc, idle_cycles=max(16, round(self.clock_hz * IDLE_GAP_S)))
        wiring.connect(m, bridge.bus, self.soc.bus)
        wiring.connect(m, uart.out, bridge.rx)
        wiring.connect(m, bridge.tx, uart.inp)
        return m
