"""The board SoC: a design (one kernel, or an overlay) + on-chip memory + DMA, behind one host bus.

:class:`SoC` is the same for every board family; only its memory differs
(SPRAM on the iCE40UP5K, block RAM on ECP5, see :mod:`hetflow.boards.memory`).
Whatever drives the host bus (the UART bridge of the serial backend, or a
simulation testbench) sees one flat, word-addressed space.  Its low part is
the design's register space exactly as the host sees it
(:class:`~hetflow.link.boardmap.BoardMap`), so the bridge passes a
``REG_WRITE``/``REG_READ`` offset through unchanged.  For a single kernel
(:data:`SOC_MAP`):

=============== ============ ==================================================
byte address    what         notes
=============== ============ ==================================================
0x000000        kernel       the kernel's register window (``hetflow export
                             KERNEL -f regmap-json``); reads beyond it give 0
0x001000        SoC          identification, control, status (below)
0x001040        DMA          4 words per channel (:mod:`hetflow.boards.dma`)
0x100000        memory       ``memory_size`` bytes; addresses wrap modulo it
=============== ============ ==================================================

For an overlay (:data:`OVERLAY_SOC_MAP`), instance ``k`` has its window at
``k * 0x1000`` and the manifest ROM's words are at ``0x80000``
(:data:`~hetflow.link.boardmap.MANIFEST_BASE`); the SoC's own
registers move out of their way, to ``0xC0000`` (DMA at ``0xC0800``).
Reads of holes (past an instance's window, between the last window and the
manifest) give 0 and writes there are ignored.

SoC registers:

====== ========= ====== =====================================================
offset name      access meaning
====== ========= ====== =====================================================
0x00   ID        ro     ``0x43534648`` (``b"HFSC"`` little-endian)
0x04   INFO      ro     bits 0-7 DMA channels, bits 8-15 SoC version
0x08   MEM_SIZE  ro     bytes of memory
0x0c   MEM_BASE  ro     byte address of memory on this bus (0x100000)
0x10   CTRL      wo     write bit 0 = 1: reset the design and the DMA (one
                        cycle); the bus and memory keep their state
0x14   STATUS    ro     bit 0: every DMA channel idle; overlays only, bit 1:
                        an instance was started since the last reset and
                        every instance started since then is done
0x18   REGSIZE   ro     bytes of the design's register space
====== ========= ====== =====================================================

STATUS bit 1 is RUN's rule for an overlay in one place: the SoC marks an
instance started when the host writes its ``ctrl`` with the start bit, and
counts it done once its bank is no longer busy (``Shell.core.ctl.busy``,
which rises the cycle after the start).  The bridge polls
:attr:`SoC.done_address` (the kernel's ``status`` for a single kernel, as
before; STATUS for an overlay), bit 1, and STATUS bit 0.

The host bus (:class:`HostBusSignature`, seen from the bridge):

* a write is ``w_stb`` high for one cycle with ``addr`` (word address),
  ``w_data`` and ``w_sel`` (byte enables; only memory honours them, registers
  take whole words);
* a read is ``r_stb`` high for one cycle with ``addr``; ``r_data`` is valid
  in the next cycle (only: the bridge and the simulations' testbenches take it
  then, and holding it cost a 32-bit register and its multiplexer).

There are no wait states: a bridge may issue one access every cycle.  Host
memory accesses take the memory port first; the DMA waits for them.

A job, as the virtual board runs it (``VirtualBoard.run_job``): write input
beats to memory, write every channel's ADDR and BEATS, write the kernel's
registers, write 1 to its ``ctrl``, poll its ``status`` (done) and the SoC
STATUS (DMA idle), then read the outputs from memory.
"""

from dataclasses import dataclass, replace

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..hw.errors import ParamError
from ..hw.overlay import Overlay
from ..hw.overlay.fabric import OverlayFabric
from ..hw.overlay.manifest import ManifestROM
from ..link.boardmap import INSTANCE_STRIDE, MANIFEST_BASE, BoardMap
from .dma import DMA, REGS_PER_CHANNEL, channels
from .memory import BlockRAM, SPRAM

