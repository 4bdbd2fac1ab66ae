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
4i+0   ADDR    rw     byte address in memory of the next beat (modulo the
                      memory size)
4i+1   BEATS   rw     write: beats to move (< 2**24), starts the channel (a
                      running channel is restarted); read: beats not yet moved
4i+2   INFO    ro     bit 0: output channel; bits 8-15: stride in bytes;
                      bits 16-31: payload width in bits
4i+3   -       ro     0
====== ======= ====== ======================================================

A beat is *moved* when the kernel took it (inputs) or when it is in memory
(outputs); ``idle`` is high when every channel has moved all its beats.

Bandwidth: the memory port does one 32-bit access per cycle, shared by the
host port (which always wins) and the channels (round-robin).  A beat of
stride ``s`` costs ``max(1, s // 4)`` accesses, so a kernel moving ``B``
memory words per result runs at most one result every ``B`` cycles.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..hw.csr import CSRSignature
from .memory import MemBusSignature

__all__ = ["DMA", "Channel", "channels", "beat_stride", "REGS_PER_CHANNEL", "INPUT_DEPTH",
           "OUTPUT_DEPTH", "BEATS_BITS"]

REGS_PER_CHANNEL = 4
#: Beats an input channel holds (fetched or in flight) ahead of the kernel: enough
#: for one beat per cycle with the memory's one-cycle read latency.
INPUT_DEPTH = 3
#: Beats an output channel buffers between the kernel and memory.
OUTPUT_DEPTH = 2
#: Width of the beat counters: a channel moves at most 2**24 - 1 beats per start
#: (memory is at most 1 MiB, so no job needs more).
BEATS_BITS = 24


def beat_stride(width):
    """Bytes one beat of a ``width``-bit payload occupies in memory.

    ``ceil(width / 8)`` rounded up to a power of two; the same rule as
    :func:`hetflow.sim.board.protocol.beat_stride` (a test keeps them equal).
    """
    nbytes = max(1, -(-int(width) // 8))
    stride = 1
    while stride < nbytes:
        stride *= 2
    return stride


class Channel:
    """One DMA channel: ``index``, kernel ``port``, direction, ``stride`` and ``words``."""

    def __init__(self, index, port, output):
        self.index = index
        self.port = port
        self.output = output
        self.width = port.width
        self.stride = beat_stride(port.width)
        #: Memory words per beat (a sub-word beat still costs one access).
        self.words = max(1, self.stride // 4)

    @property
    def info(self):
        """Value of the channel's INFO register."""
        return int(self.output) | (self.stride << 8) | (self.width << 16)

    def __repr__(self):
        kind = "output" if self.output else "input"
        return f"Channel({self.index}, {self.port.name!r}, {kind}, stride={self.stride})"


def channels(kernel, p=None):
    """DMA channels: inputs first in port order, then outputs.

    ``kernel`` is a kernel instance, or a kernel class with its parameters ``p``
    (no hardware is elaborated then).
    """
    if p is None:
        ins, outs = kernel.in_ports, kernel.out_ports
    else:
        ins, outs = kernel.inputs(p), kernel.outputs(p)
    out = [Channel(i, port, False) for i, port in enumerate(ins)]
    out += [Channel(len(out) + i, port, True) for i, port in enumerate(outs)]
    return out


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
    <port name> : stream
        ``Out`` for input channels (towards the kernel), ``In`` for outputs.
    idle : Out(1)
        Every channel has moved all its beats.
    """

    def __init__(self, chans, mem_addr_width):
        self.chans = list(chans)
        self.mem_addr_width = mem_addr_width
        n = len(self.chans)
        regs_width = max(1, (REGS_PER_CHANNEL * max(n, 1) - 1).bit_length())
        members = {
            "regs": In(CSRSignature(regs_width)),
            "host": In(MemBusSignature(mem_addr_width)),
            "mem": Out(MemBusSignature(mem_addr_width)),
            "idle": Out(1),
        }
        for ch in self.chans:
            sig = stream.Signature(ch.width)
            members[ch.port.name] = In(sig) if ch.output else Out(sig)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = len(self.chans)
        mem, host, regs = self.mem, self.host, self.regs

        # Per-channel state and memory requests.
        st = []
        for ch in self.chans:
            s = _ChannelState(ch, self.mem_addr_width)
            st.append(s)

        # ---- arbitration: host first, then the channels round-robin --------------------
        grant = [Signal(name=f"grant_{i}") for i in range(n)]
        host_access = host.r_en | host.w_en
        if n:
            last = Signal(range(max(n, 2)), init=n - 1)   # last channel granted
            with m.If(~host_access):
                with m.Switch(last):
                    for prev in range(n):
                        with m.Case(prev):
                            order = [(prev + 1 + k) % n for k in range(n)]
                            for k, i in enumerate(order):
                                cond = st[i].req
                                for j in order[:k]:
                                    cond = cond & ~st[j].req
                                m.d.comb += grant[i].eq(cond)
            for i in range(n):
                with m.If(grant[i]):
                    m.d.sync += last.eq(i)

        # ---- the memory port --------------------------------------------------------
        m.d.comb += [mem.addr.eq(host.addr), mem.r_en.eq(host.r_en), mem.w_en.eq(host.w_en),
                     mem.w_sel.eq(host.w_sel), mem.w_data.eq(host.w_data),
                     host.r_data.eq(mem.r_data)]
        for i, s in enumerate(st):
            with m.If(grant[i]):
                m.d.comb += [mem.addr.eq(s.mem_addr), mem.r_en.eq(~s.ch.output),
                             mem.w_en.eq(s.ch.output), mem.w_sel.eq(s.w_sel),
                             mem.w_data.eq(s.w_data)]

        # ---- channel datapaths -------------------------------------------------------
        for i, s in enumerate(st):
            s.elaborate(m, grant[i], mem.r_data, getattr(self, s.ch.port.name))

        # ---- registers ---------------------------------------------------------------
        for i, s in enumerate(st):
            base = REGS_PER_CHANNEL * i
            with m.If(regs.w_stb & (regs.addr == base + 0)):
                m.d.sync += s.addr.eq(regs.w_data)
            with m.If(regs.w_stb & (regs.addr == base + 1)):
                m.d.comb += s.start.eq(1)
                m.d.comb += s.start_beats.eq(regs.w_data)
        with m.If(regs.r_stb):
            with m.Switch(regs.addr):
                for i, s in enumerate(st):
                    base = REGS_PER_CHANNEL * i
                    with m.Case(base + 0):
                        m.d.sync += regs.r_data.eq(s.addr)
                    with m.Case(base + 1):
                        m.d.sync += regs.r_data.eq(s.left)
                    with m.Case(base + 2):
                        m.d.sync += regs.r_data.eq(s.ch.info)
                with m.Default():
                    m.d.sync += regs.r_data.eq(0)

        m.d.comb += self.idle.eq(Cat(*(s.left == 0 for s in st)).all() if st else 1)
        return m


class _ChannelState:
    """Registers and logic of one channel (built into the DMA's module)."""

    def __init__(self, ch, mem_addr_width):
        self.ch = ch
        i = ch.index
        # Byte address of the current beat; only memory address bits are kept.
        self.addr = Signal(mem_addr_width + 2, name=f"ch{i}_addr")
        self.left = Signal(BEATS_BITS, name=f"ch{i}_left")  # beats not yet moved
        self.word = Signal(range(max(ch.words, 2)), name=f"ch{i}_word")  # word within the beat
        self.req = Signal(name=f"ch{i}_req")
        self.mem_addr = Signal(mem_addr_width, name=f"ch{i}_mem_addr")
        self.w_sel = Signal(4, name=f"ch{i}_w_sel")
        self.w_data = Signal(32, name=f"ch{i}_w_data")
        self.start = Signal(name=f"ch{i}_start")
        self.start_beats = Signal(BEATS_BITS, name=f"ch{i}_start_beats")

    def elaborate(self, m, grant, r_data, port):
        ch = self.ch
        word_base = self.addr[2:]
        if ch.words == 1:
            # One access per beat: no word counter (keeps it off the request path).
            m.d.comb += self.mem_addr.eq(word_base)
            last_word = Const(1)
        else:
            m.d.comb += self.mem_addr.eq(word_base + self.word)
            last_word = self.word == ch.words - 1
            with m.If(grant):
                m.d.sync += self.word.eq(Mux(last_word, 0, self.word + 1))
        with m.If(grant & last_word):
            m.d.sync += self.addr.eq(self.addr + ch.stride)
        if ch.output:
            self._output(m, grant, port, last_word)
        else:
            self._input(m, grant, r_data, port, last_word)

    # An input channel: memory -> FIFO -> kernel.
    def _input(self, m, grant, r_data, port, last_word):
        ch = self.ch
        i = ch.index
        fetch = Signal(BEATS_BITS, name=f"ch{i}_fetch")   # beats not yet requested
        # Free FIFO places not yet claimed by a beat being fetched: a register, so
        # that the request (and the memory arbitration after it) starts from flops.
        credits = Signal(range(INPUT_DEPTH + 1), init=INPUT_DEPTH, name=f"ch{i}_credits")
        m.submodules[f"ch{i}_fifo"] = fifo = SyncFIFO(width=ch.width, depth=INPUT_DEPTH)

        starting = self.word == 0 if ch.words > 1 else Const(1)
        m.d.comb += self.req.eq((fetch != 0) & (~starting | (credits != 0)))

        # The read issued this cycle returns next cycle: remember what it was.
        returning = Signal(name=f"ch{i}_returning")
        ret_last = Signal(name=f"ch{i}_ret_last")
        ret_offset = Signal(2, name=f"ch{i}_ret_offset")
        m.d.sync += [returning.eq(grant), ret_last.eq(last_word),
                     ret_offset.eq(self.addr[:2] if ch.stride < 4 else 0)]

        push = Signal(name=f"ch{i}_push")
        m.d.comb += push.eq(returning & ret_last)
        if ch.words > 1:
            assembly = Signal(32 * (ch.words - 1), name=f"ch{i}_assembly")
            with m.If(returning & ~ret_last):
                # Words arrive low first; shifting down leaves word 0 at the bottom.
                if ch.words > 2:
                    m.d.sync += assembly.eq(Cat(assembly[32:], r_data))
                else:
                    m.d.sync += assembly.eq(r_data)
            beat = Cat(assembly, r_data)
        else:
            beat = (r_data >> (ret_offset * 8))
        m.d.comb += [fifo.w_data.eq(beat[:ch.width]), fifo.w_en.eq(push)]

        popped = fifo.r_rdy & fifo.r_en
        m.d.comb += [port.valid.eq(fifo.r_rdy), port.payload.eq(fifo.r_data),
                     fifo.r_en.eq(port.ready)]

        issue_first = grant & starting
        m.d.sync += credits.eq(credits - issue_first + popped)
        with m.If(grant & last_word):
            m.d.sync += fetch.eq(fetch - 1)
        with m.If(popped):
            m.d.sync += self.left.eq(self.left - 1)
        with m.If(self.start):
            # A restart keeps what was fetched (the FIFO and its credits); flush
            # it with a soft reset (SoC CTRL) before reusing a channel mid-job.
            m.d.sync += [fetch.eq(self.start_beats), self.left.eq(self.start_beats)]
            if ch.words > 1:
                m.d.sync += self.word.eq(0)

    # An output channel: kernel -> FIFO -> memory.  The FIFO decouples the
    # kernel's ready from the memory arbitration (no combinational path from
    # one channel's grant through the kernel to another channel's request).
    def _output(self, m, grant, port, last_word):
        ch = self.ch
        i = ch.index
        accept = Signal(BEATS_BITS, name=f"ch{i}_accept")     # beats still to take
        m.submodules[f"ch{i}_fifo"] = fifo = SyncFIFO(width=ch.width, depth=OUTPUT_DEPTH)
        m.d.comb += [port.ready.eq(fifo.w_rdy & (accept != 0)),
                     fifo.w_en.eq(port.valid & (accept != 0)), fifo.w_data.eq(port.payload)]
        taken = port.valid & port.ready
        m.d.comb += self.req.eq(fifo.r_rdy)

        # Zero-extended to whole words: padding bytes of the stride are written as zeros.
        head = Signal(32 * ch.words, name=f"ch{i}_head")
        m.d.comb += head.eq(fifo.r_data)
        if ch.stride < 4:
            lane = self.addr[:2]
            m.d.comb += [self.w_data.eq(head[:32] << (lane * 8)),
                         self.w_sel.eq(Const((1 << ch.stride) - 1, 4) << lane)]
        elif ch.words == 1:
            m.d.comb += [self.w_data.eq(head), self.w_sel.eq(0xF)]
        else:
            m.d.comb += [self.w_data.eq(head.word_select(self.word, 32)), self.w_sel.eq(0xF)]

        done = grant & last_word
        m.d.comb += fifo.r_en.eq(done)
        with m.If(done):
            m.d.sync += self.left.eq(self.left - 1)
        with m.If(taken):
            m.d.sync += accept.eq(accept - 1)
        with m.If(self.start):
            m.d.sync += [self.left.eq(self.start_beats), accept.eq(self.start_beats)]
            if ch.words > 1:
                m.d.sync += self.word.eq(0)
