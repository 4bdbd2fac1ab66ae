"""The gateware frame bridge's safety, as formal properties (:class:`BridgeHarness`).

The harness puts a :class:`~hetflow.boards.bridge.FrameBridge` (with CRC
engines that take a byte a cycle, ``crc_bits_per_cycle=8``) on a free byte
line (every cycle a byte arrives or not, any value: ``AnySeq``), a free
transmit ``ready`` and free bus read data, and reads the line with *shadow
logic* that knows only the frame format of :mod:`hetflow.link.framing`:
a candidate frame starts with the sync byte the bridge takes while it is
hunting (``receiving`` low), then come the sequence number, the 32-bit
length, the payload and the CRC-32 (computed with the kernels' own
:func:`~hetflow.hw.kernels.crc32.crc32_byte_step`).  The bridge is seen only
through its ports; the properties are about what it does on its host bus
and its transmit line.

The bridge keeps taking frames while it executes and answers earlier ones,
so the CRC set counts: the frames that arrived whole with a matching CRC
(and were not dropped for want of buffer room, which the bridge's
``overrun`` pulse tells), and the responses the bridge has begun to send (a
second piece of shadow logic follows the frames on the transmit line).
Each response answers one proven frame, in order, so a response may begin,
and a bus write happen, only while more frames were proven than responses
begun.

Property sets (:data:`PROPERTY_SETS`), one per proof job:

``crc``
    No host-bus write and no response unless a frame not yet answered
    arrived whole with a matching CRC; no bus read either, except while a
    response is being sent (``MEM_READ``'s data).
``retry``
    A request equal to the last one answered (same sequence number, length
    and payload, good CRC) causes no bus write and reads no register; only
    a ``MEM_READ`` reads its memory data again, as the bridge documents.
    The host is stop-and-wait here (no byte arrives while the bridge
    executes or answers), so the frame on the line is the one executed.
``oversize``
    A candidate whose length exceeds ``max_payload`` is dropped on the cycle
    after its last length byte, and a partial frame never keeps the receiver
    busy for more than ``idle_cycles`` cycles of silence.

Each set has covers for the states it is about (a good frame writing to the
bus, a bad-CRC frame received whole, a retry of a writing request answered,
an oversized candidate, a timed-out partial frame), and a *mutation*
(:data:`MUTATIONS`) that breaks the bridge from outside, so the set must
fail, naming its property:

``forge_crc``
    The bridge is shown the right CRC in place of the line's: it behaves
    like a bridge that does not check the CRC.
``forget_retry``
    The bridge is reset whenever it returns to hunting: its retry cache
    never survives to the retry.
``lax_limits``
    The bridge is built with twice the ``max_payload`` and more
    ``idle_cycles`` than the harness holds it to.
"""

from types import SimpleNamespace

from amaranth.asserts import AnySeq
from amaranth.hdl import (Array, Assert, Assume, Cat, Cover, Elaboratable, Module,
                          ResetInserter, Signal)

from ..boards.bridge import FrameBridge
from ..boards.soc import SOC_MAP
from ..hw.errors import ParamError
from ..hw.kernels.crc32 import crc32_byte_step
from ..link.framing import SYNC

__all__ = ["BridgeHarness", "PROPERTY_SETS", "MUTATIONS"]

PROPERTY_SETS = ("crc", "retry", "oversize")
#: The mutation each property set must catch.
MUTATIONS = {"crc": "forge_crc", "retry": "forget_retry", "oversize": "lax_limits"}
#: Bytes of a serial frame after the sync byte and before the payload: seq, length.
_HEAD = 5


