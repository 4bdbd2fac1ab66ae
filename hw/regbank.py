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

The kernel's own registers leave the bank as one ``regs`` member, a
``data.StructLayout`` with a field per register (``data.ArrayLayout`` for
arrays), typed as declared: ``bank.regs.a`` is ``signed(32)`` when ``a`` is
declared signed.
"""

from amaranth.hdl import Cat, Module, Signal, Shape, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .csr import CSRSignature
from .regmap import COMMON_REGISTERS

__all__ = ["RegisterBank", "register_layout"]

_COMMON = frozenset(r.name for r in COMMON_REGISTERS)


def _shape(reg):
    return signed(reg.bits) if reg.signed else unsigned(reg.bits)


def register_layout(regmap):
    """The ``data.StructLayout`` of a map's kernel registers (``rw`` ones), or None."""
    fields = {}
    for reg in regmap:
        if reg.name in _COMMON or reg.access != "rw":
            continue
        fields[reg.name] = data.ArrayLayout(_shape(reg), reg.count) if reg.array \
            else _shape(reg)
    return data.StructLayout(fields) if fields else None


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
    start : Out(1)
        One-cycle pulse: the host started a job.
    busy : Out(1)
        A job runs.
    finish : In(1)
        The core's end of job (sampled while ``busy``).
    length : Out(32)
        The ``len`` register.
    regs : Out(StructLayout)
        The kernel's registers (absent when it has none).
    """

    def __init__(self, regmap):
        self.regmap = regmap
        members = {"csr": In(CSRSignature(regmap.addr_width)), "start": Out(1), "busy": Out(1),
                   "finish": In(1), "length": Out(32)}
        layout = register_layout(regmap)
        if layout is not None:
            members["regs"] = Out(layout)
        super().__init__(members)

    def _kernel_words(self):
        """``{word address: (value, writable)}`` of the kernel registers."""
        words = {}
        for reg in self.regmap:
            if reg.name in _COMMON:
                continue
            if reg.access == "rw":
                field = self.regs[reg.name]
                cells = [field[i] for i in range(reg.count)] if reg.array else [field]
            else:
                # Not host-written: reads as zero (no built-in kernel has one).
                cells = [Signal(_shape(reg), name=f"reg_{reg.name}_{i}")
                         for i in range(reg.count)]
            for i, cell in enumerate(cells):
                words[(reg.offset >> 2) + i] = (cell, reg.access == "rw")
        return words

    def elaborate(self, platform):
        m = Module()
        regmap, csr = self.regmap, self.csr
        done = Signal()
        cycles = Signal(64)

        words = self._kernel_words()
        words[regmap["status"].offset >> 2] = (Cat(self.busy, done), False)
        words[regmap["len"].offset >> 2] = (self.length, True)
        words[regmap["cycles_lo"].offset >> 2] = (cycles[:32], False)
        words[regmap["cycles_hi"].offset >> 2] = (cycles[32:], False)
        words[regmap["id"].offset >> 2] = (regmap.kernel_id, False)

        with m.If(csr.w_stb & ~self.busy):
            with m.Switch(csr.addr):
                for addr, (target, writable) in words.items():
                    if writable:
                        with m.Case(addr):
                            width = Shape.cast(target.shape()).width
                            m.d.sync += target.eq(csr.w_data[:width])
        ctrl = regmap["ctrl"].offset >> 2
        m.d.comb += self.start.eq(csr.w_stb & (csr.addr == ctrl) & csr.w_data[0] & ~self.busy)

        with m.If(csr.r_stb):
            with m.Switch(csr.addr):
                for addr, (value, _) in words.items():
                    with m.Case(addr):
                        m.d.sync += csr.r_data.eq(value)
                with m.Default():
                    m.d.sync += csr.r_data.eq(0)

        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), done.eq(0), cycles.eq(0)]
        with m.Elif(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(self.finish):
                m.d.sync += [self.busy.eq(0), done.eq(1)]
        return m
