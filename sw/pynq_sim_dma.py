"""The AXI DMA register model of the simulated Zynq (Xilinx PG021, direct register mode).

One :class:`AxiDma` is one AXI DMA engine's register block: an MM2S channel
at offset 0x00 (memory to stream) and an S2MM channel at 0x30 (stream to
memory), each with ``DMACR``, ``DMASR``, the address (``SA``/``DA`` and its
MSB word) and ``LENGTH``.  Each channel stands for one DMA channel of the
virtual board (:class:`~hetflow.sim.board.virtual.VirtualBoard`), whose
``dma_setup(channel, address, beats)`` moves the data.

What is modelled, after PG021:

* ``DMACR.RS`` = 1 starts a channel (``DMASR.Halted`` clears); RS = 0 stops
  it (Halted set, Idle clear) and abandons a transfer in flight.
  ``DMACR.Reset`` = 1 resets the whole engine, both channels.
* Writing ``LENGTH`` (26 bits) starts a transfer from/to the address
  registers.  Length 0 sets ``DMAIntErr``, an address outside DDR
  ``DMADecErr``; both halt the channel.  A ``LENGTH`` write while halted
  does nothing.
* ``DMASR`` bits 12-14 (``IOC_Irq``, ``Dly_Irq``, ``Err_Irq``) are write-1-to-clear.
* A channel the engine was built without (``c_include_mm2s = 0``) reads 0
  and ignores writes; so do the registers not listed above.

Timing is the device's business: an MM2S transfer is handed to the board
when ``LENGTH`` is written, an S2MM transfer when the host first waits
(:meth:`DmaChannel.arm`), and :meth:`DmaChannel.complete` marks a transfer
done.  A read of a busy channel's ``DMASR`` calls the ``advance`` the device
gives :meth:`AxiDma.read`, which is where the simulation runs.
"""

__all__ = ["AxiDma", "DmaChannel", "DMACR", "DMASR", "ADDR", "ADDR_MSB", "LENGTH", "S2MM",
           "RS", "RESET", "HALTED", "IDLE", "INT_ERR", "DEC_ERR", "IOC_IRQ", "LENGTH_MASK",
           "REGISTER_SPACE"]

# Register offsets within a channel; the S2MM channel's registers are at S2MM + offset.
DMACR, DMASR, ADDR, ADDR_MSB, LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
S2MM = 0x30
# DMACR bits.
RS, RESET = 0x1, 0x4
# DMASR bits.
HALTED, IDLE, INT_ERR, DEC_ERR, IOC_IRQ = 0x1, 0x2, 0x10, 0x40, 0x1000
_W1C = 0x7000
#: The buffer length register's width is 26 bits (``c_sg_length_width`` = 26).
LENGTH_MASK = 0x03FF_FFFF
#: Bytes of address space one engine takes (Vivado's default 64 KiB).
REGISTER_SPACE = 0x1_0000


class DmaChannel:
    """One direction of an engine, standing for one virtual-board DMA channel.

    Parameters
    ----------
    board_channel : int or None
        The virtual board's channel index; None for a channel the engine
        does not have.
    stride : int
        Bytes per stream beat in memory.
    s2mm : bool
        Stream to memory (True) or memory to stream.
    """

    def __init__(self, board_channel, stride, s2mm):
        self.board_channel = board_channel
        self.stride = stride
        self.s2mm = s2mm
        self.reset()

    @property
    def present(self):
        return self.board_channel is not None

    def reset(self):
        """The channel's reset state: halted, nothing pending."""
        self.dmacr = 0
        self.status = HALTED
        self.addr = 0
        self.addr_msb = 0
        self.length = 0
        self.beats = 0
        #: Board memory address of the transfer (DDR address less the DDR base).
        self.address = 0
        self.active = False
        #: Whether the transfer has been handed to the board.
        self.armed = False

    def cancel(self, board):
        """Abandon a transfer in flight (the board channel stops)."""
        if self.active:
            board.dma_setup(self.board_channel, 0, 0)
            self.active = False

    def arm(self, board, beats):
        """Hand the transfer to the board: ``beats`` beats (S2MM: up to TLAST)."""
        board.dma_setup(self.board_channel, self.address, beats)
        self.armed = True
        if self.s2mm:
            # S2MM_LENGTH reads back the bytes received: up to TLAST.
            self.length = min(self.length, beats * self.stride)

    def complete(self):
        """The transfer is done: Idle and IOC_Irq set."""
        self.active = False
        self.status |= IDLE | IOC_IRQ

    def _halt(self, error):
        self.status = (self.status | HALTED | error) & ~IDLE
        self.dmacr &= ~RS
        self.active = False


class AxiDma:
    """One AXI DMA engine's register block (see the module doc).

    Parameters
    ----------
    name : str
        Block-design instance name (``axi_dma_0``).
    base : int
        Physical address of the register block.
    mm2s, s2mm : DmaChannel
    ddr_base : int
        Physical address of board memory address 0.
    memory_size : int
        Bytes of board memory; transfers outside it end in ``DMADecErr``.
    """

    def __init__(self, name, base, mm2s, s2mm, ddr_base, memory_size):
        self.name = name
        self.base = base
        self.mm2s = mm2s
        self.s2mm = s2mm
        self.ddr_base = ddr_base
        self.memory_size = memory_size

    @property
    def channels(self):
        return (self.mm2s, self.s2mm)

    def _channel(self, offset):
        return (self.s2mm, offset - S2MM) if offset >= S2MM else (self.mm2s, offset)

    def read(self, offset, advance=None):
        """The register word at byte ``offset``.

        ``advance`` (no arguments) is called before a busy channel's
        ``DMASR`` is read: the device runs the simulation there.
        """
        chan, reg = self._channel(offset)
        if not chan.present:
            return 0
        if reg == DMACR:
            return chan.dmacr
        if reg == DMASR:
            if chan.active and advance is not None:
                advance()
            return chan.status
        if reg == ADDR:
            return chan.addr
        if reg == ADDR_MSB:
            return chan.addr_msb
        if reg == LENGTH:
            return chan.length
        return 0

    def write(self, offset, value, board):
        """Write ``value`` to the register at byte ``offset``; ``board`` moves the data."""
        chan, reg = self._channel(offset)
        if not chan.present:
            return
        if reg == DMACR and value & RESET:      # resets the whole engine, both directions
            for c in self.channels:
                if c.present:
                    c.cancel(board)
                    c.reset()
        elif reg == DMACR:
            chan.dmacr = value & ~RESET
            if value & RS:
                chan.status &= ~HALTED
            else:
                chan.cancel(board)
                chan.status = (chan.status | HALTED) & ~IDLE
        elif reg == DMASR:
            chan.status &= ~(value & _W1C)
        elif reg == ADDR:
            chan.addr = value
        elif reg == ADDR_MSB:
            chan.addr_msb = value
        elif reg == LENGTH:
            self._start(chan, value, board)

    def _start(self, chan, length, board):
        if chan.status & HALTED:
            return                         # PG021: LENGTH writes while halted do nothing
        chan.length = length & LENGTH_MASK
        if chan.length == 0:
            chan._halt(INT_ERR)
            return
        address = ((chan.addr_msb << 32) | chan.addr) - self.ddr_base
        beats = -(-chan.length // chan.stride)
        if address < 0 or address + beats * chan.stride > self.memory_size:
            chan._halt(DEC_ERR)
            return
        chan.address = address
        chan.beats = beats
        chan.active = True
        chan.armed = False
        chan.status &= ~(IDLE | IOC_IRQ)
        if not chan.s2mm:
            chan.arm(board, beats)
