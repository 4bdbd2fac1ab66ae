"""The bridge's receive framer: serial frames from the line into the receive buffer.

It hunts for the sync byte, takes the sequence number and the length,
drops a candidate whose length exceeds ``max_payload`` on its last length
byte, and runs the CRC over the rest as it arrives, in its own bit-serial
engine (:class:`~.crc.SerialCrc32`): a byte is taken when the engine is free
for it, at most every 8 cycles, well inside a UART's byte time.  The CRC
bytes are compared with the register a byte at a time as they come, and the
frame is judged in the cycle after its last one (the line waits that cycle).
Bytes go into the
receive buffer (a ring of block RAM shared with the executor) as they come,
but a frame counts only once its CRC has matched: then the receiver
*commits* it by moving :attr:`FrameReceiver.tail` past it.  A frame with a
bad CRC, one the line abandons for ``idle_cycles`` (lost bytes), and one that
finds no room left in the ring are simply not committed; the next candidate
is written over them.  So the executor sees only proven frames, in arrival
order, and never a byte of a frame still arriving.

A committed frame is stored as::

    flag | seq | length (2 bytes, little-endian) | payload

``flag`` bit 0 says the frame is a *retry*: its sequence number and CRC
equal those of the frame committed before it.  Every committed frame is
answered, in order, so that frame is the last one answered by the time this
one is taken: its response is sent again instead of executing it twice.
Like the old bridge (and unlike the Python decoder), the receiver does not
re-scan the bytes of a bad candidate for a later sync byte; the host's retry
covers that case.

Built for area: while hunting, the write pointer rests on ``tail`` and the
sync byte is stored there (the flag overwrites it at the commit), so every
byte of a frame, its flag's place included, is judged for room by one
equality with ``head`` a lap ahead, and a dropped frame only sets the pointer
back; the idle counter counts up from ``2**n - idle_cycles`` and its top bit
is the timeout, so it needs no comparator; it, the write pointer and the
payload count are counters of :mod:`~hetflow.boards.counter` (one logic cell
a bit on an iCE40).  The retry test keeps the last committed frame's
sequence number and CRC bytes in a small memory of its own (a block RAM on an
iCE40, not 40 flip-flops and a 40-bit comparator: the receiver has no read
port on the ring, where the bytes are), and compares a candidate's with them a
byte at a time as they come.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out

from ...link.framing import SYNC
from ..counter import Counter
from .crc import CrcSignature

__all__ = ["FrameReceiver", "STORED_HEADER", "RETRY_FLAG"]

#: Bytes a committed frame takes in the ring besides its payload: flag, seq, length.
STORED_HEADER = 4
#: Bit of the flag byte that marks a retry.
RETRY_FLAG = 0x01


def _above(value, limit):
    """``value > limit`` for a constant ``limit``, as AND and OR terms from the top bit down.

    Yosys maps a comparison onto the carry chain, whose carry in here is a signal
    (the bits below ``limit``'s lowest one), which costs a logic cell to feed in
    and another to take the result out; the terms pack into a few LUTs.
    """
    above = Const(0)                        # value's bits below i > limit's
    for i in range(len(value)):
        if limit >> i & 1:
            above = value[i] & above
        else:
            above = value[i] | above
    return above


class FrameReceiver(wiring.Component):
    """Serial frames on a byte stream into a ring buffer, CRC-proven (see the module doc).

    Parameters
    ----------
    depth : int
        Bytes of the ring, a power of two.
    max_payload : int
        Largest payload taken (below 65536); a longer length field drops the
        candidate at once.
    idle_cycles : int
        Cycles of line silence after which a partial frame is dropped.

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the line.  Ready whenever the CRC engine is free.
    crc : Out(CrcSignature())
        The receiver's CRC engine.
    write : In(WritePort.Signature(addr_width, shape=8))
        The ring's write port (the signature is the memory's, hence In).
    tail : Out(ptr_width)
        End of the last committed frame (a ring pointer: one bit wider than
        the address, so a full ring differs from an empty one).
    head : In(ptr_width)
        Start of the oldest frame the executor still needs; the receiver
        never writes from there on.
    receiving : Out(1)
        A candidate frame is arriving (the receiver has taken its sync byte).
    busy : Out(1)
        Receiving, or judging the CRC of the frame just taken.
    overrun : Out(1)
        Pulses on the last byte of a frame that had no room in the ring: it is dropped.
    """

    def __init__(self, *, depth, max_payload, idle_cycles):
        self.depth = int(depth)
        self.max_payload = int(max_payload)
        self.idle_cycles = int(idle_cycles)
        self.addr_width = self.depth.bit_length() - 1
        ptr = self.addr_width + 1
        super().__init__({
            "rx": In(stream.Signature(8)),
            "crc": Out(CrcSignature()),
            "write": In(WritePort.Signature(addr_width=self.addr_width, shape=8)),
            "tail": Out(ptr),
            "head": In(ptr),
            "receiving": Out(1),
            "busy": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rx, crc, write = self.rx, self.crc, self.write
        a = self.addr_width
        took = rx.valid & rx.ready
        byte = rx.payload

        # Where the next stored byte goes.  While hunting it equals ``tail``: a frame's
        # flag byte goes there, and the sync byte is stored there (the flag overwrites it
        # at the commit) so that the flag's room is judged like every other byte's.
        m.submodules.write_pointer = write_pointer = Counter(a + 1)
        wp = write_pointer.count
        # The ring is full where the next byte would land on ``head``'s byte a lap ahead.
        # An equality, not a subtraction: ``wp`` moves a byte at a time from ``tail`` and
        # ``tail - head`` is at most ``depth``, so ``wp`` meets ``head + depth`` before it
        # could pass it (and past it, ``lost`` is set already).
        full = Signal()
        m.d.comb += full.eq((wp[:a] == self.head[:a]) & (wp[a] != self.head[a]))
        lost = Signal()                         # a byte of this frame found no room
        # Payload bytes to come: the length's low byte and its bits above, each a Counter
        # loaded from its own length byte (one counter would need a multiplexer a bit to
        # keep the low byte while loading the high bits).
        low_bits = (max(self.max_payload, 0xFF)).bit_length() - 8
        m.submodules.left_low = left_low = Counter(8, down=True)
        left = left_low.count
        if low_bits:
            m.submodules.left_high = left_high = Counter(low_bits, down=True)
            left = Cat(left, left_high.count)
            m.d.comb += [left_high.data.eq(byte[:low_bits]),
                         left_high.step.eq(left_low.step & (left_low.count == 0))]
        m.d.comb += left_low.data.eq(byte)
        too_long = Signal()                     # a length byte above the low ones is nonzero
        count = Signal(2)                       # length / CRC byte within its field
        mismatch = Signal()                     # a CRC byte differed from the register's
        have_last = Signal()                    # a frame has been committed
        differs = Signal()                      # a seq or CRC byte differed from the last's
        # The retry test's memory: two slots of the sequence number and CRC bytes as the
        # line brought them (a committed frame's CRC bytes are its CRC: each matched the
        # register).  A candidate's bytes go into one slot as they come and are compared
        # with the other's, the last committed frame's; the commit swaps the slots.
        m.submodules.retry_memory = retry_memory = Memory(
            shape=8, depth=16, init=[], attrs={"no_rw_check": 1})
        cand = retry_memory.write_port()
        # A read port and its register, which Yosys makes one synchronous port: so the
        # memory's ``no_rw_check`` (the ports never meet: they address different slots)
        # reaches it, and no flip-flops are added around the block RAM to define what a
        # read of a byte being written returns.
        last_port = retry_memory.read_port(domain="comb")
        last = Signal(8, reset_less=True)       # the last committed frame's byte
        m.d.sync += last.eq(last_port.data)
        active = Signal()                       # the slot of the last committed frame
        # Slot entry of a byte: the CRC's byte ``count`` at ``count``, the sequence number at 4.
        # The read port is a cycle late, so it is addressed with the entry of the next byte:
        # ``count``'s next value, and the sequence number's while hunting or awaiting it.
        count_next = Signal(2)
        at_seq = Signal()                       # the byte taken is the sequence number
        seq_next = Signal()                     # the next byte may be the sequence number
        m.d.sync += count.eq(count_next)
        m.d.comb += [count_next.eq(count),
                     cand.addr.eq(Cat(count, at_seq, ~active)), cand.data.eq(byte),
                     last_port.addr.eq(Cat(count_next, seq_next, active))]
        with m.If(cand.en & (byte != last)):
            m.d.sync += differs.eq(1)
        # Cycles of silence, counted up from 2**n - idle_cycles: the line has been quiet
        # for idle_cycles when the top bit sets, so no comparator is needed; it stays set.
        n = self.idle_cycles.bit_length()
        quiet_from = (1 << n) - self.idle_cycles
        # Its value before the first byte does not matter: that byte is taken hunting.
        m.submodules.idle = idle_counter = Counter(n + 1)
        idle = idle_counter.count
        m.d.comb += [idle_counter.load.eq(took), idle_counter.data.eq(quiet_from),
                     idle_counter.step.eq(~idle[n])]

        # Every byte the line brings goes to the CRC engine: it is cleared while hunting
        # and judging, and a CRC byte is a turn (the engine ignores its data).
        m.d.comb += [crc.byte.payload.data.eq(byte), crc.byte.valid.eq(rx.valid)]

        stored = Signal()                       # the byte taken goes into the ring
        restart = Signal()                      # the frame is dropped: hunt again
        m.d.comb += [write.addr.eq(wp[:a]), write.data.eq(byte),
                     write.en.eq(stored & ~full & ~lost)]
        m.d.comb += [write_pointer.load.eq(restart), write_pointer.data.eq(self.tail),
                     write_pointer.step.eq(stored)]
        with m.If(restart):
            m.d.comb += count_next.eq(0)
        with m.Elif(stored):
            m.d.sync += lost.eq(lost | full)

        def store():
            m.d.comb += stored.eq(1)

        def drop():
            m.d.comb += restart.eq(1)
            m.next = "HUNT"

        def quiet_line():
            # Mid-frame and the line has been quiet too long: drop the partial frame.
            with m.If(~took & idle[n]):
                drop()

        with m.FSM(name="receiver") as fsm:
            with m.State("HUNT"):
                m.d.comb += [crc.clear.eq(1), rx.ready.eq(1), seq_next.eq(1)]
                with m.If(took & (byte == SYNC)):
                    store()
                    m.d.sync += [lost.eq(full), too_long.eq(0), mismatch.eq(0),
                                 differs.eq(0)]
                    m.next = "SEQ"

            with m.State("SEQ"):
                quiet_line()
                m.d.comb += [rx.ready.eq(crc.byte.ready), at_seq.eq(1), seq_next.eq(1),
                             cand.en.eq(took)]
                with m.If(took):
                    store()
                    m.next = "LENGTH"

            with m.State("LENGTH"):
                quiet_line()
                m.d.comb += rx.ready.eq(crc.byte.ready)
                with m.If(took):
                    m.d.comb += count_next.eq(count + 1)
                    with m.Switch(count):
                        with m.Case(0):
                            store()
                            m.d.comb += left_low.load.eq(1)
                        with m.Case(1):
                            store()
                            if low_bits:
                                m.d.comb += left_high.load.eq(1)
                            with m.If(byte[low_bits:] != 0):
                                m.d.sync += too_long.eq(1)
                        with m.Default():
                            with m.If(byte != 0):
                                m.d.sync += too_long.eq(1)
                    with m.If(count == 3):
                        with m.If(too_long | (byte != 0) | _above(left, self.max_payload)):
                            drop()
                        with m.Elif(left == 0):
                            m.next = "CRC"
                        with m.Else():
                            m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                quiet_line()
                m.d.comb += rx.ready.eq(crc.byte.ready)
                with m.If(took):
                    store()
                    m.d.comb += left_low.step.eq(1)
                    with m.If(left == 1):
                        m.next = "CRC"

            # Each CRC byte against the register's bottom byte; the register turns a byte
            # for the next (after the last too: it is cleared in CHECK).
            with m.State("CRC"):
                quiet_line()
                m.d.comb += [crc.byte.payload.turn.eq(1), rx.ready.eq(crc.byte.ready),
                             cand.en.eq(took)]
                with m.If(took):
                    m.d.comb += count_next.eq(count + 1)
                    with m.If(byte != crc.value[:8]):
                        m.d.sync += mismatch.eq(1)
                    with m.If(count == 3):
                        m.d.comb += self.overrun.eq(lost)
                        m.next = "CHECK"

            # Judged a cycle after the last CRC byte, from registers (the line waits that
            # cycle).
            with m.State("CHECK"):
                m.d.comb += crc.clear.eq(1)
                with m.If(~lost & ~mismatch):
                    retry = have_last & ~differs
                    m.d.comb += [write.addr.eq(self.tail[:a]),
                                 write.data.eq(Cat(retry, 0)), write.en.eq(1)]
                    m.d.sync += [self.tail.eq(wp), active.eq(~active), have_last.eq(1)]
                    m.next = "HUNT"
                with m.Else():
                    drop()

        m.d.comb += [self.receiving.eq(~fsm.ongoing("HUNT") & ~fsm.ongoing("CHECK")),
                     self.busy.eq(~fsm.ongoing("HUNT"))]
        return m
