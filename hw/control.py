"""The control interface between a kernel's register bank and its core.

The shell's :class:`~hetflow.hw.regbank.RegisterBank` drives it and the
kernel's :class:`~hetflow.hw.core.KernelCore` receives it (``In``), so the two
are joined with one ``wiring.connect``.  Its timing is the contract every core
keeps:

* ``start`` is a one-cycle pulse when the host starts a job (reset the core's
  job state on it);
* ``busy`` rises the cycle after ``start`` and falls the cycle after the core
  raises ``finish``;
* ``finish`` is driven by the core, high (combinationally) in the cycle the
  job is complete, sampled only while ``busy``;
* ``length`` and ``regs`` hold the ``len`` register and the kernel's own
  registers; the host writes them only while no job runs, so they are stable
  from ``start`` to ``finish``.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .regmap import COMMON_REGISTERS

__all__ = ["ControlSignature", "register_layout", "register_shape"]

_COMMON = frozenset(r.name for r in COMMON_REGISTERS)


def register_shape(reg):
    """The Amaranth shape of one element of register ``reg`` (signed as declared)."""
    return signed(reg.bits) if reg.signed else unsigned(reg.bits)


def register_layout(regmap):
    """The ``data.StructLayout`` of a map's kernel registers (``rw`` ones), or None.

    One field per register, named as declared; an array register is a
    ``data.ArrayLayout`` field, so ``regs.h[2]`` is its third element.
    """
    fields = {}
    for reg in regmap:
        if reg.name in _COMMON or reg.access != "rw":
            continue
        shape = register_shape(reg)
        fields[reg.name] = data.ArrayLayout(shape, reg.count) if reg.array else shape
    return data.StructLayout(fields) if fields else None


class ControlSignature(wiring.Signature):
    """Start, busy, finish, length and the kernel registers, seen from the bank.

    Parameters
    ----------
    regmap : RegisterMap
        The kernel's register map; its ``rw`` kernel registers become the
        ``regs`` member (absent when there are none).

    Members
    -------
    start : Out(1)
    busy : Out(1)
    finish : In(1)
    length : Out(32)
    regs : Out(StructLayout)
        See :func:`register_layout`.
    """

    def __init__(self, regmap):
        self.regs_layout = register_layout(regmap)
        members = {"start": Out(1), "busy": Out(1), "finish": In(1), "length": Out(32)}
        if self.regs_layout is not None:
            members["regs"] = Out(self.regs_layout)
        super().__init__(members)

    def __eq__(self, other):
        return (isinstance(other, ControlSignature)
                and self.regs_layout == other.regs_layout)

    def __repr__(self):
        return f"ControlSignature({self.regs_layout!r})"
