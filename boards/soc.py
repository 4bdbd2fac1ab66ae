"""The board SoC: kernel + on-chip memory + DMA, behind one host bus.

:class:`SoC` is the same for every board family; only its memory differs
(SPRAM on the iCE40UP5K, block RAM on ECP5, see :mod:`hetflow.boards.memory`).
Whatever drives the host bus (the UART bridge of the serial backend, or a
simulation testbench) sees one flat, word-addressed space:

=============== ============ ==================================================
byte address    what         notes
=============== ============ ==================================================
0x000000        kernel       the kernel's register window (``hetflow export
                             KERNEL -f regmap-json``); reads beyond it give 0
0x001000        SoC          identification, control, status (below)
0x001040        DMA          4 words per channel (:mod:`hetflow.boards.dma`)
0x100000        memory       ``memory_size`` bytes; addresses wrap modulo it
=============== ============ ==================================================

SoC registers:

====== ========= ====== =====================================================
offset name      access meaning
====== ========= ====== =====================================================
0x00   ID        ro     ``0x43534648`` (``b"HFSC"`` little-endian)
0x04   INFO      ro     bits 0-7 DMA channels, bits 8-15 SoC version
0x08   MEM_SIZE  ro     bytes of memory
0x0c   MEM_BASE  ro     byte address of memory on this bus (0x100000)
0x10   CTRL      wo     write bit 0 = 1: reset the kernel and the DMA (one
                        cycle); the bus and memory keep their state
0x14   STATUS    ro     bit 0: every DMA channel idle
0x18   REGSIZE   ro     bytes of the kernel's register window
====== ========= ====== =====================================================

The host bus (:class:`HostBusSignature`, seen from the bridge):

* a write is ``w_stb`` high for one cycle with ``addr`` (word address),
  ``w_data`` and ``w_sel`` (byte enables; only memory honours them, registers
  take whole words);
* a read is ``r_stb`` high for one cycle with ``addr``; ``r_data`` is valid
  from the next cycle on and holds until the next read.

There are no wait states: a bridge may issue one access every cycle.  Host
memory accesses take the memory port first; the DMA waits for them.

A job, as the virtual board runs it (``VirtualBoard.run_job``): write input
beats to memory, write every channel's ADDR and BEATS, write the kernel's
registers, write 1 to its ``ctrl``, poll its ``status`` (done) and the SoC
STATUS (DMA idle), then read the outputs from memory.
"""

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..hw.errors import ParamError
from .dma import DMA, REGS_PER_CHANNEL, channels
from .memory import BlockRAM, SPRAM

__all__ = ["HostBusSignature", "SoC", "SOC_MAP", "SocMap", "SOC_ID", "SOC_VERSION",
           "ADDR_WIDTH", "MEMORY_KINDS"]

#: Word-address width of the host bus (2 MiB of byte addresses).
ADDR_WIDTH = 19
SOC_ID = 0x43534648            # b"HFSC"
SOC_VERSION = 1
MEMORY_KINDS = ("bram", "spram")


@dataclass(frozen=True)
class SocMap:
    """Byte addresses of the host bus regions and SoC registers."""

    kernel_base: int = 0x000000
    kernel_limit: int = 0x001000
    soc_base: int = 0x001000
    dma_base: int = 0x001040
    dma_limit: int = 0x002000
    mem_base: int = 0x100000
    mem_limit: int = 0x200000
    ID: int = 0x00
    INFO: int = 0x04
    MEM_SIZE: int = 0x08
    MEM_BASE: int = 0x0C
    CTRL: int = 0x10
    STATUS: int = 0x14
    REGSIZE: int = 0x18

    def dma_reg(self, channel, name):
        """Byte address of DMA register ``name`` (ADDR, BEATS, INFO) of ``channel``."""
        index = {"ADDR": 0, "BEATS": 1, "INFO": 2}[name]
        return self.dma_base + 4 * (REGS_PER_CHANNEL * channel + index)

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


SOC_MAP = SocMap()