__all__ = ["HostBusSignature", "SoC", "SOC_MAP", "OVERLAY_SOC_MAP", "SocMap", "SOC_ID",
           "SOC_VERSION", "ADDR_WIDTH", "MEMORY_KINDS"]

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


#: A single kernel's SoC.
SOC_MAP = SocMap()
#: An overlay's SoC: instance windows below the manifest, the SoC's registers above it.
#: The DMA window is aligned to its size, so a channel's registers are its base OR'd with
#: the channel number (the bridge forms them so) for every one of its 128 channels.
OVERLAY_SOC_MAP = replace(SOC_MAP, kernel_limit=MANIFEST_BASE, soc_base=0x0C0000,
                          dma_base=0x0C0800, dma_limit=0x0C1000)


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


def _check_memory(memory, memory_size):
    if memory not in MEMORY_KINDS:
        raise ParamError(f"SoC memory must be one of {', '.join(MEMORY_KINDS)}, "
                         f"not {memory!r}")
    size = int(memory_size)
    limit = SOC_MAP.mem_limit - SOC_MAP.mem_base
    if size < 1024 or size & (size - 1) or size > limit:
        raise ParamError(f"SoC memory_size = {memory_size} is out of range; allowed a "
                         f"power of two from 1024 to {limit} bytes")
    if memory == "spram" and size not in SPRAM.SIZES:
        raise ParamError(f"SPRAM memory_size = {size} is not available; allowed "
                         f"{' or '.join(str(s) for s in SPRAM.SIZES)} bytes")


def _check_channels(name, count, soc_map):
    most = (soc_map.dma_limit - soc_map.dma_base) // (4 * REGS_PER_CHANNEL)
    if count > most:
        raise ParamError(f"{name}: {count} streams; the SoC has room for {most} DMA channels")


