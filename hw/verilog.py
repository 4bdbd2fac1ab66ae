"""Verilog of a kernel instance with flat, simulator-friendly port names.

Amaranth names component ports by path joined with ``__`` (``x__valid``),
which Verilator mangles in C++ (``x___05Fvalid``).  The top level written here
uses single underscores instead: ``clk``, ``rst``, ``csr_addr``, ``csr_w_stb``,
``csr_w_data``, ``csr_r_stb``, ``csr_r_data`` and, per stream port ``p``,
``p_valid``, ``p_ready``, ``p_data``.
"""

from amaranth.back import verilog
from amaranth.hdl import Value, _ir
from amaranth.lib import wiring

__all__ = ["flat_ports", "to_verilog", "top_name"]


def top_name(kernel):
    return f"hetflow_{kernel.name}"


def flat_ports(kernel):
    """``{port_name: (value, direction)}`` for ``amaranth.back.verilog.convert``."""
    ports = {}
    for path, member, value in kernel.signature.flatten(kernel):
        parts = [str(p) for p in path]
        if parts[-1] == "payload":
            parts[-1] = "data"
        name = "_".join(parts)
        direction = _ir.PortDirection.Input if member.flow == wiring.In else _ir.PortDirection.Output
        # A typed payload is a data.View over its signal: the port is the signal.
        ports[name] = (Value.cast(value), direction)
    return ports


def to_verilog(kernel, name=None):
    """Verilog text of ``kernel`` (an elaborated-on-demand Kernel instance)."""
    return verilog.convert(kernel, name=name or top_name(kernel), ports=flat_ports(kernel),
                           emit_src=False)