class BridgeHarness(Elaboratable):
    """Formal top: a frame bridge on a free line, checked by shadow logic (see the module doc).

    Parameters
    ----------
    properties : str
        One of :data:`PROPERTY_SETS`: the assertions and covers to add.
    mutation : str, optional
        One of the values of :data:`MUTATIONS`: break the bridge from outside.
    frame : int, optional
        None (default): a free line.  A number of payload bytes: the line
        carries one frame of that length from the first cycle, bytes back to
        back, its sequence number, payload and CRC bytes free, then silence
        (the bridge's state is then known in every cycle, which lets the CRC
        set reach depths a free line cannot).
    max_payload, idle_cycles : int
        The bridge's limits (small, so proofs stay tractable).
    memory_size, register_size : int
        The SoC the bridge is built for.

    Attributes
    ----------
    smtbmc_options : tuple of str
        ``("--nomem",)``, which :func:`~hetflow.formal.runner.run` passes on:
        the receive ring (32 bytes) is proven as flip-flops, not as an SMT
        array.  Each step's ring address is then a constant the solver folds;
        as an array, every read of the ring is a chain of comparisons with the
        addresses of all earlier writes, and the 9-byte frame's proof to depth
        44 took over 12 minutes in place of seconds (docs/formal.md).
    """

    smtbmc_options = ("--nomem",)

    def __init__(self, properties, *, mutation=None, frame=None, max_payload=12, idle_cycles=16,
                 memory_size=16, register_size=16):
        if properties not in PROPERTY_SETS:
            raise ParamError(f"bridge property set {properties!r} is not known; choose one "
                             f"of: {', '.join(PROPERTY_SETS)}")
        if mutation is not None and mutation not in MUTATIONS.values():
            raise ParamError(f"bridge mutation {mutation!r} is not known; choose one of: "
                             f"{', '.join(MUTATIONS.values())}")
        if frame is not None and not 0 <= frame <= max_payload:
            raise ParamError(f"scripted frame length {frame!r} is not allowed; use 0.."
                             f"{max_payload} (max_payload)")
        self.properties = properties
        self.mutation = mutation
        self.frame = frame
        self.max_payload = int(max_payload)
        self.idle_cycles = int(idle_cycles)
        lax = mutation == "lax_limits"
        # The receive buffer holds two frames of max_payload (as BRIDGE_RX_BUFFER does).
        rx_buffer = 1 << (2 * (self.max_payload + 4) - 1).bit_length()
        # CRC engines that take a byte a cycle: the receiver, executor and transmitter are
        # the board's, and a frame's bytes fit in a depth a solver reaches (a board's
        # bit-serial engines take 8 cycles a byte; tests/boards/test_bridge_crc.py checks
        # that every width computes the same CRC).
        self.bridge = FrameBridge(strides=[4], memory_size=memory_size,
                                  register_size=register_size, rx_buffer=rx_buffer,
                                  crc_bits_per_cycle=8,
                                  max_payload=2 * self.max_payload if lax else self.max_payload,
                                  idle_cycles=self.idle_cycles + 8 if lax else self.idle_cycles)

    def elaborate(self, platform):
        m = Module()
        bridge = self.bridge

        # ---- the environment: a free line, a free transmit side, free read data ----------
        if self.frame is None:
            line_valid, line_byte = AnySeq(1), AnySeq(8)
        else:
            line_valid, line_byte = self._scripted_line(m, bridge.rx.ready)
        m.d.comb += [bridge.rx.valid.eq(line_valid), bridge.rx.payload.eq(line_byte),
                     bridge.tx.ready.eq(AnySeq(1)), bridge.bus.r_data.eq(AnySeq(32))]
        line = SimpleNamespace(took=line_valid & bridge.rx.ready, byte=line_byte)
        frame = self._shadow_receiver(m, line, bridge.receiving)
        if self.properties == "retry":
            # Stop-and-wait: a byte arrives only while the bridge is idle or receiving.
            m.d.comb += Assume(~line_valid | ~bridge.busy | bridge.receiving)

        # ---- mutations: the bridge broken from outside ---------------------------------
        if self.mutation == "forge_crc":
            with m.If(frame.at_crc):
                m.d.comb += bridge.rx.payload.eq((~frame.crc).word_select(frame.crc_index, 8))
        if self.mutation == "forget_retry":
            m.submodules.bridge = ResetInserter(~bridge.busy & frame.done)(bridge)
        else:
            m.submodules.bridge = bridge

        {"crc": self._crc_properties, "retry": self._retry_properties,
         "oversize": self._oversize_properties}[self.properties](m, line, frame)
        return m

    def _scripted_line(self, m, ready):
        """One frame of ``self.frame`` payload bytes from the first cycle, then silence.

        Its sync byte and length are constants and each byte comes as soon as the
        bridge is ready for it, so the bridge's state is known in every cycle; the
        sequence number, payload and CRC bytes are free.
        """
        size = _HEAD + self.frame + 4
        pos = Signal(range(size + 2))
        valid, byte = Signal(), Signal(8)
        with m.If((pos <= size) & ready):
            m.d.sync += pos.eq(pos + 1)
        m.d.comb += [valid.eq(pos <= size), byte.eq(AnySeq(8))]
        with m.Switch(pos):
            with m.Case(0):
                m.d.comb += byte.eq(SYNC)
            for i in range(4):
                with m.Case(2 + i):
                    m.d.comb += byte.eq((self.frame >> (8 * i)) & 0xFF)
        return valid, byte

    def _shadow_receiver(self, m, line, receiving):
        """Follow the frame format on the line, from the sync byte the bridge hunted for."""
        maxp = self.max_payload
        f = SimpleNamespace(
            start=line.took & ~receiving & (line.byte == SYNC),
            cand=Signal(),                      # a candidate is arriving
            n=Signal(range(maxp + _HEAD + 5)),  # its bytes after the sync byte so far
            length=Signal(32),
            crc=Signal(32, init=0xFFFFFFFF),
            got=Signal(32),                     # the CRC bytes, as they arrive
            done=Signal(),                      # a whole frame of an allowed length arrived
            good=Signal(),                      # ... and its CRC matched
            last=Signal(),                      # this cycle takes a candidate's last byte
            good_now=Signal(),                  # ... and the CRC matches
            over=Signal(),                      # its length field exceeds max_payload
        )
        size = f.length[:len(f.n)]              # the length, once known to be <= maxp
        in_head = f.n < _HEAD
        in_payload = ~in_head & (f.n < _HEAD + size)
        f.at_crc = f.cand & ~in_head & ~in_payload
        f.crc_index = (f.n - _HEAD - size)[:2]
        f.took = receiving & f.cand & line.took     # a byte of the candidate
        got_next = Cat(f.got[8:], line.byte)
        full = Cat(f.length[8:], line.byte)

        with m.If(f.start):
            m.d.sync += [f.cand.eq(1), f.n.eq(0), f.crc.eq(0xFFFFFFFF), f.done.eq(0),
                         f.good.eq(0), f.over.eq(0)]
        with m.Elif(~receiving):                # the bridge is hunting again, for any reason
            m.d.sync += f.cand.eq(0)
        with m.Elif(f.took):
            m.d.sync += f.n.eq(f.n + 1)
            with m.If(in_head):
                m.d.sync += f.length.eq(full)
                with m.If((f.n == _HEAD - 1) & (full > maxp)):
                    m.d.sync += [f.over.eq(1), f.cand.eq(0)]
            with m.Elif(~in_payload):
                m.d.sync += f.got.eq(got_next)
                with m.If(f.crc_index == 3):
                    m.d.sync += [f.cand.eq(0), f.done.eq(1)]
        # Only the CRC set needs the CRC itself: the retry set compares a frame's CRC bytes
        # with those of the frame answered last, whose CRC matched (the CRC set proves that
        # the bridge answers no other), so it is spared the XOR chains.
        m.d.comb += f.last.eq(f.took & f.at_crc & (f.crc_index == 3))
        if self.properties == "crc" or self.mutation == "forge_crc":
            crc_next = crc32_byte_step(m, f.crc, line.byte, "shadow_crc")
            m.d.comb += f.good_now.eq(got_next == ~f.crc)
            with m.If(f.took):
                with m.If(in_head | in_payload):
                    m.d.sync += f.crc.eq(crc_next)
                with m.If(f.last):
                    m.d.sync += f.good.eq(f.good_now)
        return f

    def _shadow_transmitter(self, m):
        """Follow the response frames on the transmit line: how many have begun, and
        whether one is under way (every response here is shorter than 256 bytes)."""
        tx = self.bridge.tx
        sent = tx.valid & tx.ready
        index = Signal(range(_HEAD + 256 + 5))  # bytes of the current response so far
        length = Signal(8)
        begun = Signal(8)
        with m.If(sent):
            m.d.sync += index.eq(index + 1)
            with m.If(index == 0):
                m.d.sync += begun.eq(begun + 1)
            with m.If(index == 2):
                m.d.sync += length.eq(tx.payload)
            with m.If((index > _HEAD) & (index == _HEAD + length + 4)):
                m.d.sync += index.eq(0)
        return SimpleNamespace(begun=begun, under_way=index != 0)

    def _crc_properties(self, m, line, f):
        """Nothing reaches the bus or the line unless a frame not yet answered was proven."""
        bridge, bus = self.bridge, self.bridge.bus
        tx = self._shadow_transmitter(m)
        proven = Signal(8)                      # frames taken whole with a matching CRC
        with m.If(f.last & f.good_now & ~bridge.overrun):
            m.d.sync += proven.eq(proven + 1)
        # Bus requests leave the bridge through a register: judge a strobe by the counts
        # of the cycle before.
        pending, responding = Signal(), Signal()
        m.d.sync += [pending.eq(proven > tx.begun), responding.eq(tx.under_way)]
        starting = bridge.tx.valid & ~tx.under_way
        m.d.comb += [
            Assert(~bus.w_stb | pending, "bus access only for a frame whose CRC matched"),
            Assert(~bus.r_stb | pending | responding,
                   "bus read only for a frame whose CRC matched"),
            Assert(~starting | (proven > tx.begun),
                   "a response only to a frame whose CRC matched"),
            Cover(bus.w_stb & pending, "a good frame writes to the bus"),
            Cover(~bridge.receiving & f.done & ~f.good,
                  "a bad-CRC frame is received whole and dropped"),
        ]

    def _retry_properties(self, m, line, f):
        """A frame equal to the last one answered is answered without executing it again."""
        bridge, bus = self.bridge, self.bridge.bus
        busy = bridge.busy
        # Every byte after the sync byte, of the arriving frame and of the last one answered.
        nbytes = self.max_payload + _HEAD + 4
        frame = Array(Signal(8, name=f"frame{i}") for i in range(nbytes))
        last = Array(Signal(8, name=f"last{i}") for i in range(nbytes))
        have_last = Signal()
        same = Signal()                         # equal so far to the last frame answered
        answered = Signal()                     # the bridge sent a byte after it arrived
        wrote = Signal()                        # ... and wrote to the bus
        last_wrote = Signal()
        with m.If(f.start):
            m.d.sync += [same.eq(have_last), answered.eq(0), wrote.eq(0)]
        with m.Elif(f.took):
            m.d.sync += frame[f.n].eq(line.byte)
            with m.If(line.byte != last[f.n]):
                m.d.sync += same.eq(0)
        with m.If(f.done):
            with m.If(bridge.tx.valid & bridge.tx.ready):
                m.d.sync += answered.eq(1)
            with m.If(bus.w_stb):
                m.d.sync += wrote.eq(1)
        record = ~busy & f.done & answered
        with m.If(record):
            m.d.sync += [have_last.eq(1), last_wrote.eq(wrote)]
            m.d.sync += [last[i].eq(frame[i]) for i in range(nbytes)]

        retry = Signal()                        # registered, as the bus requests are
        m.d.sync += retry.eq(f.done & same)
        in_memory = bus.addr >= (SOC_MAP.mem_base >> 2)
        m.d.comb += [
            Assert(~bus.w_stb | ~retry, "a retried request writes nothing to the bus"),
            Assert(~bus.r_stb | ~retry | in_memory, "a retried request reads no register"),
            Cover(retry & bridge.tx.valid & last_wrote,
                  "a retry of a request that wrote to the bus is answered"),
        ]

    def _oversize_properties(self, m, line, f):
        """No length or silence keeps the receiver waiting beyond its limits."""
        busy = self.bridge.receiving
        quiet = Signal(range(self.idle_cycles + 3))     # cycles since a byte was taken
        with m.If(line.took):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != self.idle_cycles + 2):
            m.d.sync += quiet.eq(quiet + 1)
        m.d.comb += [
            Assert(~(f.over & busy), "an oversized length is dropped at once"),
            Assert(~(f.cand & busy & (quiet > self.idle_cycles)),
                   "a partial frame is dropped after idle_cycles of silence"),
            Cover(f.over & ~busy, "an oversized candidate is dropped"),
            Cover(f.cand & ~busy, "a partial frame is dropped by the idle timeout"),
        ]
