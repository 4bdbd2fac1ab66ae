"""The board top: clock/reset + the SoC + whatever drives its host bus.

The host bus is driven by a *bridge*: any elaboratable with a ``bus`` member of
``Out(HostBusSignature())`` that requests its own pins from the platform.
:class:`BoardTop` takes a bridge factory, ``bridge(platform_board) ->
bridge``; the UART bridge of the serial backend plugs in there.

Until it exists, builds use :class:`PinShiftBridge`, a stand-in that is *not a
protocol*: it shifts a 57-bit command in from the UART's rx pin and the read
data out on tx, so every bus bit depends on a pin and every result reaches
one.  Without some such driver, synthesis would remove the whole SoC (nothing
would be observable); with it, the resources and Fmax of a build are those of
the kernel + DMA + memory plus about a hundred flip-flops.
"""

from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import Out

from .clocking import PLLClockReset
from .soc import ADDR_WIDTH, HostBusSignature, SoC

__all__ = ["BoardTop", "PinShiftBridge", "COMMAND_BITS"]

COMMAND_BITS = ADDR_WIDTH + 32 + 4 + 2


class PinShiftBridge(wiring.Component):
    """Stand-in host bridge for synthesis (see the module doc).

    Command bits, first in first: ``addr`` (19), ``w_data`` (32), ``w_sel``
    (4), ``w_stb``, ``r_stb``; the command is issued every ``COMMAND_BITS``
    cycles, and ``r_data`` of the previous read is shifted out LSB first.
    """

    def __init__(self, uart="uart"):
        self.uart = uart
        super().__init__({"bus": Out(HostBusSignature())})

    def elaborate(self, platform):
        m = Module()
        pins = platform.request(self.uart, 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", pins.rx)
        m.submodules.tx = tx = io.Buffer("o", pins.tx)
        cmd = Signal(COMMAND_BITS)
        count = Signal(range(COMMAND_BITS))
        resp = Signal(32)
        m.d.sync += cmd.eq(Cat(cmd[1:], rx.i))
        issue = count == COMMAND_BITS - 1
        with m.If(issue):
            m.d.sync += count.eq(0)
        with m.Else():
            m.d.sync += count.eq(count + 1)
        bus = self.bus
        fields = [bus.addr, bus.w_data, bus.w_sel]
        pos = 0
        for f in fields:
            m.d.comb += f.eq(cmd[pos:pos + len(f)])
            pos += len(f)
        m.d.comb += [bus.w_stb.eq(issue & cmd[pos]), bus.r_stb.eq(issue & cmd[pos + 1])]
        with m.If(count == 1):
            m.d.sync += resp.eq(bus.r_data)
        with m.Else():
            m.d.sync += resp.eq(resp >> 1)
        m.d.comb += tx.o.eq(resp[0])
        return m


class BoardTop(Elaboratable):
    """Everything that goes into a board's bitstream.

    Parameters
    ----------
    kernel : Kernel
        The kernel instance.
    board : Board
        From :mod:`hetflow.boards.registry`.
    pll : PLLSetting or None
        ``None`` runs the SoC on the board oscillator (the platform's own
        clock/reset); otherwise the SoC clock comes from this PLL setting.
    bridge : callable, optional
        ``bridge(board)`` returns the host bridge (default :class:`PinShiftBridge`).
    memory_size : int, optional
        Bytes of SoC memory (default: the board's).
    """

    def __init__(self, kernel, board, pll=None, bridge=None, memory_size=None):
        self.kernel = kernel
        self.board = board
        self.pll = pll
        self.bridge = bridge
        self.soc = SoC(kernel, memory=board.memory,
                       memory_size=memory_size or board.memory_size)

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            m.domains.sync = ClockDomain("sync")
            m.submodules.clocking = PLLClockReset(self.pll, platform.default_clk)
        m.submodules.soc = self.soc
        bridge = self.bridge(self.board) if self.bridge else PinShiftBridge()
        m.submodules.bridge = bridge
        wiring.connect(m, bridge.bus, self.soc.bus)
        return m
