"""A loadable up or down counter in one iCE40 logic cell per bit, eight to a tile.

A counter that may also be loaded with any value needs, per bit, the adder's
sum and a multiplexer choosing between it and the loaded bit.  Yosys maps the
adder onto the iCE40 carry chain (``SB_CARRY``, its sum in the ``SB_LUT4`` of
the same logic cell) and the multiplexer onto a second LUT: two logic cells a
bit.  The carry chain's second operand is free, though: it is a constant for
a step of one.  :class:`Counter` built for an iCE40 platform drives it with the
load strobe instead (its complement counting down), so the logic cell's LUT
sees the counter bit, the carry in, the load strobe and the bit to load, and
computes the next value by itself.  While loading, the carries are wrong and
ignored; while counting, the strobe is the constant the step needs (0 for +1;
its complement, 1, for -1, whose carries are the complements of the borrows).

The step itself goes into bit 0's carry operand (its complement counting
down), with the load strobe on that LUT's fourth input and a constant carry
into the chain.  The flip-flops then take a new value every cycle and need no
clock enable, which keeps a chain of any length in whole tiles: nextpnr allows
32 local inputs to a tile of eight logic cells, eight cells of four inputs
take them all, and a clock enable (one more) would cut the chain after seven
cells with a carry feed-out and feed-in, two logic cells more per tile.  A
reset takes one too unless it is on a global net, as nextpnr puts the SoC's
(the DMA's counters in a build; not in the per-component split of
:mod:`hetflow.boards.components`, where the DMA's reset is a net of its own).

Elsewhere (simulation, other families) the counter is plain arithmetic.
"""

from amaranth.hdl import Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.vendor import SiliconBluePlatform

from ..hw.errors import ParamError

__all__ = ["Counter"]


def _lut_init(function):
    """``LUT_INIT`` of ``function(i0, i1, i2, i3)``: bit ``i`` is the output for I3..I0 = ``i``."""
    return sum(1 << i for i in range(16)
               if function(i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1))


# Counting up.  Bit 0: I0 bit to load, I1 counter bit, I2 step (carry operand), I3 load
# strobe; the chain's carry in is 0.  The others: I2 load strobe (carry operand), I3 carry in.
_UP_FIRST = _lut_init(lambda data, bit, step, load: data if load else bit ^ step)
_UP_NEXT = _lut_init(lambda data, bit, load, carry: data if load else bit ^ carry)
# Counting down, on the complements: bit 0's carry operand is ~step and the chain's carry
# in 1; the others' is ~load, and their carry in is the complement of the borrow.
_DOWN_FIRST = _lut_init(lambda data, bit, no_step, load: data if load else bit ^ 1 ^ no_step)
_DOWN_NEXT = _lut_init(lambda data, bit, no_load, carry: bit ^ 1 ^ carry if no_load else data)


class Counter(wiring.Component):
    """``width`` bits that load ``data`` or step by one.

    Parameters
    ----------
    width : int
        Bits of the count, 1 or more.
    down : bool
        Step by -1 instead of +1 (modulo ``2**width``).

    Members
    -------
    load : In(1)
        Take ``data`` at the next clock edge (wins over ``step``).
    data : In(width)
        The value to load.
    step : In(1)
        Count by one at the next clock edge.
    count : Out(width)
        The value, a register.
    """

    def __new__(cls, width, *, down=False):
        # Checked before the object exists, so a refused counter leaves no unused elaboratable.
        if not isinstance(width, int) or width < 1:
            raise ParamError(f"counter width must be a positive integer, not {width!r}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, width, *, down=False):
        self.width = width
        self.down = bool(down)
        super().__init__({"load": In(1), "data": In(width), "step": In(1),
                          "count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        if isinstance(platform, SiliconBluePlatform):
            m.d.sync += self.count.eq(self._ice40_next(m))
        else:
            with m.If(self.load):
                m.d.sync += self.count.eq(self.data)
            with m.Elif(self.step):
                m.d.sync += self.count.eq(self.count - 1 if self.down else self.count + 1)
        return m

    def _ice40_next(self, m):
        """The next value (loaded, stepped or kept) from one LUT per bit on the carry chain."""
        if self.down:
            first_operand, operand = Signal(name="no_step"), Signal(name="no_load")
            m.d.comb += [first_operand.eq(~self.step), operand.eq(~self.load)]
            first_init, next_init, carry = _DOWN_FIRST, _DOWN_NEXT, Const(1, 1)
        else:
            first_operand, operand = self.step, self.load
            first_init, next_init, carry = _UP_FIRST, _UP_NEXT, Const(0, 1)
        following = Signal(self.width)
        for i in range(self.width):
            if i == 0:
                init, carry_operand, fourth = first_init, first_operand, self.load
            else:
                init, carry_operand, fourth = next_init, operand, carry
            m.submodules[f"lut{i}"] = Instance(
                "SB_LUT4", p_LUT_INIT=Const(init, 16),
                i_I0=self.data[i], i_I1=self.count[i], i_I2=carry_operand, i_I3=fourth,
                o_O=following[i])
            if i + 1 < self.width:
                carry_out = Signal(name=f"carry{i + 1}")
                m.submodules[f"carry{i}"] = Instance(
                    "SB_CARRY", i_I0=self.count[i], i_I1=carry_operand, i_CI=carry,
                    o_CO=carry_out)
                carry = carry_out
        return following
