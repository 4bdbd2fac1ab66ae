"""A loadable up or down counter in one iCE40 logic cell per bit.

A counter that may also be loaded with any value needs, per bit, the adder's
sum and a multiplexer choosing between it and the loaded bit.  Yosys maps the
adder onto the iCE40 carry chain (``SB_CARRY``, its sum in the ``SB_LUT4`` of
the same logic cell) and the multiplexer onto a second LUT: two logic cells a
bit.  The carry chain's second operand is free, though: it is a constant for
a step of one.  :class:`Counter` built for an iCE40 platform drives it with the
load strobe instead, so the logic cell's LUT sees the counter bit, the carry
in, the load strobe and the bit to load, and computes the next value by
itself.  While loading, the carries are wrong and ignored; while counting,
the strobe is the constant the step needs (0 for +1; its complement, 1, for
-1).  Elsewhere (simulation, other families) the counter is plain arithmetic.
"""

from amaranth.hdl import Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.vendor import SiliconBluePlatform

from ..hw.errors import ParamError

__all__ = ["Counter"]

# LUT_INIT bit i is the output for inputs I3..I0 = i.  I0: bit to load, I1: counter bit,
# I2: carry operand (load strobe up, its complement down), I3: carry in.
_UP_INIT = sum(1 << i for i in range(16)
               if ((i & 1) if (i >> 2) & 1 else ((i >> 1) & 1) ^ ((i >> 3) & 1)))
_DOWN_INIT = sum(1 << i for i in range(16)
                 if (1 ^ ((i >> 1) & 1) ^ ((i >> 3) & 1) if (i >> 2) & 1 else (i & 1)))


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
            with m.If(self.load | self.step):
                m.d.sync += self.count.eq(self._ice40_next(m))
        else:
            with m.If(self.load):
                m.d.sync += self.count.eq(self.data)
            with m.Elif(self.step):
                m.d.sync += self.count.eq(self.count - 1 if self.down else self.count + 1)
        return m

    def _ice40_next(self, m):
        """The next value (loaded or stepped) from one LUT per bit on the carry chain."""
        operand = Signal()
        m.d.comb += operand.eq(~self.load if self.down else self.load)
        following = Signal(self.width)
        carry = Const(0 if self.down else 1, 1)
        for i in range(self.width):
            m.submodules[f"lut{i}"] = Instance(
                "SB_LUT4", p_LUT_INIT=Const(_DOWN_INIT if self.down else _UP_INIT, 16),
                i_I0=self.data[i], i_I1=self.count[i], i_I2=operand, i_I3=carry,
                o_O=following[i])
            if i + 1 < self.width:
                carry_out = Signal(name=f"carry{i + 1}")
                m.submodules[f"carry{i}"] = Instance(
                    "SB_CARRY", i_I0=self.count[i], i_I1=operand, i_CI=carry, o_CO=carry_out)
                carry = carry_out
        return following
