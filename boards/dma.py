"""The SoC's DMA engine: one channel per kernel stream, one memory port shared.

Channels are numbered like the virtual board's (inputs first, in port order,
then outputs).  An input channel reads beats from memory and offers them on
its stream; an output channel takes beats from its stream and writes them to
memory.  Memory layout of a beat (as in :mod:`hetflow.sim.board.virtual`): it
occupies :func:`beat_stride` bytes, its payload bytes rounded up to a power
of two, payload in the low bytes, little-endian; padding is written as zeros.
A channel's address must be a multiple of its stride.

Registers (word offsets within the DMA window, 4 words per channel ``i``):

====== ======= ====== ======================================================
word   name    access meaning
====== ======= ====== ======================================================
4i+0   ADDR    wo     byte address in memory of the next beat (modulo the
                      memory size; a multiple of the stride, the bits below
                      it are ignored)
4i+1   BEATS   wo     beats to move, at most memory size / stride (the
                      bridge and the virtual board refuse more; higher bits
                      are ignored), starts the channel (a running channel is
                      restarted)
4i+2   -       -      reserved
4i+3   -       -      reserved
====== ======= ====== ======================================================

The registers read as 0: no host of the SoC reads them (the bridge's
register window ends below the DMA's, and ``RUN`` learns that the channels
are done from the SoC's STATUS), and reading them back cost 75 logic cells
in crc32's build for the iCEBreaker (two channels).

A beat is *moved* when the kernel took it (inputs) or when it is in memory
(outputs); ``idle`` is high when every channel has moved all its beats.

Bandwidth: the memory port does one 32-bit access per cycle, shared by the
host port (which always wins), then the output channels, then the input
channels (round-robin within each group).  A beat of stride ``s`` costs
``max(1, s // 4)`` accesses, so a kernel moving ``B`` memory words per result
runs at most one result every ``B`` cycles.  An input channel keeps up to
:data:`INPUT_DEPTH` (two) beats fetched ahead in a :class:`BeatQueue`: a
read returns a cycle after its request, its beat is offered the cycle after
that, and a place the kernel frees is offered to a request in the same cycle.
An output channel holds no beat: a beat's words are written straight from the
stream's payload, and the kernel's ``ready`` is the grant of its last word.
Outputs go before inputs so that an output's ``ready`` never waits on an
input's request, which depends on the kernel's ``ready`` (a loop through the
kernel otherwise).  So every built-in kernel runs at the port's bound
(``socsim.run_job``: 1.0 cycles per byte for crc32 lanes=1, 3.0 per element
for saxpy, 2.0 per sample for fir).  The kernel's ready and valid are then in
front of the memory's request; the builds still meet the iCEBreaker's 12 MHz
with room (``hetflow build ... --board icebreaker``: crc32 lanes=1 26.75 MHz,
saxpy 24.68 MHz, gemm 25.45 MHz).  With one place per input, saxpy would run at
4.0 cycles per element (its output's turn comes when an input wants the port).

Area (the iCE40UP5K has 5,280 logic cells): each channel keeps its address
as a beat index and its count in ``log2(memory / stride) + 1`` bits, each a
:class:`~hetflow.boards.counter.Counter` (one logic cell a bit on the iCE40,
where a loadable counter otherwise takes two); the number of beats not yet
requested is compared against the few beats in flight instead of counted,
and a beat's words are addressed by concatenation (beats are aligned to
their stride), not by an adder.  crc32 lanes=1 on the iCEBreaker: 224 logic
cells (saxpy 388, gemm 443), of which the memory port's address and write
data multiplexers (host or channel) are about 60 and the byte-lane choice of
crc32's one-byte beats 16.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..hw.csr import CSRSignature
from ..link.boardmap import Channel, channels as boardmap_channels
from ..link.protocol import beat_stride
from .counter import Counter
from .memory import MemBusSignature

__all__ = ["DMA", "BeatQueue", "Channel", "channels", "beat_stride", "input_depth", "REGS_PER_CHANNEL",
           "INPUT_DEPTH"]

REGS_PER_CHANNEL = 4
#: Beats an input channel holds (fetched or in flight) ahead of the kernel: enough for
#: one beat per cycle with the memory's one-cycle read latency (see input_depth).
INPUT_DEPTH = 2


def channels(kernel, p=None):
    """DMA channels of a single kernel: inputs first in port order, then outputs.

    ``kernel`` is a kernel instance, or a kernel class with its parameters ``p``
    (no hardware is elaborated then).
    """
    if p is None:
        return boardmap_channels(kernel, kernel.name)
    return boardmap_channels(kernel, kernel.name, inputs=kernel.inputs(p),
                             outputs=kernel.outputs(p))


def input_depth(chans, ch):
    """Beats input channel ``ch`` of ``chans`` keeps fetched ahead (see the module doc).

    :data:`INPUT_DEPTH` for every input channel: a request is issued the cycle
    the kernel frees a place, and its beat is offered two cycles later.
    """
    return INPUT_DEPTH


class DMA(wiring.Component):
    """DMA channels for ``chans`` over one memory port with a priority host port.

    Members
    -------
    regs : In(CSRSignature)
        The channel registers (see the module doc).
    host : In(MemBusSignature)
        Memory accesses of the host bus; served in the cycle they arrive.
    mem : Out(MemBusSignature)
        To the memory.
    <stream name> : stream
        One per channel, named by ``names`` (default: the channel's port
        name): ``Out`` for input channels (towards the kernel), ``In`` for
        outputs.
    idle : Out(1)
        Every channel has moved all its beats.
    """

    def __init__(self, chans, mem_addr_width, names=None):
        self.chans = list(chans)
        self.mem_addr_width = mem_addr_width
        #: The stream member of each channel (two instances of a design may share port names).
        self.names = [ch.port.name for ch in self.chans] if names is None else list(names)
        n = len(self.chans)
        regs_width = max(1, (REGS_PER_CHANNEL * max(n, 1) - 1).bit_length())
        members = {
            "regs": In(CSRSignature(regs_width)),
            "host": In(MemBusSignature(mem_addr_width)),
            "mem": Out(MemBusSignature(mem_addr_width)),
            "idle": Out(1),
        }
        for ch, name in zip(self.chans, self.names):
            sig = stream.Signature(ch.width)
            members[name] = In(sig) if ch.output else Out(sig)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = len(self.chans)
        mem, host, regs = self.mem, self.host, self.regs

        st = [_ChannelState(ch, self.mem_addr_width,
                            None if ch.output else input_depth(self.chans, ch))
              for ch in self.chans]

        # ---- arbitration: host first, then outputs, then inputs, each round-robin -----
        # An output's grant (its stream's ready) never depends on an input's request,
        # which depends on the kernel's ready: no loop through the kernel.
        grant = [Signal(name=f"grant_{i}") for i in range(n)]
        host_access = host.r_en | host.w_en
        outputs = [i for i in range(n) if self.chans[i].output]
        inputs = [i for i in range(n) if not self.chans[i].output]
        output_req = Cat(*(st[i].req for i in outputs)).any() if outputs else Const(0)
        _round_robin(m, [st[i].req for i in outputs], [grant[i] for i in outputs],
                     ~host_access, "output")
        _round_robin(m, [st[i].req for i in inputs], [grant[i] for i in inputs],
                     ~host_access & ~output_req, "input")

        # ---- the memory port --------------------------------------------------------
        m.d.comb += [mem.addr.eq(host.addr), mem.r_en.eq(host.r_en), mem.w_en.eq(host.w_en),
                     mem.w_sel.eq(host.w_sel), mem.w_data.eq(host.w_data),
                     host.r_data.eq(mem.r_data)]
        for i, s in enumerate(st):
            with m.If(grant[i]):
                m.d.comb += [mem.addr.eq(s.mem_addr), mem.r_en.eq(~s.ch.output),
                             mem.w_en.eq(s.ch.output)]
                if s.ch.output:
                    m.d.comb += [mem.w_sel.eq(s.w_sel), mem.w_data.eq(s.w_data)]

        # ---- channel datapaths -------------------------------------------------------
        for i, s in enumerate(st):
            s.elaborate(m, grant[i], mem.r_data, getattr(self, self.names[i]))

        # ---- registers ---------------------------------------------------------------
        for i, s in enumerate(st):
            base = REGS_PER_CHANNEL * i
            m.d.comb += [s.addr_counter.load.eq(regs.w_stb & (regs.addr == base + 0)),
                         s.addr_counter.data.eq(regs.w_data[s.shift:]),
                         s.start.eq(regs.w_stb & (regs.addr == base + 1)),
                         s.left_counter.data.eq(regs.w_data)]
        m.d.comb += self.idle.eq(Cat(*(s.left == 0 for s in st)).all() if st else 1)
        return m


def _round_robin(m, reqs, grants, enable, name):
    """Drive ``grants`` from ``reqs`` while ``enable``: the one after the last granted wins."""
    n = len(reqs)
    if not n:
        return
    last = Signal(range(max(n, 2)), init=n - 1, name=f"last_{name}")   # last one granted
    with m.If(enable):
        with m.Switch(last):
            for prev in range(n):
                with m.Case(prev):
                    order = [(prev + 1 + k) % n for k in range(n)]
                    for k, i in enumerate(order):
                        cond = reqs[i]
                        for j in order[:k]:
                            cond = cond & ~reqs[j]
                        m.d.comb += grants[i].eq(cond)
    for i in range(n):
        with m.If(grants[i]):
            m.d.sync += last.eq(i)


class BeatQueue(wiring.Component):
    """Up to ``depth`` beats of ``width`` bits, oldest first on ``r``.

    A shift register: the oldest beat is always in the first place, so no
    read multiplexer; a taken beat moves the others down one place and a new
    beat goes to the first free place.  Nothing stops a write to a full
    queue: the DMA's credits never issue one.

    Members
    -------
    w_en : In(1)
        Take ``w_data`` at the next clock edge.
    w_data : In(width)
    r : Out(stream.Signature(width))
        The oldest beat.
    """

    def __init__(self, width, depth):
        self.depth = depth
        super().__init__({"w_en": In(1), "w_data": In(width),
                          "r": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        level = Signal(range(depth + 1))
        # Data only: a place is read only below ``level``, which resets.
        places = [Signal(len(self.w_data), name=f"place{k}", reset_less=True)
                  for k in range(depth)]
        taken = self.r.valid & self.r.ready
        m.d.comb += [self.r.valid.eq(level != 0), self.r.payload.eq(places[0])]
        free = Signal(range(depth + 1))
        m.d.comb += free.eq(level - taken)
        for k in range(depth):
            with m.If(self.w_en & (free == k)):
                m.d.sync += places[k].eq(self.w_data)
            if k + 1 < depth:
                with m.Elif(taken):
                    m.d.sync += places[k].eq(places[k + 1])
        m.d.sync += level.eq(free + self.w_en)
        return m


class _ChannelState:
    """Registers and logic of one channel (built into the DMA's module)."""

    def __init__(self, ch, mem_addr_width, depth):
        self.ch = ch
        self.depth = depth
        i = ch.index
        #: log2 of the stride: the byte address bits below it are always 0.
        self.shift = ch.stride.bit_length() - 1
        index_bits = max(1, mem_addr_width + 2 - self.shift)
        # The current beat's index in memory (byte address >> shift), modulo the memory.
        self.addr_counter = Counter(index_bits)
        self.beat_addr = self.addr_counter.count
        # Beats not yet moved: up to the memory size / stride, inclusive.
        self.left_counter = Counter(index_bits + 1, down=True)
        self.left = self.left_counter.count
        self.word = Signal(range(max(ch.words, 2)), name=f"ch{i}_word")  # word within the beat
        self.req = Signal(name=f"ch{i}_req")
        self.mem_addr = Signal(mem_addr_width, name=f"ch{i}_mem_addr")
        self.w_sel = Signal(4, name=f"ch{i}_w_sel")
        self.w_data = Signal(32, name=f"ch{i}_w_data")
        self.start = Signal(name=f"ch{i}_start")

    def more_than(self, few):
        """``left > few`` for a ``few`` of a handful of bits, without a wide comparator."""
        k = len(few)
        if len(self.left) <= k:
            return self.left > few
        return (self.left[k:] != 0) | (self.left[:k] > few)

    def elaborate(self, m, grant, r_data, port):
        ch = self.ch
        i = ch.index
        m.submodules[f"ch{i}_beat_addr"] = self.addr_counter
        m.submodules[f"ch{i}_left"] = self.left_counter
        m.d.comb += self.left_counter.load.eq(self.start)
        if ch.words == 1:
            # Word address of the beat; for sub-word beats the low index bits pick the lane.
            m.d.comb += self.mem_addr.eq(self.beat_addr[max(0, 2 - self.shift):])
            last_word = Const(1)
        else:
            # Beats are aligned to their stride: word i of a beat is a concatenation.
            m.d.comb += self.mem_addr.eq(Cat(self.word, self.beat_addr))
            last_word = self.word == ch.words - 1
            with m.If(grant):
                m.d.sync += self.word.eq(Mux(last_word, 0, self.word + 1))
            with m.If(self.start):
                m.d.sync += self.word.eq(0)
        m.d.comb += self.addr_counter.step.eq(grant & last_word)
        if ch.output:
            self._output(m, grant, port, last_word)
        else:
            self._input(m, grant, r_data, port, last_word)

    def _lane(self):
        """Byte lane (0-3) of a sub-word beat in its memory word."""
        if self.shift >= 2:
            return Const(0, 2)
        return Cat(Const(0, self.shift), self.beat_addr[:2 - self.shift])

    # An input channel: memory -> queue -> kernel.
    def _input(self, m, grant, r_data, port, last_word):
        ch = self.ch
        i = ch.index
        depth = self.depth
        # Free queue places not yet claimed by a beat being fetched.  A place the kernel
        # frees is offered to a request in the same cycle (``popped``).
        credits = Signal(range(depth + 1), init=depth, name=f"ch{i}_credits")
        claimed = Signal(range(depth + 1), name=f"ch{i}_claimed")   # queued or in flight
        m.d.comb += claimed.eq(depth - credits)
        m.submodules[f"ch{i}_queue"] = queue = BeatQueue(ch.width, depth)

        popped = port.valid & port.ready
        # Beats not yet requested = left - claimed.  A beat once started is finished.
        room = self.more_than(claimed) & ((credits != 0) | popped)
        if ch.words > 1:
            m.d.comb += self.req.eq((self.word != 0) | room)
        else:
            m.d.comb += self.req.eq(room)

        # The read issued this cycle returns next cycle: remember what it was.
        returning = Signal(name=f"ch{i}_returning")
        ret_last = Signal(name=f"ch{i}_ret_last")
        ret_lane = Signal(2, name=f"ch{i}_ret_lane")
        m.d.sync += [returning.eq(grant), ret_last.eq(last_word), ret_lane.eq(self._lane())]

        if ch.words > 1:
            assembly = Signal(32 * (ch.words - 1), name=f"ch{i}_assembly")
            with m.If(returning & ~ret_last):
                # Words arrive low first; shifting down leaves word 0 at the bottom.
                if ch.words > 2:
                    m.d.sync += assembly.eq(Cat(assembly[32:], r_data))
                else:
                    m.d.sync += assembly.eq(r_data)
            beat = Cat(assembly, r_data)
        elif self.shift < 2:
            beat = r_data.word_select(ret_lane >> self.shift, 8 << self.shift)
        else:
            beat = r_data
        m.d.comb += [queue.w_data.eq(beat[:ch.width]), queue.w_en.eq(returning & ret_last)]
        wiring.connect(m, wiring.flipped(port), queue.r)

        issue_first = grant & (self.word == 0 if ch.words > 1 else Const(1))
        m.d.sync += credits.eq(credits - issue_first + popped)
        # A restart keeps what was fetched (the queue and its credits); flush it with a
        # soft reset (SoC CTRL) before reusing a channel mid-job.
        m.d.comb += self.left_counter.step.eq(popped)

    # An output channel: kernel -> memory, a beat written straight from the stream's
    # payload, taken (``ready``) when its last word is granted the memory.
    def _output(self, m, grant, port, last_word):
        m.d.comb += [self.req.eq(port.valid & (self.left != 0)),
                     port.ready.eq(grant & last_word)]
        ch = self.ch
        # Zero-extended to whole words: padding bytes of the stride are written as zeros.
        payload = Signal(32 * ch.words, name=f"ch{ch.index}_payload")
        m.d.comb += payload.eq(port.payload)
        if ch.stride < 4:
            lane = self._lane()
            m.d.comb += [self.w_data.eq(payload[:32] << (lane * 8)),
                         self.w_sel.eq(Const((1 << ch.stride) - 1, 4) << lane)]
        elif ch.words == 1:
            m.d.comb += [self.w_data.eq(payload), self.w_sel.eq(0xF)]
        else:
            m.d.comb += [self.w_data.eq(payload.word_select(self.word, 32)),
                         self.w_sel.eq(0xF)]
        m.d.comb += self.left_counter.step.eq(grant & last_word)
