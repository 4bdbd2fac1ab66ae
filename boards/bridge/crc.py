"""One CRC-32 engine shared by the bridge's receiver and transmitter.

The receiver and the transmitter work on different frames at the same time,
so each keeps its own 32-bit register; the byte step (the XOR network of
:func:`~hetflow.hw.kernels.crc32.crc32_byte_step`, most of the cost) exists
once and serves one of them per cycle.  The receiver has priority: a UART
cannot be paused.  The transmitter steps only when ``ready`` says the engine
is free, which it is on every cycle the receiver takes no byte.

The registers hold the CRC before its final inversion (``~zlib.crc32``);
:data:`RESIDUE` is what the receiver's register holds after a frame's bytes
*and* its CRC bytes, when the CRC matched.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...hw.kernels.crc32 import crc32_byte_step

__all__ = ["CrcSignature", "SharedCrc32", "RESIDUE"]

#: Register value after a message followed by its own (little-endian) CRC-32.
RESIDUE = 0xDEBB20E3
_INIT = 0xFFFFFFFF


class CrcSignature(wiring.Signature):
    """One user's port of :class:`SharedCrc32`, seen from the user.

    Members
    -------
    clear : Out(1)
        Restart: the register takes the initial value (wins over ``step``).
    step : Out(1)
        Fold ``data`` into the register this cycle (only when ``ready``).
    data : Out(8)
        The byte to fold in.
    ready : In(1)
        The engine is free for this user this cycle.
    value : In(32)
        The register (not inverted).
    next : In(32)
        What the register becomes if this user steps this cycle.
    """

    def __init__(self):
        super().__init__({
            "clear": Out(1),
            "step": Out(1),
            "data": Out(8),
            "ready": In(1),
            "value": In(32),
            "next": In(32),
        })


class SharedCrc32(wiring.Component):
    """A CRC-32 byte step shared by two users, each with its own register.

    Members
    -------
    first : In(CrcSignature())
        The user with priority (the receiver): always ready.
    second : In(CrcSignature())
        The other user (the transmitter): ready when ``first`` does not step.
    """

    def __init__(self):
        super().__init__({"first": In(CrcSignature()), "second": In(CrcSignature())})

    def elaborate(self, platform):
        m = Module()
        users = (self.first, self.second)
        regs = [Signal(32, init=_INIT, name=f"crc_{n}") for n in ("first", "second")]
        use_first = self.first.step
        step_next = crc32_byte_step(m, Mux(use_first, regs[0], regs[1]),
                                    Mux(use_first, self.first.data, self.second.data), "crc")
        m.d.comb += [self.first.ready.eq(1), self.second.ready.eq(~use_first)]
        for user, reg in zip(users, regs):
            m.d.comb += [user.value.eq(reg), user.next.eq(step_next)]
            with m.If(user.clear):
                m.d.sync += reg.eq(_INIT)
            with m.Elif(user.step & user.ready):
                m.d.sync += reg.eq(step_next)
        return m
