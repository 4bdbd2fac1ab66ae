"""The bridge's receive framer (hetflow.boards.bridge.receiver) alone, in amaranth.sim.

Frames go into a ring of block RAM; the flag byte stored with each committed frame
says whether it is a retry: its sequence number and CRC equal those of the frame
committed before it, which a dropped frame in between does not change.
"""

import zlib

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hetflow.boards.bridge.crc import SerialCrc32
from hetflow.boards.bridge.receiver import RETRY_FLAG, FrameReceiver
from hetflow.link import framing as F

from .test_bridge import send

DEPTH = 256


def receive(frames):
    """Send ``frames`` (bytes) one after another; the flag bytes of the committed ones.

    The ring's head stays at 0 (nothing is read), so every frame fits in ``DEPTH``.
    """
    m = Module()
    m.submodules.ring = ring = Memory(shape=8, depth=DEPTH, init=[])
    m.submodules.crc = crc = SerialCrc32(8)
    m.submodules.receiver = receiver = FrameReceiver(depth=DEPTH, max_payload=64,
                                                     idle_cycles=64)
    wiring.connect(m, receiver.crc, crc.port)
    wiring.connect(m, receiver.write, ring.write_port())
    flags = []

    async def bench(ctx):
        for data in frames:
            start = ctx.get(receiver.tail)
            await send(ctx, receiver.rx, data)
            await ctx.tick().repeat(3)
            if ctx.get(receiver.tail) != start:
                flags.append(ctx.get(ring.data[start % DEPTH]))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return flags


def forged(seq, crc):
    """A frame of sequence number ``seq`` whose 4-byte payload gives it CRC ``crc``.

    The CRC of a message of fixed length is affine in its bits, so the payload is
    solved for over GF(2), one payload bit per column.
    """
    head = F.HEADER.pack(F.SYNC, seq, 4)

    def crc_of(payload):
        return zlib.crc32(payload, zlib.crc32(head[1:]))

    base = crc_of(bytes(4))
    rows = []                                       # (crc bits, payload bits) pairs
    for bit in range(32):
        rows.append((crc_of(((1 << bit).to_bytes(4, "little"))) ^ base, 1 << bit))
    want, solution = crc ^ base, 0
    for pivot in range(32):                         # Gaussian elimination on crc bits
        i = next(i for i in range(pivot, 32) if rows[i][0] >> pivot & 1)
        rows[pivot], rows[i] = rows[i], rows[pivot]
        for j in range(32):
            if j != pivot and rows[j][0] >> pivot & 1:
                rows[j] = (rows[j][0] ^ rows[pivot][0], rows[j][1] ^ rows[pivot][1])
    for pivot in range(32):
        if want >> pivot & 1:
            solution ^= rows[pivot][1]
    payload = solution.to_bytes(4, "little")
    assert crc_of(payload) == crc
    return F.encode_frame(seq, payload)


def test_a_retry_is_the_same_seq_and_crc_as_the_frame_committed_before():
    a = F.encode_frame(1, b"one")
    other_payload = F.encode_frame(1, b"two")       # the same seq, another CRC
    bad = bytearray(F.encode_frame(3, b"bad"))
    bad[-1] ^= 1
    flags = receive([a, a, other_payload, a, bytes(bad), a, a])
    # The first frame has nothing before it; the bad one is not committed, so the
    # frame after it is compared with the one before it.
    assert [f & RETRY_FLAG for f in flags] == [0, 1, 0, 0, 1, 1]
    assert all(f & ~RETRY_FLAG == 0 for f in flags)


def test_the_same_crc_with_another_seq_is_not_a_retry():
    a = F.encode_frame(1, b"four")
    twin = forged(2, int.from_bytes(a[-4:], "little"))
    assert twin[-4:] == a[-4:] and twin[1] != a[1]
    assert [f & RETRY_FLAG for f in receive([a, twin, twin])] == [0, 0, 1]
