"""A bit-serial CRC-32 engine: the bridge's receiver and transmitter each own one.

A byte-parallel CRC-32 step is a network of XORs eight levels deep across
32 bits (some 180 logic cells on an iCE40); one bit a cycle is a shift
register with an XOR at each of the polynomial's taps, which pack into the
flip-flops' own cells.  The bridge's bytes come from a UART, ten bit times
apart (at least 40 cycles, see :data:`~hetflow.boards.uart.MIN_DIVISOR`),
so eight cycles a byte cost the link nothing: the engine takes bytes as a
stream, and its ``ready`` back-pressures a faster source.  More bits a cycle
(``bits_per_cycle``) trade cells for speed; at 8 the engine takes a byte
every cycle, as the formal harness wants it (its proofs are bounded in cycles).

A byte is XORed into the register's bottom bits as the engine takes it and
then only shifted through: the division by the polynomial takes a message's
bits in any grouping, so the engine keeps no copy of the byte, only the
cycles still to come (and whether the byte is a turn).

Besides folding a byte in, the engine can *turn* its register: rotate it
right by one byte, so the CRC's next byte comes to the bottom.  That is how
the transmitter sends a CRC, and the receiver compares one, a byte at a
time without a 4-to-1 multiplexer on 32 bits (a turn only masks the
feedback at the taps, which the same cells do).

The register holds zlib's CRC-32 (after its final inversion) of the bytes
folded in since the last clear, so it clears to 0: the flip-flops' own reset
value on an iCE40, where a register that resets to ones costs an inverter
on each bit.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...hw.errors import ParamError
from ...hw.kernels.crc32 import POLY, crc32_byte_step

__all__ = ["CrcByteLayout", "CrcSignature", "SerialCrc32", "BITS_PER_CYCLE"]

#: The bits a cycle :class:`SerialCrc32` can fold.
BITS_PER_CYCLE = (1, 2, 4, 8)


class CrcByteLayout(data.StructLayout):
    """A byte for the engine: ``data`` to fold in, or, with ``turn``, none (the
    register rotates right by 8 bits instead)."""

    def __init__(self):
        super().__init__({"data": 8, "turn": 1})


class CrcSignature(wiring.Signature):
    """The port of a :class:`SerialCrc32`, seen from its user.

    Members
    -------
    clear : Out(1)
        Restart: the register takes 0 (the CRC of nothing) and a byte in
        progress is abandoned; no byte is taken meanwhile.
    byte : Out(stream.Signature(CrcByteLayout()))
        Bytes to fold in (or turns).
    value : In(32)
        zlib's CRC-32 of the bytes folded in; settled whenever ``byte.ready``
        is high.
    """

    def __init__(self):
        super().__init__({
            "clear": Out(1),
            "byte": Out(stream.Signature(CrcByteLayout())),
            "value": In(32),
        })


class SerialCrc32(wiring.Component):
    """The reflected CRC-32 (zlib's), ``bits_per_cycle`` bits a cycle (see the module doc).

    A byte is taken when the engine is idle and its first bits are folded in
    that cycle; the engine is busy for ``8 // bits_per_cycle - 1`` more.

    Parameters
    ----------
    bits_per_cycle : int
        1, 2, 4 or 8.

    Members
    -------
    port : In(CrcSignature())
        The user's port.
    """

    def __new__(cls, bits_per_cycle=1):
        # Checked before the object exists, so a refused engine leaves no unused elaboratable.
        if bits_per_cycle not in BITS_PER_CYCLE:
            raise ParamError(f"CRC engine bits_per_cycle = {bits_per_cycle!r} is not allowed; "
                             f"choose one of {', '.join(map(str, BITS_PER_CYCLE))}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, bits_per_cycle=1):
        self.bits_per_cycle = bits_per_cycle
        super().__init__({"port": In(CrcSignature())})

    def elaborate(self, platform):
        m = Module()
        port, n = self.port, self.bits_per_cycle
        # No reset of their own: the user clears the engine whenever it is idle, as it is
        # after a reset, and a second reset input on every flip-flop costs logic.
        crc = Signal(32, reset_less=True)
        m.d.comb += port.value.eq(crc)
        if n == 8:
            # A byte a cycle: the kernels' byte step (the formal harness's shadow computes
            # the same expression, which keeps its proofs fast).
            m.d.comb += port.byte.ready.eq(~port.clear)
            folded = ~crc32_byte_step(m, ~crc, port.byte.payload.data, "fold")
            with m.If(port.clear):
                m.d.sync += crc.eq(0)
            with m.Elif(port.byte.valid):
                m.d.sync += crc.eq(Mux(port.byte.payload.turn, crc.rotate_right(8), folded))
            return m

        # The byte is XORed into the register's bottom bits as it is taken, and then only
        # shifted through (a CRC's bits may be folded in all at once or one by one: the
        # same polynomial division), so the engine keeps no copy of the byte: only the
        # cycles still to come and whether the byte is a turn.
        left = Signal(range(8 // n), reset_less=True)
        turn = Signal(reset_less=True)
        busy = left != 0
        m.d.comb += port.byte.ready.eq(~busy & ~port.clear)
        take = port.byte.valid & port.byte.ready
        turning = Mux(busy, turn, port.byte.payload.turn)
        value = crc ^ Mux(take & ~port.byte.payload.turn, port.byte.payload.data, 0)
        for i in range(n):
            # One bit: the register (inverted, as zlib's CRC is) shifts right; folding, the
            # bit shifted out decides whether the polynomial is XORed in; turning, the bit
            # comes back in at the top.
            feedback = ~turning & ~value[0]
            step = Signal(32, name=f"step{i}")
            m.d.comb += step.eq(Cat(value[1:], Mux(turning, value[0], 1))
                                ^ Mux(feedback, Const(POLY, 32), 0))
            value = step
        with m.If(port.clear):
            m.d.sync += [crc.eq(0), left.eq(0)]
        with m.Elif(take):
            m.d.sync += [crc.eq(value), left.eq(8 // n - 1), turn.eq(port.byte.payload.turn)]
        with m.Elif(busy):
            m.d.sync += [crc.eq(value), left.eq(left - 1)]
        return m
