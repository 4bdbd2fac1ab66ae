"""Verilog of a component with flat, simulator-friendly port names.

Amaranth names component ports by path joined with ``__`` (``x__valid``),
which Verilator mangles in C++ (``x___05Fvalid``).  The top level written here
uses single underscores instead: ``clk``, ``rst``, ``csr_addr``, ``csr_w_stb``,
``csr_w_data``, ``csr_r_stb``, ``csr_r_data`` and, per stream port ``p``,
``p_valid``, ``p_ready``, ``p_data`` (an overlay instance's are prefixed with
its name: ``fir0_csr_addr``, ``fir0_x_valid``).

The renaming is a component of its own, :class:`FlatTop`, whose members are
the flat names and which wires each to the member it stands for, so the
Verilog comes from Amaranth's public ``verilog.convert`` on a component.
"""

from amaranth.back import verilog
from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FlatTop", "flat_name", "to_verilog", "top_name"]


def top_name(kernel):
    return f"hetflow_{kernel.name}"


def flat_name(path):
    """The flat port name of a signature member's path: ``("x", "payload")`` -> ``x_data``."""
    parts = [str(p) for p in path]
    if parts[-1] == "payload":
        parts[-1] = "data"
    return "_".join(parts)


class FlatTop(wiring.Component):
    """``inner`` with every port of its signature under its flat name (see the module doc).

    Parameters
    ----------
    inner : wiring.Component

    Members
    -------
    One per port of ``inner``'s signature, with its flow and width.
    """

    def __init__(self, inner):
        self.inner = inner
        self.ports = []                 # (flat name, flow, the inner member's value)
        members = {}
        for path, member, value in inner.signature.flatten(inner):
            name = flat_name(path)
            if name in members:
                raise ValueError(f"ports {name!r} of {type(inner).__name__} clash once flat; "
                                 f"rename one of the members")
            # A typed payload is a data.View over its signal: the port is the signal.
            value = Value.cast(value)
            members[name] = (In if member.flow == wiring.In else Out)(len(value),
                                                                      init=member.init)
            self.ports.append((name, member.flow, value))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        for name, flow, value in self.ports:
            port = getattr(self, name)
            m.d.comb += value.eq(port) if flow == wiring.In else port.eq(value)
        return m


def to_verilog(component, name=None):
    """Verilog text of ``component`` (a kernel's shell, an overlay fabric, a SoC) with flat
    port names; the top module is ``name`` (default :func:`top_name`)."""
    return verilog.convert(FlatTop(component), name=name or top_name(component),
                           emit_src=False)
