"""The bridge's executor: proven request frames from the receive buffer to the host bus.

It takes the frames the receiver committed, oldest first, reads each one
byte by byte from the ring (one byte a cycle), checks it as the virtual
board does (payload length, register window, memory range, DMA channel,
``RESET`` cycles; the same status codes, no message text), runs it on the
SoC's host bus and streams the response frame to the transmitter.
The checks are :class:`~.checks.RequestCheck`'s.

Built for area, since every cell it takes is one a kernel lacks: its control
is a microprogram (:mod:`.routines`, run by :class:`~.microcode.Sequencer`
from a block RAM), so this module is the datapath the words drive:

* the request's fixed fields in one 64-bit shift register, ``a`` (offset,
  address or cycles) then ``b`` (value, length or beats); ``a`` is the only
  value the bus is written from.  ``a``'s low bits count the memory address
  of ``MEM_WRITE``/``MEM_READ``, ``b``'s ``MEM_READ``'s bytes left;
* the frame's end in the ring (``end``), computed once from its length:
  ``MEM_WRITE`` stops there, and the executor moves on to it;
* the response byte: a source the word selects plus the word's constant.

A frame flagged as a retry is read and checked like any other (the same
bytes give the same status) but not executed: its response comes from what
the frame before it left (``REG_READ``'s value, ``RUN``'s reason and
cycles); ``MEM_READ`` re-reads memory for its data, which is harmless.

``MEM_WRITE`` writes one byte per bus access (byte enables), ``MEM_READ``
reads one word per byte it sends: the link is thousands of cycles per byte,
and the logic to merge or split words costs more than it would save.
"""

import struct

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from ...link import protocol as P
from ..dma import REGS_PER_CHANNEL
from ..soc import ADDR_WIDTH, SOC_MAP, HostBusSignature
from .checks import STATUS_BITS, FieldScan, RangeScan, RequestCheck, RequestLayout
from .microcode import Access, Act, Cond, Scan, Sequencer, Source
from .routines import executor_program
from .transmitter import FrameByteLayout

__all__ = ["RequestExecutor", "RUN_COUNTER_BITS"]

#: Width of the RUN cycle counter: a RUN with a larger budget ends with reason
#: "budget" after 2**32 - 1 cycles (the host then sends another; its slices are
#: 2**20 cycles, see hetflow.backends.serial).
RUN_COUNTER_BITS = 32


