"""Serial framing: the board protocol's frames wrapped for a lossy byte line.

A UART loses, flips and inserts bytes; the transaction protocol of
:mod:`hetflow.link.protocol` assumes a perfect pipe.  Between the host
(:mod:`hetflow.backends.serial`) and the SoC's UART-to-bus bridge (modelled by
:mod:`hetflow.sim.board.bridge`) every protocol frame travels inside one
*serial frame*; every integer is little-endian:

====== ====== ========== ==========================================================
offset size   field      meaning
====== ====== ========== ==========================================================
0      1      sync       :data:`SYNC` (0x7e), where a receiver starts looking
1      1      seq        sequence number: the host counts its requests modulo 256;
                         a response carries the number of its request
2      4      length     payload bytes, at most :data:`MAX_PAYLOAD`
6      length payload    one request or response frame of the board protocol,
                         unchanged (``u8 opcode/status | u32 length | ...``)
6+len  4      crc        ``zlib.crc32`` of the bytes ``seq | length | payload``
====== ====== ========== ==========================================================

The sync byte is not escaped (it may occur inside a payload): the CRC, not
the sync byte, is what proves a frame.  A receiver (:class:`FrameDecoder`)
looks for a sync byte, rejects a length above :data:`MAX_PAYLOAD` at once
(so a corrupted length never makes it wait for gigabytes), waits for the
whole frame and checks the CRC.  After any bad candidate it resumes the
search one byte after that candidate's sync byte, so a good frame that
follows garbage, or that was swallowed by a corrupted one, is still found.
A frame cut short by lost bytes completes with bytes of the next frame and
fails its CRC; if nothing follows, the owner calls :meth:`FrameDecoder.expire`
once the line has been idle for a while and the partial frame is dropped.

Retries and idempotency are the host's and the bridge's business (see their
modules): a request is resent with the same sequence number, and a bridge
that sees the sequence number and payload of the request it answered last
sends the same response again instead of executing it twice.
"""

import struct
import zlib
from dataclasses import dataclass

__all__ = ["SYNC", "HEADER", "TRAILER", "MAX_PAYLOAD", "OVERHEAD", "BOARD_FAILED",
           "BRIDGE_MAX_PAYLOAD", "BRIDGE_RX_BUFFER", "BRIDGE_CHUNK", "DEFAULT_BAUD",
           "DEFAULT_TURNAROUND_S",
           "encode_frame", "FrameDecoder", "Frame", "FrameError"]

SYNC = 0x7E
#: sync, seq, length.
HEADER = struct.Struct("<BBI")
#: CRC-32.
TRAILER = struct.Struct("<I")
#: Bytes a serial frame adds around its payload.
OVERHEAD = HEADER.size + TRAILER.size
#: Largest payload: 16 MiB of memory data plus the request header (5 bytes) and
#: a MEM_WRITE address (4 bytes), with room to spare.
MAX_PAYLOAD = (16 << 20) + 64

#: Largest payload the gateware bridge (:mod:`hetflow.boards.bridge`) accepts: it
#: buffers a whole request in block RAM and checks its CRC before executing it.
#: The request header (5 bytes) and a MEM_WRITE address (4 bytes) plus
#: :data:`BRIDGE_CHUNK` bytes of data fit, with room to spare.
BRIDGE_MAX_PAYLOAD = 1024 + 64
#: Bytes of the gateware bridge's receive buffer (block RAM): it keeps taking
#: frames while it executes a request and answers it, and drops a frame that
#: does not fit, so a host keeps at most this many bytes of requests sent but
#: not yet answered.  Two frames of :data:`BRIDGE_MAX_PAYLOAD` fit (the bridge
#: stores a frame in its payload plus 4 bytes); a power of two: 8 of the
#: iCE40UP5K's 30 block RAMs.
BRIDGE_RX_BUFFER = 4096
#: Memory bytes per MEM_WRITE / MEM_READ request that a board bridge takes.
BRIDGE_CHUNK = 1024
#: Line speed (8N1) the serial backend uses when neither ``baudrate=`` nor a build
#: (``board=``) names one.  A build defaults to its board's top rate instead
#: (:func:`hetflow.boards.usbuart.default_baud`).
DEFAULT_BAUD = 115200
#: Seconds one request/response exchange waits in the USB-UART beyond its bytes: an
#: FTDI chip sends a short response to the host only when its receive buffer timeout
#: (the "latency timer") expires, 16 ms by default and 1 ms at its minimum (FT232R
#: datasheet, 2.1.8 "Programmable Receive Buffer Timeout"); 1 ms assumes it is set low.
DEFAULT_TURNAROUND_S = 1e-3

