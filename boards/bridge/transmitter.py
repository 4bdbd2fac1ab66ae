"""The bridge's transmitter: response payloads into serial frames on the line.

It takes one :class:`ResponseLayout` beat per response (sequence number and
payload length), sends ``sync | seq | length``, forwards the payload bytes
the executor streams, and ends the frame with the CRC-32 of everything after
the sync byte.  Every byte is loaded into the output register when the
shared CRC engine is free for it (the receiver has priority), so ``tx`` is a
plain registered stream whose ``valid`` never drops before a transfer.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...link.framing import SYNC
from .crc import CrcSignature

__all__ = ["ResponseLayout", "FrameTransmitter"]


class ResponseLayout(data.StructLayout):
    """One response's frame header: its sequence number and payload length in bytes."""

    def __init__(self, length_bits):
        super().__init__({"seq": 8, "length": length_bits})


class FrameTransmitter(wiring.Component):
    """Response payloads to framed bytes (see the module doc).

    Parameters
    ----------
    length_bits : int
        Width of the payload length (the frame's length field is 4 bytes).

    Members
    -------
    response : In(stream.Signature(ResponseLayout(length_bits)))
        One beat per response, taken when its frame starts.
    body : In(stream.Signature(8))
        The payload bytes, ``length`` of them per response.
    tx : Out(stream.Signature(8))
        Bytes to the line.
    crc : Out(CrcSignature())
        The shared CRC engine (this user waits for ``ready``).
    busy : Out(1)
        A frame is being sent.
    """

    def __init__(self, length_bits):
        self.length_bits = int(length_bits)
        super().__init__({
            "response": In(stream.Signature(ResponseLayout(self.length_bits))),
            "body": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "crc": Out(CrcSignature()),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc, tx = self.crc, self.tx
        seq = Signal(8)
        length = Signal(self.length_bits)
        left = Signal(self.length_bits)           # payload bytes still to forward
        count = Signal(2)                          # byte within the length / CRC field
        # The output register is free for the next byte when empty or being taken.
        free = ~tx.valid | tx.ready
        with m.If(tx.ready):
            m.d.sync += tx.valid.eq(0)

        # A byte is folded into the CRC from the output register, the cycle after it was
        # loaded or later (the receiver has the engine first); the next byte waits for it.
        pending = Signal()
        with m.If(pending):
            m.d.comb += [crc.data.eq(tx.payload), crc.step.eq(1)]
            with m.If(crc.ready):
                m.d.sync += pending.eq(0)
        go = Signal()
        m.d.comb += go.eq(free & ~pending)

        def load(value, *, checked=True, then=None):
            """Put ``value`` in the output register when it is free and the CRC has caught up."""
            with m.If(go):
                m.d.sync += [tx.payload.eq(value), tx.valid.eq(1), pending.eq(checked)]
                if then is not None:
                    then()

        with m.FSM(name="transmitter") as fsm:
            with m.State("IDLE"):
                m.d.comb += [self.response.ready.eq(go), crc.clear.eq(1)]
                with m.If(self.response.valid & go):
                    m.d.sync += [seq.eq(self.response.payload.seq),
                                 length.eq(self.response.payload.length),
                                 left.eq(self.response.payload.length),
                                 tx.payload.eq(SYNC), tx.valid.eq(1)]
                    m.next = "SEQ"

            with m.State("SEQ"):
                def after_seq():
                    m.d.sync += count.eq(0)
                    m.next = "LENGTH"
                load(seq, then=after_seq)

            with m.State("LENGTH"):
                def after_length():
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 3):
                        m.next = "BODY"
                load(Cat(length, Const(0, 32)).word_select(count, 8), then=after_length)

            with m.State("BODY"):
                with m.If(left == 0):
                    with m.If(~pending):
                        m.d.sync += count.eq(0)
                        m.next = "CRC"
                with m.Else():
                    m.d.comb += self.body.ready.eq(go)
                    with m.If(go & self.body.valid):
                        m.d.sync += [tx.payload.eq(self.body.payload), tx.valid.eq(1),
                                     pending.eq(1), left.eq(left - 1)]

            with m.State("CRC"):
                def after_crc():
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 3):
                        m.next = "IDLE"
                load((~crc.value).word_select(count, 8), checked=False, then=after_crc)

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE") | tx.valid)
        return m