class RequestExecutor(wiring.Component):
    """Committed request frames to host-bus transactions and response payloads.

    Parameters
    ----------
    addr_width : int
        Address bits of the receive ring.
    strides : list of int
        Bytes per beat of each DMA channel.
    memory_size : int
        Bytes of SoC memory (a power of two).
    register_size : int
        Bytes of the design's register space (the kernel's register window
        for a single kernel).
    max_payload : int
        Largest request payload the receiver takes.
    soc_map : SocMap
        Where the SoC's registers, DMA and memory are (``SoC.map``).
    done_address : int
        Byte address whose bit 1 says the design is done (``SoC.done_address``:
        the kernel's ``status`` for a single kernel).

    Members
    -------
    read : In(ReadPort.Signature(addr_width, shape=8))
        The ring's read port (the memory's signature, hence In; data one cycle
        after the address).
    tail : In(addr_width + 1)
        End of the committed frames.
    head : Out(addr_width + 1)
        Start of the frame being handled (the receiver keeps off it).
    bus : Out(HostBusSignature())
        The SoC's host bus; every output is registered.
    frame : Out(stream.Signature(FrameByteLayout()))
        Each response frame's bytes after its sync byte (sequence number,
        length, payload), its last byte flagged.
    busy : Out(1)
        A frame is waiting or being handled.
    """

    def __init__(self, *, addr_width, strides, memory_size, register_size, max_payload,
                 soc_map=SOC_MAP, done_address=0x04):
        self.soc_map = soc_map
        self.done_address = int(done_address)
        self.addr_width = int(addr_width)
        self.strides = list(strides)
        self.memory_size = int(memory_size)
        self.register_size = int(register_size)
        self.max_payload = int(max_payload)
        ptr = self.addr_width + 1
        super().__init__({
            "read": In(ReadPort.Signature(addr_width=self.addr_width, shape=8)),
            "tail": In(ptr),
            "head": Out(ptr),
            "bus": Out(HostBusSignature()),
            "frame": Out(stream.Signature(FrameByteLayout())),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, read = self.bus, self.read
        smap = self.soc_map
        k = self.memory_size.bit_length() - 1       # memory address bits
        ping = struct.pack(P.PING.response, P.MAGIC, P.VERSION, len(self.strides),
                           self.memory_size, self.register_size)
        m.submodules.sequencer = seq_unit = Sequencer(executor_program(ping).assemble())
        word = seq_unit.word
        hold = Signal()
        m.d.comb += [seq_unit.hold.eq(hold),
                     hold.eq(word.emit & ~self.frame.ready
                             | (word.cond == Cond.WAIT_FRAME) & (self.head == self.tail))]
        fire = ~hold

        # ptr is the ring address read; it equals head while idle, so the first byte of
        # a new frame is on the read port's output the cycle after the frame is taken.
        ptr = Signal.like(self.head)
        end = Signal.like(self.head)                 # where the frame being handled ends
        m.d.comb += [read.addr.eq(ptr[:self.addr_width]), read.en.eq(1)]
        byte = read.data

        retry = Signal()
        seq = Signal(8)
        size_bits = len(Signal(range(-P.HEADER.size, self.max_payload + 1)))
        request = Signal(RequestLayout(size_bits), init={"length_ok": 1})
        opcode, size, channel = request.opcode, request.size, request.channel
        fields = request.fields
        a, b = fields.a, fields.b

        # ---- the response, kept for a retry -----------------------------------------
        answer = Signal(RUN_COUNTER_BITS)            # REG_READ's value / RUN's cycles
        reason = Signal()                            # RUN's reason: 1 budget, 0 done
        spent = Signal()
        b_zero = Signal()                            # b is zero, judged a byte at a time
        kernel_done = Signal()
        data_byte = Signal(8)                        # MEM_READ's byte from its bus word
        carry = Signal()                             # the response length's carry

        # ---- the bus: one access a cycle at most, its registers set in one place --------
        m.d.sync += [bus.w_stb.eq(0), bus.r_stb.eq(0)]
        channel_word = channel << (REGS_PER_CHANNEL - 1).bit_length()
        word_a = a[2:2 + ADDR_WIDTH]                 # checked: no bits above the window
        dma_word = smap.dma_base >> 2
        with m.Switch(word.access):
            for kind, word_addr, w_data, w_sel in (
                    (Access.RESET, (smap.soc_base + smap.CTRL) >> 2, 1, 0xF),
                    (Access.DMA_ADDRESS, dma_word | channel_word, a, 0xF),
                    (Access.DMA_BEATS, (dma_word + 1) | channel_word, a, 0xF),
                    (Access.MEM_WRITE, (smap.mem_base >> 2) | word_a,
                     Cat(byte, byte, byte, byte), Const(1, 4) << a[:2])):
                with m.Case(kind):
                    m.d.sync += [bus.addr.eq(word_addr), bus.w_data.eq(w_data),
                                 bus.w_sel.eq(w_sel), bus.w_stb.eq(1)]
            with m.Case(Access.REG_ADDRESS):
                m.d.sync += bus.addr.eq(word_a)
            with m.Case(Access.WRITE_A):
                m.d.sync += [bus.w_data.eq(a), bus.w_sel.eq(0xF), bus.w_stb.eq(1)]
            for kind, word_addr in (
                    (Access.REG_READ, word_a),
                    (Access.KERNEL_STATUS, self.done_address >> 2),
                    (Access.SOC_STATUS, (smap.soc_base + smap.STATUS) >> 2),
                    (Access.MEM_READ, (smap.mem_base >> 2) | word_a)):
                with m.Case(kind):
                    m.d.sync += [bus.addr.eq(word_addr), bus.r_stb.eq(1)]

        # ---- checks on the loaded request ---------------------------------------------
        m.submodules.check = check = RequestCheck(size_bits=len(size), strides=self.strides)
        m.d.comb += [check.request.eq(request), check.kind.eq(word.check)]
        m.submodules.scan = scan = FieldScan(register_size=self.register_size)
        m.d.comb += [scan.byte.eq(byte), scan.index.eq(word.idx), check.scan.eq(scan.scan),
                     scan.step.eq(word.scan == Scan.FIELD)]
        # b's bytes go by with a's byte of the same weight at the bottom of b.
        m.submodules.range_scan = range_scan = RangeScan(
            strides=self.strides, memory_size=self.memory_size, size_bits=len(size))
        m.d.comb += [range_scan.request.eq(request), range_scan.a.eq(b[:8]),
                     range_scan.byte.eq(byte), range_scan.index.eq(word.idx),
                     range_scan.step.eq(word.scan.as_value()[2]),
                     range_scan.span.eq(word.scan.as_value()[:2]),
                     check.in_memory.eq(range_scan.in_memory)]
        with m.If(word.scan.as_value()[2]):                 # a RANGE_* step
            m.d.sync += b_zero.eq((byte == 0) & ((word.idx == 0) | b_zero))
        verdict = check.status
        status = Signal(STATUS_BITS)                 # kept for the response
        with m.If(word.cond == Cond.BAD):
            m.d.sync += status.eq(verdict)

        # RUN: the budget is spent once the count of cycles has passed its low word
        # (sticky, so an equality does), unless its high word is set.
        count_next = answer + 1
        with m.If(word.poll):
            m.d.sync += answer.eq(count_next)
            with m.If(count_next[:RUN_COUNTER_BITS] == a):
                m.d.sync += spent.eq(1)
        over = ((spent | (count_next[:RUN_COUNTER_BITS] == a)) & b_zero
                | count_next[RUN_COUNTER_BITS])          # the counter is full
        run_done = kernel_done & bus.r_data[0]
        count = b[:k + 1]                            # MEM_READ's bytes left

        with m.If(word.next_byte & fire):
            m.d.sync += ptr.eq(ptr + 1)
        with m.If(word.shift):
            m.d.sync += fields.eq(Cat(fields.as_value()[8:], byte))
        with m.If(word.advance & fire):
            m.d.sync += [a[:k].eq(a[:k] + 1), count.eq(count - 1)]

        with m.Switch(word.act):
            with m.Case(Act.RETRY):
                m.d.sync += [retry.eq(byte[0]), request.length_ok.eq(1)]
            with m.Case(Act.SEQ):
                m.d.sync += seq.eq(byte)
            with m.Case(Act.SIZE_LOW):
                m.d.sync += size.eq(byte)
            with m.Case(Act.SIZE_HIGH):
                # The pointer is at the payload's start: the frame ends its length on.
                length = Cat(size[:8], byte)
                m.d.sync += [size.eq(length - P.HEADER.size), end.eq(ptr + length)]
            with m.Case(Act.OPCODE):
                # Kept as the jump table's index: 0 for an opcode above it.
                m.d.sync += opcode.eq(Mux(byte[4:] == 0, byte[:4], 0))
            with m.Case(Act.LENGTH_CHECK):
                with m.If(byte != Cat(size, Const(0, 32)).word_select(word.idx, 8)):
                    m.d.sync += request.length_ok.eq(0)
            with m.Case(Act.CHANNEL):
                m.d.sync += channel.eq(byte)
            with m.Case(Act.RUN_START):
                m.d.sync += [answer.eq(0), spent.eq(0), reason.eq(P.RUN_BUDGET)]
            with m.Case(Act.KERNEL_DONE):
                m.d.sync += kernel_done.eq(bus.r_data[1])
            with m.Case(Act.RUN_REASON):
                m.d.sync += reason.eq(~run_done)
            with m.Case(Act.ANSWER):
                m.d.sync += answer.eq(bus.r_data)
            with m.Case(Act.DATA):
                m.d.sync += data_byte.eq(bus.r_data.word_select(a[:2], 8))
            with m.Case(Act.FINISH):
                m.d.sync += [self.head.eq(end), ptr.eq(end)]
            # (the words loading fields come after SHORT: size is not negative)
            with m.Case(Act.SIZE_IS):
                with m.If(size != word.arg):
                    m.d.sync += request.length_ok.eq(0)
            with m.Case(Act.SIZE_WITH_DATA):
                with m.If(size < P.MEM_WRITE.request_size):
                    m.d.sync += request.length_ok.eq(0)

        conds = seq_unit.conds
        m.d.comb += [
            conds.bad.eq(verdict != P.OK), conds.retry.eq(retry), conds.at_end.eq(ptr == end),
            conds.short.eq(size < 0), conds.no_run.eq(~scan.scan.nonzero & b_zero),
            conds.run_end.eq(run_done | over), conds.last_byte.eq(count == 1),
            conds.b_zero.eq(b_zero)]
        m.d.comb += seq_unit.opcode.eq(opcode)

        # ---- the response byte: the word's source plus its constant ----------------------
        source = Signal(8)
        with m.Switch(word.source):
            with m.Case(Source.SEQ):
                m.d.comb += source.eq(seq)
            with m.Case(Source.STATUS):
                m.d.comb += source.eq(status)
            with m.Case(Source.ANSWER):
                m.d.comb += source.eq(answer.word_select(word.idx, 8))
            with m.Case(Source.LENGTH):
                m.d.comb += source.eq(Cat(count, Const(0, 32)).word_select(word.idx, 8))
            with m.Case(Source.DATA):
                m.d.comb += source.eq(data_byte)
            with m.Case(Source.REASON):
                m.d.comb += source.eq(reason)
        total = source + word.arg + (word.carry & carry)
        with m.If(word.emit & self.frame.ready):
            m.d.sync += carry.eq(total[8])
        m.d.comb += [self.frame.valid.eq(word.emit), self.frame.payload.data.eq(total[:8]),
                     self.frame.payload.last.eq(
                         word.last | (word.cond == Cond.LAST_BYTE) & (count == 1))]
        m.d.comb += self.busy.eq((word.cond != Cond.WAIT_FRAME) | (self.head != self.tail))
        return m