#: Response status a bridge sends when the board behind it failed (died, hung)
#: while executing the request; the payload is an ASCII message.  Outside the
#: protocol's own status codes (1..6) so it cannot be mistaken for one.
BOARD_FAILED = 0x40


def encode_frame(seq, payload):
    """The serial frame carrying ``payload`` (bytes) with sequence number ``seq`` (0..255)."""
    if not 0 <= seq <= 0xFF:
        raise ValueError(f"sequence number must be 0..255, not {seq}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is larger than the "
                         f"{MAX_PAYLOAD}-byte limit of a serial frame")
    head = HEADER.pack(SYNC, seq, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head[1:]))
    return b"".join((head, payload, TRAILER.pack(crc)))


@dataclass(frozen=True)
class Frame:
    """A frame that passed its CRC."""

    seq: int
    payload: bytes


@dataclass(frozen=True)
class FrameError:
    """Something the decoder dropped.

    ``kind`` is ``"crc"`` (a whole candidate frame whose CRC does not match),
    ``"length"`` (a length above :data:`MAX_PAYLOAD`), ``"truncated"`` (a
    partial frame dropped by :meth:`FrameDecoder.expire`) or ``"garbage"``
    (bytes before a sync byte); ``size`` is the candidate's length field, or
    the number of garbage bytes.
    """

    kind: str
    size: int


class FrameDecoder:
    """Incremental receiver: feed it bytes as they come, get frames and errors back.

    Parameters
    ----------
    max_payload : int
        Candidates announcing a longer payload are rejected at once.

    Attributes
    ----------
    stats : dict
        Counts since creation: ``frames``, ``crc`` and ``length`` errors,
        ``truncated`` frames and ``garbage`` bytes.
    """

    def __init__(self, max_payload=MAX_PAYLOAD):
        self.max_payload = int(max_payload)
        self._buf = bytearray()
        self.stats = {"frames": 0, "crc": 0, "length": 0, "truncated": 0, "garbage": 0}

    @property
    def pending(self):
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def clear(self):
        """Drop everything buffered (the caller is about to resend and start over)."""
        self._buf.clear()

    def _error(self, events, kind, size):
        self.stats[kind] += 1 if kind != "garbage" else size
        events.append(FrameError(kind, size))

    def feed(self, data):
        """Take received bytes; return the list of :class:`Frame` / :class:`FrameError` found."""
        buf = self._buf
        buf += data
        events = []
        pos = 0
        while True:
            start = buf.find(SYNC, pos)
            if start < 0:
                if len(buf) > pos:
                    self._error(events, "garbage", len(buf) - pos)
                pos = len(buf)
                break
            if start > pos:
                self._error(events, "garbage", start - pos)
            pos = start
            if len(buf) - pos < HEADER.size:
                break                                   # wait for the header
            _, seq, length = HEADER.unpack_from(buf, pos)
            if length > self.max_payload:
                self._error(events, "length", length)
                pos += 1                                # resync after this sync byte
                continue
            end = pos + HEADER.size + length + TRAILER.size
            if len(buf) < end:
                break                                   # wait for the rest
            body = bytes(buf[pos + HEADER.size:end - TRAILER.size])
            (crc,) = TRAILER.unpack_from(buf, end - TRAILER.size)
            if zlib.crc32(body, zlib.crc32(buf[pos + 1:pos + HEADER.size])) != crc:
                self._error(events, "crc", length)
                pos += 1
                continue
            self.stats["frames"] += 1
            events.append(Frame(seq, body))
            pos = end
        del buf[:pos]
        return events

    def expire(self):
        """The line has been idle: drop partial frames, keep the frames found after them.

        A partial frame cannot complete once the sender has stopped, so it is
        dropped (a :class:`FrameError` of kind ``"truncated"``) and the bytes
        after its sync byte are searched again, until nothing is held back.
        Returns the events, in order.
        """
        events = []
        while self._buf:
            length = HEADER.unpack_from(self._buf, 0)[2] if len(self._buf) >= HEADER.size else 0
            self._error(events, "truncated", length)
            rest = bytes(self._buf[1:])
            self._buf.clear()
            events += self.feed(rest)
        return events
