"""The control/status register bus every kernel shell exposes.

A deliberately small word-addressed bus, so that it wraps easily into AXI4-Lite
(Zynq), a UART bridge (iCE40/ECP5) or a simulator harness:

* a write is ``w_stb`` high for one cycle with ``addr`` and ``w_data``;
* a read is ``r_stb`` high for one cycle with ``addr``; ``r_data`` holds the
  value from the next cycle on, until the next read.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CSRSignature"]


class CSRSignature(wiring.Signature):
    """Signature of the register bus, seen from the host (initiator) side.

    Parameters
    ----------
    addr_width : int
        Width of the word address.
    """

    def __init__(self, addr_width):
        if not isinstance(addr_width, int) or addr_width < 1:
            raise TypeError(f"addr_width must be a positive integer, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({
            "addr":   Out(addr_width),
            "w_stb":  Out(1),
            "w_data": Out(32),
            "r_stb":  Out(1),
            "r_data": In(32),
        })

    def __eq__(self, other):
        return isinstance(other, CSRSignature) and other.addr_width == self.addr_width

    def __repr__(self):
        return f"CSRSignature({self.addr_width})"