class SoC(wiring.Component):
    """A design + memory + DMA behind a host bus.

    Parameters
    ----------
    design : Shell, Overlay or BoardMap
        One kernel instance (its shell), or an overlay (its
        :class:`~hetflow.hw.overlay.fabric.OverlayFabric` is made here); a
        :class:`~hetflow.link.boardmap.BoardMap` stands for its design.
    memory : str
        ``"bram"`` (block RAM, any family, simulates everywhere) or
        ``"spram"`` (iCE40UP5K SB_SPRAM256KA).
    memory_size : int
        Bytes of memory, a power of two (SPRAM: 65536 or 131072).

    Attributes
    ----------
    boardmap : BoardMap
        The design as the host sees it; ``chans`` are its DMA channels.
    kernel : Shell or None
        The single kernel (None for an overlay).
    fabric : OverlayFabric or None
        The overlay's instances and FIFOs (None for a single kernel).

    Members
    -------
    bus : In(HostBusSignature)
        Driven by the host bridge.
    """

    def __new__(cls, design, memory="bram", memory_size=64 * 1024):
        # Checked before the object exists, so a refused SoC leaves no unused elaboratable.
        cls.check(design, memory, memory_size)
        return super().__new__(cls, src_loc_at=1)

    @staticmethod
    def check(design, memory="bram", memory_size=64 * 1024):
        """Raise :class:`ParamError` if no SoC can carry ``design`` with that memory.

        ``design`` may be a description with no hardware made yet (an Overlay,
        or a kernel's :class:`~hetflow.link.boardmap.KernelView`), so a
        caller can check before it makes the shells.
        """
        _check_memory(memory, memory_size)
        if isinstance(design, BoardMap) and design.overlay is None:
            design = next(iter(design.units.values())).kernel
        if isinstance(design, BoardMap):
            design = design.overlay
        if isinstance(design, Overlay):
            overlay = design.check()
            chained = {s.source for s in overlay.streams} | {s.sink for s in overlay.streams}
            count = sum((name, port.name) not in chained for name, inst in
                        overlay.instances.items() for port in (*inst.ports("in"),
                                                               *inst.ports("out")))
            _check_channels(overlay.name, count, OVERLAY_SOC_MAP)
        else:
            if design.map.size > SOC_MAP.kernel_limit - SOC_MAP.kernel_base:
                raise ParamError(f"{design.name}: register window of {design.map.size} bytes "
                                 f"does not fit the SoC's {SOC_MAP.kernel_limit:#x}-byte "
                                 f"kernel region")
            _check_channels(design.name, len(channels(design)), SOC_MAP)

    def __init__(self, design, memory="bram", memory_size=64 * 1024):
        if isinstance(design, BoardMap):
            design = design.overlay if design.overlay is not None \
                else next(iter(design.units.values())).kernel
        self.memory_kind = memory
        self.memory_size = int(memory_size)
        if isinstance(design, Overlay):
            self.kernel = None
            self.fabric = OverlayFabric(design)
            self.boardmap = BoardMap(design, shells=self.fabric.shells)
        else:
            self.kernel, self.fabric = design, None
            self.boardmap = BoardMap(design)
        self.chans = list(self.boardmap.channels)
        super().__init__({"bus": In(HostBusSignature())})

    @property
    def map(self):
        """The :class:`SocMap` of this SoC (:data:`SOC_MAP` or :data:`OVERLAY_SOC_MAP`)."""
        return SOC_MAP if self.fabric is None else OVERLAY_SOC_MAP

    @property
    def register_space(self):
        """Bytes of register space the host addresses (PING's register window size)."""
        return self.boardmap.register_space

    @property
    def done_address(self):
        """Byte address whose bit 1 says the design is done (see the module doc)."""
        if self.fabric is None:
            return self.kernel.map["status"].offset
        return self.map.soc_base + self.map.STATUS

    def _instances(self):
        """``[(unit, shell, csr, ports)]``: each instance's shell, register bus and streams."""
        if self.fabric is None:
            unit = next(iter(self.boardmap.units.values()))
            return [(unit, self.kernel, self.kernel.csr, self.kernel)]
        out = []
        for name, unit in self.boardmap.units.items():
            member = getattr(self.fabric, name)
            out.append((unit, self.fabric.shells[name], member.csr, member))
        return out

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        smap = self.map
        size = self.memory_size
        mem_unit = SPRAM(size) if self.memory_kind == "spram" else BlockRAM(size)
        m.submodules.memory = mem_unit
        aw = mem_unit.depth.bit_length() - 1

        soft_rst = Signal()
        overlay = self.fabric is not None
        if overlay:
            names = [f"{ch.unit}__{ch.port.name}" for ch in self.chans]
            m.submodules.fabric = ResetInserter(soft_rst)(self.fabric)
        else:
            names = None
            m.submodules.kernel = ResetInserter(soft_rst)(self.kernel)
        dma = DMA(self.chans, aw, names)
        m.submodules.dma = ResetInserter(soft_rst)(dma)
        wiring.connect(m, dma.mem, mem_unit.bus)
        instances = self._instances()
        ports = {unit.name: member for unit, _, _, member in instances}
        for ch, name in zip(self.chans, dma.names):
            kernel_side = getattr(ports[ch.unit], ch.port.name)
            if ch.output:
                wiring.connect(m, kernel_side, getattr(dma, name))
            else:
                wiring.connect(m, getattr(dma, name), kernel_side)

        # ---- address decode (word addresses) ----------------------------------------
        # Every region starts at a multiple of its own size, so each test is a few bits
        # against a constant (no comparators: they cost carry chains on the iCE40).
        word = bus.addr
        window_bits = (INSTANCE_STRIDE >> 2).bit_length() - 1
        selects = []
        for unit, _, csr, _ in instances:
            sel = Signal(name=f"in_{unit.name}")
            m.d.comb += [
                sel.eq(_window(word, unit.base >> 2, min(len(csr.addr), window_bits))),
                csr.addr.eq(word), csr.w_data.eq(bus.w_data),
                csr.w_stb.eq(bus.w_stb & sel), csr.r_stb.eq(bus.r_stb & sel),
            ]
            selects.append((sel, csr.r_data))
        in_soc = _window(word, smap.soc_base >> 2, 4)
        dma_base = smap.dma_base >> 2
        regs_width = len(dma.regs.addr)
        if dma_base % (1 << regs_width) == 0:
            in_dma = _window(word, dma_base, regs_width)
            dma_addr = word[:regs_width]
        else:                   # more channels than an aligned window holds
            in_dma = (word >= dma_base) & (word < (smap.dma_limit >> 2))
            dma_addr = word - dma_base
        in_mem = _window(word, smap.mem_base >> 2, ADDR_WIDTH - 1)
        if overlay:
            m.submodules.manifest = rom = ManifestROM(self.boardmap.manifest)
            in_manifest = Signal()
            m.d.comb += [in_manifest.eq(_window(word, MANIFEST_BASE >> 2, rom.addr_width)),
                         rom.bus.addr.eq(word), rom.bus.r_stb.eq(bus.r_stb & in_manifest)]
            selects.append((in_manifest, rom.bus.r_data))

        m.d.comb += [
            dma.regs.addr.eq(dma_addr), dma.regs.w_data.eq(bus.w_data),
            dma.regs.w_stb.eq(bus.w_stb & in_dma), dma.regs.r_stb.eq(bus.r_stb & in_dma),
            dma.host.addr.eq(word), dma.host.w_data.eq(bus.w_data), dma.host.w_sel.eq(bus.w_sel),
            dma.host.w_en.eq(bus.w_stb & in_mem), dma.host.r_en.eq(bus.r_stb & in_mem),
        ]

        # ---- SoC registers ------------------------------------------------------------
        soc_word = word[:4]
        with m.If(bus.w_stb & in_soc & (soc_word == smap.CTRL >> 2) & bus.w_data[0]):
            m.d.sync += soft_rst.eq(1)
        with m.Else():
            m.d.sync += soft_rst.eq(0)
        status = dma.idle
        if overlay:
            status = Cat(dma.idle, self._done(m, instances, bus, soft_rst))
        # Constants but STATUS: only the register's index and the status are kept
        # from the read, the value is looked up a cycle later.  A read elsewhere keeps
        # an index no register has, so the lookup gives 0 and the sources are OR'd.
        none = (1 << len(soc_word)) - 1
        soc_index = Signal(len(soc_word), init=none)
        held_status = Signal(len(status))
        with m.If(bus.r_stb):
            m.d.sync += [soc_index.eq(Mux(in_soc, soc_word, none)), held_status.eq(status)]
        values = {smap.ID: SOC_ID, smap.INFO: len(self.chans) | (SOC_VERSION << 8),
                  smap.MEM_SIZE: size, smap.MEM_BASE: smap.mem_base,
                  smap.STATUS: held_status, smap.REGSIZE: self.register_space}
        soc_rdata = Signal(32)
        with m.Switch(soc_index):
            for offset, value in values.items():
                with m.Case(offset >> 2):
                    m.d.comb += soc_rdata.eq(value)

        # ---- read data: valid the cycle after r_stb ---------------------------------------
        # One flag per source (the instances, the manifest, memory), set by the read; the
        # DMA's registers read as 0 (see hetflow.boards.dma), so they are no source.
        sources = [*selects, (in_mem, dma.host.r_data)]
        flags = [Signal(name=f"read_{i}") for i in range(len(sources))]
        with m.If(bus.r_stb):
            m.d.sync += [flag.eq(sel) for flag, (sel, _) in zip(flags, sources)]
        read = soc_rdata
        for flag, (_, r_data) in zip(flags, sources):
            read = read | Mux(flag, r_data, 0)
        m.d.comb += bus.r_data.eq(read)
        return m

    def _done(self, m, instances, bus, soft_rst):
        """The overlay's done bit: started since reset, and every started instance idle."""
        started, finished = [], []
        for unit, shell, csr, _ in instances:
            flag = Signal(name=f"{unit.name}_started")
            ctrl = shell.map["ctrl"].offset >> 2
            with m.If(soft_rst):
                m.d.sync += flag.eq(0)
            with m.Elif(csr.w_stb & (csr.addr == ctrl) & bus.w_data[0]):
                m.d.sync += flag.eq(1)
            started.append(flag)
            # busy rises the cycle after the start: a started instance that is not busy
            # has finished (the bank's done bit, without reading it over the bus).
            finished.append(~flag | ~shell.core.ctl.busy)
        done = Signal()
        m.d.comb += done.eq(Cat(*started).any() & Cat(*finished).all())
        return done
