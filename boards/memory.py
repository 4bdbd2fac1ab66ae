"""The SoC's on-chip memory: one 32-bit port, one access per cycle.

Both implementations serve :class:`MemBusSignature`:

* a read is ``r_en`` high for one cycle with ``addr``; ``r_data`` is valid on
  the next cycle only (consumers sample it then);
* a write is ``w_en`` high for one cycle with ``addr``, ``w_data`` and
  ``w_sel`` (one enable bit per byte lane).

One access per cycle is what the iCE40UP5K's single-port SPRAM allows, so the
ECP5 block-RAM version offers no more: the same DMA and bus serve both.

:class:`BlockRAM`
    ``amaranth.lib.memory.Memory`` with byte write enables; Yosys maps it to
    EBR (iCE40) or DP16KD (ECP5) blocks, and it simulates in ``amaranth.sim``.
:class:`SPRAM`
    Two or four ``SB_SPRAM256KA`` (16K x 16 bits each) instances: pairs give
    32-bit words, a second pair doubles the depth (128 KiB in all).  Without
    a platform (in simulation) each instance is replaced by
    :class:`SPRAMModel`, a behavioural model with the primitive's ports.
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["MemBusSignature", "BlockRAM", "SPRAM", "SPRAMModel", "SPRAM_BLOCK_BYTES"]

#: Bytes of one SB_SPRAM256KA (16384 x 16 bits).
SPRAM_BLOCK_BYTES = 32 * 1024


class MemBusSignature(wiring.Signature):
    """Port of the on-chip memory, seen from the initiator (the DMA / bus side).

    Parameters
    ----------
    addr_width : int
        Width of the 32-bit word address.
    """

    def __init__(self, addr_width):
        self.addr_width = addr_width
        super().__init__({
            "addr":   Out(addr_width),
            "r_en":   Out(1),
            "r_data": In(32),
            "w_en":   Out(1),
            "w_sel":  Out(4),
            "w_data": Out(32),
        })

    def __eq__(self, other):
        return isinstance(other, MemBusSignature) and other.addr_width == self.addr_width

    def __repr__(self):
        return f"MemBusSignature({self.addr_width})"


def _words(size):
    if size < 4 or size & (size - 1):
        raise ValueError(f"memory size must be a power of two of at least 4 bytes, not {size}")
    return size // 4


class BlockRAM(wiring.Component):
    """``size`` bytes of block RAM behind a :class:`MemBusSignature` port.

    Parameters
    ----------
    size : int
        Bytes, a power of two.
    init : list of int, optional
        Initial 32-bit words (simulation and bitstream contents).
    """

    def __init__(self, size, init=()):
        self.size = size
        self.depth = _words(size)
        self._init = list(init)
        super().__init__({"bus": In(MemBusSignature((self.depth - 1).bit_length()))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=32, depth=self.depth, init=self._init)
        wr = mem.write_port(granularity=8)
        rd = mem.read_port()
        bus = self.bus
        m.d.comb += [
            wr.addr.eq(bus.addr), wr.data.eq(bus.w_data),
            wr.en.eq(Cat(*(bus.w_en & bus.w_sel[i] for i in range(4)))),
            rd.addr.eq(bus.addr), rd.en.eq(bus.r_en),
            bus.r_data.eq(rd.data),
        ]
        return m


class SPRAMModel(wiring.Component):
    """Behavioural model of one ``SB_SPRAM256KA`` for ``amaranth.sim``.

    Same ports as the primitive (upper-case, as in the Lattice library):
    16K x 16 bits, ``MASKWREN`` enabling nibbles, a registered read
    (``DATAOUT`` the cycle after a read with ``CHIPSELECT`` high and ``WREN``
    low).  ``POWEROFF`` is active low, as on the silicon.
    """

    def __init__(self):
        super().__init__({
            "ADDRESS": In(14), "DATAIN": In(16), "MASKWREN": In(4), "WREN": In(1),
            "CHIPSELECT": In(1), "STANDBY": In(1), "SLEEP": In(1), "POWEROFF": In(1),
            "DATAOUT": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=16, depth=16384, init=[])
        wr = mem.write_port(granularity=4)
        rd = mem.read_port()
        live = self.CHIPSELECT & self.POWEROFF & ~self.STANDBY & ~self.SLEEP
        m.d.comb += [
            wr.addr.eq(self.ADDRESS), wr.data.eq(self.DATAIN),
            wr.en.eq(Cat(*(live & self.WREN & self.MASKWREN[i] for i in range(4)))),
            rd.addr.eq(self.ADDRESS), rd.en.eq(live & ~self.WREN),
            self.DATAOUT.eq(rd.data),
        ]
        return m


class SPRAM(wiring.Component):
    """iCE40UP5K single-port RAM as 32-bit words.

    Parameters
    ----------
    size : int
        64 KiB (two blocks) or 128 KiB (all four blocks of the UP5K).
    """

    SIZES = (2 * SPRAM_BLOCK_BYTES, 4 * SPRAM_BLOCK_BYTES)

    def __init__(self, size):
        if size not in self.SIZES:
            raise ValueError(f"SPRAM size must be one of {', '.join(map(str, self.SIZES))} "
                             f"bytes, not {size}")
        self.size = size
        self.depth = _words(size)
        super().__init__({"bus": In(MemBusSignature((self.depth - 1).bit_length()))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        banks = self.size // (2 * SPRAM_BLOCK_BYTES)
        # The bank of the last read, to pick the right pair's DATAOUT a cycle later.
        bank = bus.addr[14] if banks == 2 else Const(0)
        read_bank = Signal()
        with m.If(bus.r_en):
            m.d.sync += read_bank.eq(bank)
        outs = []
        for b in range(banks):
            selected = bank == b
            halves = []
            for h in range(2):
                dout = Signal(16, name=f"spram_{b}_{h}_dout")
                # MASKWREN enables nibbles: byte lane 2h drives nibbles 0-1, lane 2h+1 nibbles 2-3.
                sel_lo, sel_hi = bus.w_sel[2 * h], bus.w_sel[2 * h + 1]
                ports = dict(
                    ADDRESS=bus.addr[:14], DATAIN=bus.w_data[16 * h:16 * h + 16],
                    MASKWREN=Cat(sel_lo, sel_lo, sel_hi, sel_hi), WREN=bus.w_en,
                    CHIPSELECT=selected & (bus.w_en | bus.r_en),
                    STANDBY=Const(0), SLEEP=Const(0), POWEROFF=Const(1))
                name = f"spram_{b}_{h}"
                if platform is None:
                    model = SPRAMModel()
                    m.submodules[name] = model
                    m.d.comb += [getattr(model, k).eq(v) for k, v in ports.items()]
                    m.d.comb += dout.eq(model.DATAOUT)
                else:
                    m.submodules[name] = Instance(
                        "SB_SPRAM256KA",
                        i_CLOCK=ClockSignal("sync"),
                        **{f"i_{k}": v for k, v in ports.items()},
                        o_DATAOUT=dout)
                halves.append(dout)
            outs.append(Cat(*halves))
        if banks == 2:
            m.d.comb += bus.r_data.eq(Mux(read_bank, outs[1], outs[0]))
        else:
            m.d.comb += bus.r_data.eq(outs[0])
        return m

