"""The virtual board's transaction protocol, as data.

The simulator process (see :mod:`hetflow.sim.board.harness`) and the Python
client (:mod:`hetflow.sim.board.virtual`) exchange *frames* on the process's
stdin/stdout.  Every integer is little-endian.

Request frame::

    u8 opcode | u32 payload length | payload

Response frame::

    u8 status | u32 payload length | payload

``status`` is :data:`OK` (0) or an error code; an error's payload is a short
ASCII message.  The frame is self-delimiting, so a serial backend can later wrap
each frame in its own ``length + CRC`` envelope without changing its contents.

====== ========= ================================ =================================
opcode name      request payload                  response payload (status OK)
====== ========= ================================ =================================
0x01   PING      (empty)                          ``b"HFVB"``, u16 version,
                                                  u8 channels, u32 memory size,
                                                  u32 register window size
0x02   RESET     u32 cycles (rst held high)       (empty)
0x03   REG_WRITE u32 byte offset, u32 value       (empty)
0x04   REG_READ  u32 byte offset                  u32 value
0x05   MEM_WRITE u32 address, bytes               (empty)
0x06   MEM_READ  u32 address, u32 length          bytes
0x07   DMA_SETUP u8 channel, u32 address,         (empty)
                 u32 beats
0x08   RUN       u64 max cycles                   u8 reason (0 done, 1 budget
                                                  exhausted), u64 cycles run
0x09   QUIT      (empty)                          (empty); the process exits
====== ========= ================================ =================================

DMA channels are numbered inputs first, in port order, then outputs.  A beat
occupies :func:`beat_stride` bytes of memory (see there).  ``RUN`` ends with
reason :data:`RUN_DONE` when the status register's done bit is set and every
DMA channel has moved all its beats.
"""

import struct
from dataclasses import dataclass

__all__ = [
    "VERSION", "MAGIC", "HEADER", "OPCODES", "STATUS", "Opcode", "Status",
    "PING", "RESET", "REG_WRITE", "REG_READ", "MEM_WRITE", "MEM_READ", "DMA_SETUP", "RUN",
    "QUIT", "OK", "RUN_DONE", "RUN_BUDGET", "ProtocolError",
    "encode_request", "decode_request", "encode_response", "decode_response",
    "encode_header", "decode_header", "beat_stride", "PingInfo",
]

VERSION = 1
MAGIC = b"HFVB"
#: Header of both frame kinds: u8 opcode or status, u32 payload length.
HEADER = struct.Struct("<BI")
#: Largest payload either side accepts (bounded again by the memory size).
MAX_PAYLOAD = 1 << 31


@dataclass(frozen=True)
class Opcode:
    """One request kind: code, name, request payload layout, response payload layout.

    ``request`` / ``response`` are :mod:`struct` formats of the fixed part; a
    trailing ``bytes`` part (``MEM_WRITE`` request, ``MEM_READ`` response) is
    flagged by ``request_tail`` / ``response_tail``.
    """

    code: int
    name: str
    request: str
    response: str
    request_tail: bool = False
    response_tail: bool = False

    @property
    def request_size(self):
        return struct.calcsize(self.request)

    @property
    def response_size(self):
        return struct.calcsize(self.response)


PING = Opcode(0x01, "PING", "<", "<4sHBII")
RESET = Opcode(0x02, "RESET", "<I", "<")
REG_WRITE = Opcode(0x03, "REG_WRITE", "<II", "<")
REG_READ = Opcode(0x04, "REG_READ", "<I", "<I")
MEM_WRITE = Opcode(0x05, "MEM_WRITE", "<I", "<", request_tail=True)
MEM_READ = Opcode(0x06, "MEM_READ", "<II", "<", response_tail=True)
DMA_SETUP = Opcode(0x07, "DMA_SETUP", "<BII", "<")
RUN = Opcode(0x08, "RUN", "<Q", "<BQ")
QUIT = Opcode(0x09, "QUIT", "<", "<")

OPCODES = {op.code: op for op in (PING, RESET, REG_WRITE, REG_READ, MEM_WRITE, MEM_READ,
                                  DMA_SETUP, RUN, QUIT)}


@dataclass(frozen=True)
class Status:
    code: int
    name: str
    doc: str


