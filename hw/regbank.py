"""The register bank of a kernel shell, generated from its :class:`RegisterMap`.

One Component holds every register of the map and the job state behind the
common block (see :mod:`hetflow.hw.regmap`):

* host writes (``csr.w_stb``) land in the ``rw`` registers only while no job
  runs; a write of bit 0 of ``ctrl`` while idle is the ``start`` pulse;
* ``busy`` rises the cycle after ``start`` and falls the cycle after
  ``finish``; ``done`` then stays set until the next start; ``cycles`` counts
  the cycles from start to done;
* a read (``csr.r_stb``) returns the addressed word on the next cycle, signed
  registers sign-extended to 32 bits, unmapped words as 0.

What the core sees leaves the bank as one ``ctl`` member, a
:class:`~hetflow.hw.control.ControlSignature`: the job's start pulse, busy,
the core's finish, ``len``, and the kernel's own registers typed as declared
(``bank.ctl.regs.a`` is ``signed(32)`` when ``a`` is declared signed).
"""

from amaranth.hdl import Cat, Module, Signal, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .control import ControlSignature, register_shape
from .csr import CSRSignature
from .regmap import COMMON_REGISTERS

__all__ = ["RegisterBank"]

_COMMON = frozenset(r.name for r in COMMON_REGISTERS)


class RegisterBank(wiring.Component):
    """Registers, start/busy/done and the cycle counter of one kernel instance.

    Parameters
    ----------
    regmap : RegisterMap
        The layout; every ``rw`` kernel register gets storage, the common
        block its fixed behaviour.

    Attributes
    ----------
    csr : In(CSRSignature)
        The host's register bus.
    ctl : Out(ControlSignature)
        To the kernel's core: ``start`` pulses when the host starts a job,
        ``busy`` is high while it runs, ``finish`` (from the core) ends it,
        ``length`` and ``regs`` are the registers.
    """

    def __init__(self, regmap):
        self.regmap = regmap
        super().__init__({"csr": In(CSRSignature(regmap.addr_width)),
                          "ctl": Out(ControlSignature(regmap))})

    def _kernel_words(self):
        """``{word address: (value, writable)}`` of the kernel registers."""
        words = {}
        for reg in self.regmap:
            if reg.name in _COMMON:
                continue
            if reg.access == "rw":
                field = self.ctl.regs[reg.name]
                cells = [field[i] for i in range(reg.count)] if reg.array else [field]
            else:
                # Not host-written: reads as zero (no built-in kernel has one).
                cells = [Signal(register_shape(reg), name=f"reg_{reg.name}_{i}")
                         for i in range(reg.count)]
            for i, cell in enumerate(cells):
                words[(reg.offset >> 2) + i] = (cell, reg.access == "rw")
        return words

    def elaborate(self, platform):
        m = Module()
        regmap, csr, ctl = self.regmap, self.csr, self.ctl
        done = Signal()
        cycles = Signal(64)

        words = self._kernel_words()
        words[regmap["status"].offset >> 2] = (Cat(ctl.busy, done), False)
        words[regmap["len"].offset >> 2] = (ctl.length, True)
        words[regmap["cycles_lo"].offset >> 2] = (cycles[:32], False)
        words[regmap["cycles_hi"].offset >> 2] = (cycles[32:], False)
        words[regmap["id"].offset >> 2] = (regmap.kernel_id, False)

        with m.If(csr.w_stb & ~ctl.busy):
            with m.Switch(csr.addr):
                for addr, (target, writable) in words.items():
                    if writable:
                        with m.Case(addr):
                            width = Shape.cast(target.shape()).width
                            m.d.sync += target.eq(csr.w_data[:width])
        ctrl = regmap["ctrl"].offset >> 2
        m.d.comb += ctl.start.eq(csr.w_stb & (csr.addr == ctrl) & csr.w_data[0] & ~ctl.busy)

        with m.If(csr.r_stb):
            with m.Switch(csr.addr):
                for addr, (value, _) in words.items():
                    with m.Case(addr):
                        m.d.sync += csr.r_data.eq(value)
                with m.Default():
                    m.d.sync += csr.r_data.eq(0)

        with m.If(ctl.start):
            m.d.sync += [ctl.busy.eq(1), done.eq(0), cycles.eq(0)]
        with m.Elif(ctl.busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(ctl.finish):
                m.d.sync += [ctl.busy.eq(0), done.eq(1)]
        return m