class HostBusSignature(wiring.Signature):
    """The SoC's host bus, seen from the initiator (the bridge); see the module doc."""

    def __init__(self):
        super().__init__({
            "addr":   Out(ADDR_WIDTH),
            "w_stb":  Out(1),
            "w_data": Out(32),
            "w_sel":  Out(4),
            "r_stb":  Out(1),
            "r_data": In(32),
        })

    def __eq__(self, other):
        return isinstance(other, HostBusSignature)

    def __repr__(self):
        return "HostBusSignature()"


def _window(word, base, bits):
    """``word`` is in the ``2**bits``-word window at ``base`` (a multiple of ``2**bits``)."""
    return word[bits:] == (base >> bits)


class SoC(wiring.Component):
    """Kernel + memory + DMA behind a host bus.

    Parameters
    ----------
    kernel : Kernel
        The kernel instance.
    memory : str
        ``"bram"`` (block RAM, any family, simulates everywhere) or
        ``"spram"`` (iCE40UP5K SB_SPRAM256KA).
    memory_size : int
        Bytes of memory, a power of two (SPRAM: 65536 or 131072).

    Members
    -------
    bus : In(HostBusSignature)
        Driven by the host bridge.
    """

    def __new__(cls, kernel, memory="bram", memory_size=64 * 1024):
        # Checked before the object exists, so a refused SoC leaves no unused elaboratable.
        cls._check(kernel, memory, memory_size)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, kernel, memory="bram", memory_size=64 * 1024):
        self.kernel = kernel
        self.chans = channels(kernel)
        self.memory_kind = memory
        self.memory_size = int(memory_size)
        super().__init__({"bus": In(HostBusSignature())})

    @staticmethod
    def _check(kernel, memory, memory_size):
        if memory not in MEMORY_KINDS:
            raise ParamError(f"SoC memory must be one of {', '.join(MEMORY_KINDS)}, "
                             f"not {memory!r}")
        size = int(memory_size)
        limit = SOC_MAP.mem_limit - SOC_MAP.mem_base
        if size < 1024 or size & (size - 1) or size > limit:
            raise ParamError(f"SoC memory_size = {memory_size} is out of range; allowed a "
                             f"power of two from 1024 to {limit} bytes")
        if kernel.map.size > SOC_MAP.kernel_limit - SOC_MAP.kernel_base:
            raise ParamError(f"{kernel.name}: register window of {kernel.map.size} bytes does "
                             f"not fit the SoC's {SOC_MAP.kernel_limit:#x}-byte kernel region")
        chans = channels(kernel)
        max_chans = (SOC_MAP.dma_limit - SOC_MAP.dma_base) // (4 * REGS_PER_CHANNEL)
        if len(chans) > max_chans:
            raise ParamError(f"{kernel.name}: {len(chans)} streams; the SoC has room for "
                             f"{max_chans} DMA channels")
        if memory == "spram" and size not in SPRAM.SIZES:
            raise ParamError(f"SPRAM memory_size = {size} is not available; allowed "
                             f"{' or '.join(str(s) for s in SPRAM.SIZES)} bytes")

    @property
    def map(self):
        return SOC_MAP

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        size = self.memory_size
        mem_unit = SPRAM(size) if self.memory_kind == "spram" else BlockRAM(size)
        m.submodules.memory = mem_unit
        aw = mem_unit.depth.bit_length() - 1

        soft_rst = Signal()
        kernel = ResetInserter(soft_rst)(self.kernel)
        dma = DMA(self.chans, aw)
        m.submodules.kernel = kernel
        m.submodules.dma = ResetInserter(soft_rst)(dma)
        wiring.connect(m, dma.mem, mem_unit.bus)
        for ch in self.chans:
            if ch.output:
                wiring.connect(m, getattr(self.kernel, ch.port.name), getattr(dma, ch.port.name))
            else:
                wiring.connect(m, getattr(dma, ch.port.name), getattr(self.kernel, ch.port.name))

        # ---- address decode (word addresses) ----------------------------------------
        # Every region starts at a multiple of its own size, so each test is a few bits
        # against a constant (no comparators: they cost carry chains on the iCE40).
        word = bus.addr
        csr = self.kernel.csr
        in_kernel = _window(word, 0, min(len(csr.addr), 10))
        in_soc = _window(word, SOC_MAP.soc_base >> 2, 4)
        dma_base = SOC_MAP.dma_base >> 2
        regs_width = len(dma.regs.addr)
        if dma_base % (1 << regs_width) == 0:
            in_dma = _window(word, dma_base, regs_width)
            dma_addr = word[:regs_width]
        else:                   # more channels than an aligned window holds
            in_dma = (word >= dma_base) & (word < (SOC_MAP.dma_limit >> 2))
            dma_addr = word - dma_base
        in_mem = _window(word, SOC_MAP.mem_base >> 2, ADDR_WIDTH - 1)

        m.d.comb += [
            csr.addr.eq(word), csr.w_data.eq(bus.w_data),
            csr.w_stb.eq(bus.w_stb & in_kernel), csr.r_stb.eq(bus.r_stb & in_kernel),
            dma.regs.addr.eq(dma_addr), dma.regs.w_data.eq(bus.w_data),
            dma.regs.w_stb.eq(bus.w_stb & in_dma), dma.regs.r_stb.eq(bus.r_stb & in_dma),
            dma.host.addr.eq(word), dma.host.w_data.eq(bus.w_data), dma.host.w_sel.eq(bus.w_sel),
            dma.host.w_en.eq(bus.w_stb & in_mem), dma.host.r_en.eq(bus.r_stb & in_mem),
        ]

        # ---- SoC registers ------------------------------------------------------------
        soc_word = word[:4]
        with m.If(bus.w_stb & in_soc & (soc_word == SOC_MAP.CTRL >> 2) & bus.w_data[0]):
            m.d.sync += soft_rst.eq(1)
        with m.Else():
            m.d.sync += soft_rst.eq(0)
        # Constants but STATUS: only the register's index and the idle flag are kept
        # from the read, the value is looked up a cycle later.
        soc_index = Signal(4)
        idle = Signal()
        with m.If(bus.r_stb):
            m.d.sync += [soc_index.eq(soc_word), idle.eq(dma.idle)]
        values = {SOC_MAP.ID: SOC_ID, SOC_MAP.INFO: len(self.chans) | (SOC_VERSION << 8),
                  SOC_MAP.MEM_SIZE: size, SOC_MAP.MEM_BASE: SOC_MAP.mem_base,
                  SOC_MAP.STATUS: idle, SOC_MAP.REGSIZE: self.kernel.map.size}
        soc_rdata = Signal(32)
        with m.Switch(soc_index):
            for offset, value in values.items():
                with m.Case(offset >> 2):
                    m.d.comb += soc_rdata.eq(value)

        # ---- read data: valid the cycle after r_stb, held until the next read ------------
        pending = Signal()
        source = Signal(2)          # 0 nothing, 1 kernel, 2 SoC/DMA, 3 memory
        dma_sel = Signal()
        held = Signal(32)
        m.d.sync += pending.eq(bus.r_stb)
        with m.If(bus.r_stb):
            m.d.sync += [source.eq(0), dma_sel.eq(in_dma)]
            with m.If(in_kernel):
                m.d.sync += source.eq(1)
            with m.Elif(in_soc | in_dma):
                m.d.sync += source.eq(2)
            with m.Elif(in_mem):
                m.d.sync += source.eq(3)
        live = Signal(32)
        with m.Switch(source):
            with m.Case(1):
                m.d.comb += live.eq(csr.r_data)
            with m.Case(2):
                m.d.comb += live.eq(Mux(dma_sel, dma.regs.r_data, soc_rdata))
            with m.Case(3):
                m.d.comb += live.eq(dma.host.r_data)
        with m.If(pending):
            m.d.sync += held.eq(live)
            m.d.comb += bus.r_data.eq(live)
        with m.Else():
            m.d.comb += bus.r_data.eq(held)
        return m