OK = 0
STATUS = {s.code: s for s in (
    Status(0, "OK", "request done"),
    Status(1, "BAD_OPCODE", "unknown opcode"),
    Status(2, "BAD_LENGTH", "payload length does not match the opcode"),
    Status(3, "BAD_REGISTER", "register offset outside the window or not 4-aligned"),
    Status(4, "BAD_ADDRESS", "memory range outside the memory"),
    Status(5, "BAD_CHANNEL", "no such DMA channel"),
    Status(6, "TOO_LARGE", "payload larger than the process accepts"),
)}

RUN_DONE = 0
RUN_BUDGET = 1


class ProtocolError(ValueError):
    """A frame that cannot be encoded or decoded."""


@dataclass(frozen=True)
class PingInfo:
    magic: bytes
    version: int
    channels: int
    memory_size: int
    register_size: int


def beat_stride(width):
    """Bytes one beat of a ``width``-bit payload occupies in board memory.

    ``ceil(width / 8)`` rounded up to a power of two, so beats never straddle
    a naturally aligned word (a 24-bit beat takes 4 bytes, a 128-bit one 16).
    The payload sits in the low bytes, little-endian; padding bytes are zero
    in what the DMA writes and ignored in what it reads.
    """
    nbytes = max(1, -(-int(width) // 8))
    stride = 1
    while stride < nbytes:
        stride *= 2
    return stride


def encode_header(code, length):
    return HEADER.pack(code, length)


def decode_header(data):
    if len(data) != HEADER.size:
        raise ProtocolError(f"frame header must be {HEADER.size} bytes, not {len(data)}")
    return HEADER.unpack(data)


def _op(opcode):
    if isinstance(opcode, Opcode):
        return opcode
    try:
        return OPCODES[opcode]
    except KeyError:
        raise ProtocolError(f"unknown opcode 0x{opcode:02x}") from None


def encode_request(opcode, *fields, data=b""):
    """A request frame: ``encode_request(REG_WRITE, 0x20, 5)``,
    ``encode_request(MEM_WRITE, 0x100, data=b"...")``."""
    op = _op(opcode)
    try:
        payload = struct.pack(op.request, *fields)
    except struct.error as exc:
        raise ProtocolError(f"{op.name}: bad fields {fields!r}: {exc}") from None
    if data and not op.request_tail:
        raise ProtocolError(f"{op.name} carries no data")
    payload += bytes(data)
    return HEADER.pack(op.code, len(payload)) + payload


def decode_request(frame):
    """``(Opcode, fields tuple, data bytes)`` from a whole request frame."""
    code, length = decode_header(frame[:HEADER.size])
    payload = bytes(frame[HEADER.size:])
    if len(payload) != length:
        raise ProtocolError(f"frame says {length} payload bytes but has {len(payload)}")
    op = _op(code)
    size = op.request_size
    if len(payload) < size or (not op.request_tail and len(payload) != size):
        raise ProtocolError(f"{op.name}: payload of {len(payload)} bytes; expected "
                            f"{size}{' or more' if op.request_tail else ''}")
    return op, struct.unpack(op.request, payload[:size]), payload[size:]


def encode_response(status, payload=b""):
    """A response frame; ``payload`` is bytes (an error's ASCII message)."""
    if isinstance(payload, str):
        payload = payload.encode("ascii", "replace")
    return HEADER.pack(status, len(payload)) + bytes(payload)


def decode_response(opcode, status, payload):
    """Fields of an OK response to ``opcode``: a tuple (plus the data tail, if any).

    ``PING`` gives a :class:`PingInfo`; ``MEM_READ`` gives the bytes.  A non-OK
    status raises :class:`ProtocolError` with the process's message.
    """
    op = _op(opcode)
    if status != OK:
        name = STATUS[status].name if status in STATUS else f"status {status}"
        raise ProtocolError(f"{op.name}: {name}: "
                            f"{bytes(payload).decode('ascii', 'replace')}")
    size = op.response_size
    if len(payload) < size or (not op.response_tail and len(payload) != size):
        raise ProtocolError(f"{op.name}: response of {len(payload)} bytes; expected {size}")
    if op.response_tail:
        return bytes(payload[size:])
    fields = struct.unpack(op.response, bytes(payload))
    if op is PING:
        return PingInfo(*fields)
    return fields
