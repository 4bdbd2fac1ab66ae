"""The bridge's transmitter: response frames onto the line, with their sync byte and CRC.

The executor streams each response frame's bytes after the sync byte
(``seq | length | payload``) as :class:`FrameByteLayout` beats, the last one
flagged.  The transmitter sends the sync byte when a frame's first byte is
waiting, forwards the bytes, and ends the frame with the CRC-32 of everything
after the sync byte.  Every byte is loaded into the output register as the
transmitter's own bit-serial CRC engine (:class:`~.crc.SerialCrc32`) takes it,
8 cycles a byte, far below a UART's byte time; so ``tx`` is a plain registered
stream whose ``valid`` never drops before a transfer.  It keeps no count of
its own: the frame's length is the executor's business.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...link.framing import SYNC
from .crc import CrcSignature

__all__ = ["FrameByteLayout", "FrameTransmitter"]


class FrameByteLayout(data.StructLayout):
    """One byte of a response frame after its sync byte, and whether it is the frame's last."""

    def __init__(self):
        super().__init__({"data": 8, "last": 1})


class FrameTransmitter(wiring.Component):
    """Response frame bytes to framed bytes on the line (see the module doc).

    Members
    -------
    frame : In(stream.Signature(FrameByteLayout()))
        The bytes of each response frame after its sync byte; ``last`` on the
        frame's last payload byte.
    tx : Out(stream.Signature(8))
        Bytes to the line.
    crc : Out(CrcSignature())
        The transmitter's CRC engine.
    busy : Out(1)
        A frame is being sent.
    """

    def __init__(self):
        super().__init__({
            "frame": In(stream.Signature(FrameByteLayout())),
            "tx": Out(stream.Signature(8)),
            "crc": Out(CrcSignature()),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc, tx, frame = self.crc, self.tx, self.frame
        count = Signal(2)                          # byte within the CRC field
        # The output register is free for the next byte when empty or being taken.
        free = ~tx.valid | tx.ready
        # One load of the output register, from the byte each state picks: a register
        # assigned in each state would cost a multiplexer on its every bit.
        load = Signal()
        source = Signal(8)
        with m.If(load):
            m.d.sync += [tx.payload.eq(source), tx.valid.eq(1)]
        with m.Elif(tx.ready):
            m.d.sync += tx.valid.eq(0)
        m.d.comb += crc.byte.payload.data.eq(frame.payload.data)

        with m.FSM(name="transmitter") as fsm:
            with m.State("IDLE"):
                m.d.comb += [crc.clear.eq(1), source.eq(SYNC), load.eq(frame.valid & free)]
                with m.If(frame.valid & free):
                    m.next = "BODY"

            # A byte goes out as the engine takes it to fold in.
            with m.State("BODY"):
                m.d.comb += [source.eq(frame.payload.data),
                             crc.byte.valid.eq(frame.valid & free),
                             frame.ready.eq(free & crc.byte.ready),
                             load.eq(frame.valid & free & crc.byte.ready)]
                with m.If(frame.valid & frame.ready & frame.payload.last):
                    m.next = "CRC"

            # The register's bottom byte, as the engine turns the next one down.
            with m.State("CRC"):
                m.d.comb += [crc.byte.payload.turn.eq(1), crc.byte.valid.eq(free),
                             source.eq(crc.value[:8]), load.eq(free & crc.byte.ready)]
                with m.If(free & crc.byte.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 3):
                        m.next = "IDLE"

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE") | tx.valid)
        return m
