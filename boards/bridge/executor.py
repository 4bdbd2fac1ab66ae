"""The bridge's executor: proven request frames from the receive buffer to the host bus.

Why one module of ~480 lines: its one state machine shares the field register, the
ring's read port and the response stream across every opcode; split, each part would
re-declare them.

It takes the frames the receiver committed, oldest first, reads each one
byte by byte from the ring (one byte a cycle), checks it as the virtual
board does (payload length, register window, memory range, DMA channel,
``RESET`` cycles; the same status codes, no message text), runs it on the
SoC's host bus and streams the response frame to the transmitter.
The checks are :class:`~.checks.RequestCheck`'s.

Built for area, since every cell it takes is one a kernel lacks:

* The request's fixed fields pass through one 64-bit shift register,
  ``A`` (offset, address or cycles) then ``B`` (value, length or beats);
  ``DMA_SETUP``'s channel, which comes first, is kept apart.  ``A`` is the
  only value the bus is written from: ``REG_WRITE`` and ``DMA_SETUP`` shift
  ``B`` into ``A`` (four more shifts) for their second value, the bus
  address held in its register meanwhile.  ``A``'s low bits count the
  memory address of ``MEM_WRITE``/``MEM_READ``, ``B``'s ``MEM_READ``'s
  bytes left, so there are no separate counters.
* The payload length is turned into the request's size (less its 5 header
  bytes) as it is read, and the frame's end in the ring (``end``) is
  computed once: ``MEM_WRITE`` stops there, and the executor moves on to
  it.
* A frame flagged as a retry is read and checked like any other (the same
  bytes give the same status) but not executed: its response comes from
  what the frame before it left (``REG_READ``'s value, ``RUN``'s reason and
  cycles); ``MEM_READ`` re-reads memory for its data, which is harmless.

``MEM_WRITE`` writes one byte per bus access (byte enables), ``MEM_READ``
reads one word per byte it sends: the link is thousands of cycles per byte,
and the logic to merge or split words costs more than it would save.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import enum
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from ...link import protocol as P
from ..dma import REGS_PER_CHANNEL
from ..soc import ADDR_WIDTH, SOC_MAP, HostBusSignature
from .checks import STATUS_BITS, FieldScan, RangeScan, RequestCheck, RequestLayout
from .receiver import STORED_HEADER
from .transmitter import FrameByteLayout

__all__ = ["RequestExecutor", "RUN_COUNTER_BITS"]

#: Width of the RUN cycle counter: a RUN with a larger budget ends with reason
#: "budget" after 2**32 - 1 cycles (the host then sends another; its slices are
#: 2**20 cycles, see hetflow.backends.serial).
RUN_COUNTER_BITS = 32
#: Stored frame bytes before the request's fixed fields: flag, seq, length,
#: opcode, payload length.
_FIELDS_AT = STORED_HEADER + P.HEADER.size
#: LOAD's ``pos`` is the stored offset of the byte arriving plus this, so that the
#: payload length (offsets 5..8, pos 12..15) and the eight field bytes that fill
#: the shift register (offsets 9..16, pos 16..23) are told apart by a few bits of pos.
_POS_BIAS = 7
#: Response field bytes of PING (constants), RUN (reason, u64 cycles), REG_READ (u32).
_PING_FIELDS, _RUN_FIELDS, _VALUE_FIELDS = 15, 9, 4
#: Frame bytes before a response's fields: seq, frame length (4), status, payload length (4).
_BODY_FIELDS = 1 + 4 + P.HEADER.size


class Access(enum.Enum, shape=4):
    """The host-bus access the executor makes in a cycle."""

    NONE = 0
    RESET = 1
    REG_ADDRESS = 2        # the register's address only: the write follows
    WRITE_A = 3            # A to the address set before
    REG_READ = 4
    DMA_ADDRESS = 5
    DMA_BEATS = 6
    MEM_WRITE = 7
    MEM_READ = 8
    KERNEL_STATUS = 9
    SOC_STATUS = 10


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
        #: Bits of a response payload length: 20 fixed bytes at most, or a memory range.
        self.length_bits = (self.memory_size + 20).bit_length()
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
        memsize = self.memory_size
        smap = self.soc_map
        k = memsize.bit_length() - 1                  # memory address bits
        # ptr is the ring address read; it equals head while idle, so the first byte of
        # a new frame is already on the read port's output when the frame is taken.
        ptr = Signal.like(self.head)
        end = Signal.like(self.head)                 # where the frame being handled ends
        m.d.comb += [read.addr.eq(ptr[:self.addr_width]), read.en.eq(1)]
        byte = read.data

        # ---- the frame being handled ----------------------------------------------
        pos = Signal(5)                              # LOAD: offset + _POS_BIAS / BODY: index
        retry = Signal()
        seq = Signal(8)
        # The request as the checks see it; its size is after the request header,
        # negative when there is none.
        size_bits = len(Signal(range(-P.HEADER.size, self.max_payload + 1)))
        request = Signal(RequestLayout(size_bits), init={"length_ok": 1})
        opcode, size, channel = request.opcode, request.size, request.channel
        fields = request.fields
        a, b = fields.a, fields.b

        # ---- the response, kept for a retry -----------------------------------------
        status = Signal(STATUS_BITS)
        nfields = Signal(range(16))                  # response fields after its header
        tail = Signal()                              # a MEM_READ: memory bytes a..a+b follow
        answer = Signal(RUN_COUNTER_BITS)            # REG_READ's value / RUN's cycles
        budget_out = Signal()                        # RUN's reason: 1 budget, 0 done

        spent = Signal()
        # B was zero: judged as its bytes went by (pos 20..23; DMA_SETUP, whose B sits a
        # byte later, needs no verdict), not by a 32-bit test of the loaded field.
        b_zero = Signal()
        kernel_done = Signal()
        out_byte = Signal(8)
        len_carry = Signal()                         # BODY: the frame length's carry

        # ---- the bus: one access a cycle at most, its registers set in one place --------
        access = Signal(Access)
        m.d.sync += [bus.w_stb.eq(0), bus.r_stb.eq(0)]
        channel_word = channel << (REGS_PER_CHANNEL - 1).bit_length()
        word_a = a[2:2 + ADDR_WIDTH]                 # checked: no bits above the window
        dma_word = smap.dma_base >> 2
        with m.Switch(access):
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
        m.submodules.check = check = RequestCheck(
            size_bits=len(size), strides=self.strides, register_size=self.register_size)
        m.d.comb += check.request.eq(request)
        # A's bytes go by at pos 16..19 for every request but DMA_SETUP (which needs no scan).
        m.submodules.scan = scan = FieldScan(register_size=self.register_size)
        m.d.comb += [scan.byte.eq(byte), scan.index.eq(pos[:2]), check.scan.eq(scan.scan)]
        # B's bytes go by at pos 20..23 (DMA_SETUP: 21..24, after its channel byte); A's
        # byte of the same weight is then at the bottom of B, four shifts behind.
        m.submodules.range_scan = range_scan = RangeScan(
            strides=self.strides, memory_size=memsize, size_bits=len(size))
        range_at = (pos - (opcode == P.DMA_SETUP.code))[:len(pos)]
        m.d.comb += [range_scan.request.eq(request), range_scan.a.eq(b[:8]),
                     range_scan.byte.eq(byte), range_scan.index.eq(range_at[:2]),
                     check.in_memory.eq(range_scan.in_memory)]
        verdict = check.status

        # RUN: the budget is spent once the count of cycles has passed its low word
        # (sticky, so an equality does), unless its high word is set.
        polling = Signal()
        payload_len = Signal(self.length_bits)
        m.d.comb += payload_len.eq(Mux(tail, b[:k + 1], nfields))    # a tail has no fields
        count_next = answer + 1
        with m.If(polling):
            m.d.sync += answer.eq(count_next)
            with m.If(count_next[:RUN_COUNTER_BITS] == a):
                m.d.sync += spent.eq(1)
        over = ((spent | (count_next[:RUN_COUNTER_BITS] == a)) & b_zero
                | count_next[RUN_COUNTER_BITS])          # the counter is full

        next_byte = Signal()                         # read the ring's next byte
        shift = Signal()                             # the read byte into the fields
        advance = Signal()                           # one memory byte moved
        with m.If(next_byte):
            m.d.sync += ptr.eq(ptr + 1)
        with m.If(shift):
            m.d.sync += fields.eq(Cat(fields.as_value()[8:], byte))
        with m.If(advance):
            m.d.sync += [a[:k].eq(a[:k] + 1), b[:k + 1].eq(b[:k + 1] - 1)]

        with m.FSM(name="executor") as fsm:
            with m.State("IDLE"):
                with m.If(self.head != self.tail):
                    m.d.comb += next_byte.eq(1)
                    m.d.sync += [pos.eq(_POS_BIAS), request.length_ok.eq(1)]
                    m.next = "LOAD"

            # One stored byte a cycle: the byte at offset pos - _POS_BIAS is on the read
            # port.  MEM_WRITE holds the ring pointer on its first data byte (offset 13)
            # while the shift register takes its address.
            with m.State("LOAD"):
                m.d.comb += [scan.step.eq(pos[2:] == 0b100),
                             range_scan.step.eq(range_at[2:] == 0b101)]
                with m.If(pos[2:] == 0b101):
                    m.d.sync += b_zero.eq((byte == 0) & ((pos[:2] == 0) | b_zero))
                hold = (opcode == P.MEM_WRITE.code) & (pos >= _FIELDS_AT + 3 + _POS_BIAS)
                m.d.comb += next_byte.eq(~hold)
                m.d.sync += pos.eq(pos + 1)
                with m.If(pos[2:] == 0b011):
                    # The payload length field against the frame's: byte by byte.
                    want = Cat(size, Const(0, 32)).word_select(pos[:2], 8)
                    with m.If(byte != want):
                        m.d.sync += request.length_ok.eq(0)
                # Only DMA_SETUP has a ninth field byte (pos 24); the others' fields then
                # sit where DMA_SETUP's address and beats do.
                m.d.comb += shift.eq((pos[3:] == 0b10) | (pos == 24) & (opcode == P.DMA_SETUP.code))
                with m.Switch(pos):
                    with m.Case(_POS_BIAS):
                        m.d.sync += retry.eq(byte[0])
                    with m.Case(_POS_BIAS + 1):
                        m.d.sync += seq.eq(byte)
                    with m.Case(_POS_BIAS + 2):
                        m.d.sync += size.eq(byte)
                    with m.Case(_POS_BIAS + 3):
                        # The pointer is at offset 4, where the payload starts: the frame
                        # ends its length on.
                        length = Cat(size[:8], byte)
                        m.d.sync += [size.eq(length - P.HEADER.size), end.eq(ptr + length)]
                    with m.Case(_POS_BIAS + 4):
                        m.d.sync += opcode.eq(byte)
                        with m.If(size < 0):                 # no request header: refused
                            m.next = "DECODE"
                    with m.Case(_FIELDS_AT + _POS_BIAS):
                        m.d.sync += channel.eq(byte)
                    with m.Case(23):
                        with m.If(opcode != P.DMA_SETUP.code):
                            m.next = "DECODE"
                    with m.Case(24):
                        m.next = "DECODE"

            # The verdict decides; a retry is answered without being executed.
            with m.State("DECODE"):
                m.d.sync += [status.eq(verdict), nfields.eq(0), tail.eq(0), pos.eq(0)]
                m.next = "RESPOND"
                with m.If(verdict == P.OK):
                    with m.Switch(opcode):
                        with m.Case(P.PING.code):
                            m.d.sync += nfields.eq(_PING_FIELDS)
                        with m.Case(P.REG_READ.code):
                            m.d.sync += nfields.eq(_VALUE_FIELDS)
                        with m.Case(P.MEM_READ.code):
                            m.d.sync += tail.eq(1)
                        with m.Case(P.RUN.code):
                            m.d.sync += nfields.eq(_RUN_FIELDS)
                    with m.If(~retry):
                        with m.Switch(opcode):
                            with m.Case(P.RESET.code):
                                m.next = "RESET"
                            with m.Case(P.REG_WRITE.code):
                                m.next = "REG_ADDRESS"
                            with m.Case(P.REG_READ.code):
                                m.next = "REG_READ"
                            with m.Case(P.MEM_WRITE.code):
                                with m.If(ptr != end):                 # else: no data
                                    m.next = "WRITE_FETCH"
                            with m.Case(P.DMA_SETUP.code):
                                m.next = "DMA_ADDRESS"
                            with m.Case(P.RUN.code):
                                m.d.sync += [answer.eq(0), spent.eq(0),
                                             budget_out.eq(P.RUN_BUDGET)]
                                with m.If(scan.scan.nonzero | ~b_zero):
                                    m.next = "RUN_KERNEL"

            with m.State("RESET"):
                m.d.comb += access.eq(Access.RESET)
                m.next = "RESPOND"
            # REG_WRITE: the address from A, then the value shifted into A and written.
            with m.State("REG_ADDRESS"):
                m.d.comb += access.eq(Access.REG_ADDRESS)
                m.next = "SHIFT"
            with m.State("REG_READ"):
                m.d.comb += access.eq(Access.REG_READ)
                m.next = "REG_WAIT"
            # Reads: the request leaves through a register, r_data is valid the cycle
            # after the SoC sees it.
            with m.State("REG_WAIT"):
                m.next = "REG_DATA"
            with m.State("REG_DATA"):
                m.d.sync += answer.eq(bus.r_data)
                m.next = "RESPOND"

            with m.State("DMA_ADDRESS"):
                m.d.comb += access.eq(Access.DMA_ADDRESS)
                m.next = "SHIFT"
            # B into A, a byte a cycle (pos counts 0..3 from DECODE).
            with m.State("SHIFT"):
                m.d.comb += shift.eq(1)
                m.d.sync += pos.eq(pos + 1)
                with m.If(pos == 3):
                    with m.If(opcode == P.DMA_SETUP.code):
                        m.next = "DMA_BEATS"
                    with m.Else():
                        m.next = "WRITE_A"
            with m.State("WRITE_A"):
                m.d.comb += access.eq(Access.WRITE_A)
                m.next = "RESPOND"
            with m.State("DMA_BEATS"):
                m.d.comb += access.eq(Access.DMA_BEATS)
                m.next = "RESPOND"

            # MEM_WRITE: one data byte every two cycles, one bus write each, up to the
            # frame's end.
            with m.State("WRITE_FETCH"):
                m.d.comb += next_byte.eq(1)
                m.next = "WRITE_STORE"
            with m.State("WRITE_STORE"):
                m.d.comb += [access.eq(Access.MEM_WRITE), advance.eq(1)]
                with m.If(ptr == end):
                    m.next = "RESPOND"
                with m.Else():
                    m.next = "WRITE_FETCH"

            # RUN: read the kernel's status, then the SoC's; four cycles per poll.
            with m.State("RUN_KERNEL"):
                m.d.comb += [polling.eq(1), access.eq(Access.KERNEL_STATUS)]
                m.next = "RUN_SOC"
            with m.State("RUN_SOC"):
                m.d.comb += [polling.eq(1), access.eq(Access.SOC_STATUS)]
                m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                m.d.comb += polling.eq(1)
                m.d.sync += kernel_done.eq(bus.r_data[1])
                m.next = "RUN_CHECK"
            with m.State("RUN_CHECK"):
                m.d.comb += polling.eq(1)
                with m.If(kernel_done & bus.r_data[0] | over):
                    m.d.sync += budget_out.eq(~(kernel_done & bus.r_data[0]))
                    m.next = "RESPOND"
                with m.Else():
                    m.next = "RUN_KERNEL"

            # ---- the response ------------------------------------------------------------
            with m.State("RESPOND"):
                m.d.sync += pos.eq(0)
                m.next = "BODY"

            # The frame after its sync byte: seq (pos 0), the frame's length (1..4), the
            # response's status (5) and payload length (6..9), its fields (10 on).
            with m.State("BODY"):
                ping_info = Cat(Const(int.from_bytes(P.MAGIC, "little"), 32),
                                Const(P.VERSION, 16), Const(len(self.strides), 8),
                                Const(memsize, 32), Const(self.register_size, 32))
                value = Signal(8)
                last_field = _BODY_FIELDS - 1 + nfields
                # The payload length goes out twice, a byte at a time: at pos 6..9 as it
                # is, and before, at pos 1..4, plus the 5 bytes of the response header
                # (the frame's length), added a byte at a time with the carry kept.
                len_byte = Cat(payload_len, Const(0, 32)).word_select(
                    Mux(pos >= 6, pos - 6, pos - 1)[:2], 8)
                frame_len_byte = len_byte + Mux(pos == 1, P.HEADER.size, len_carry)
                with m.If(self.frame.ready):
                    m.d.sync += len_carry.eq(frame_len_byte[8])
                with m.Switch(pos):
                    with m.Case(0):
                        m.d.comb += value.eq(seq)
                    with m.Case(1, 2, 3, 4):
                        m.d.comb += value.eq(frame_len_byte[:8])
                    with m.Case(5):
                        m.d.comb += value.eq(status)
                    with m.Case(6, 7, 8, 9):
                        m.d.comb += value.eq(len_byte)
                    with m.Default():
                        field = (pos - _BODY_FIELDS)[:4]
                        run = nfields == _RUN_FIELDS
                        with m.If(nfields == _PING_FIELDS):
                            m.d.comb += value.eq(ping_info.word_select(field, 8))
                        with m.Elif(run & (field == 0)):
                            m.d.comb += value.eq(budget_out)
                        with m.Else():       # RUN: u64 cycles after the reason byte
                            m.d.comb += value.eq(Cat(answer, Const(0, 32)).word_select(
                                (field - run)[:3], 8))
                more = tail & ~b_zero
                m.d.comb += [self.frame.valid.eq(1), self.frame.payload.data.eq(value),
                             self.frame.payload.last.eq((pos == last_field) & ~more)]
                with m.If(self.frame.ready):
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(pos == last_field):
                        with m.If(more):
                            m.next = "READ_FETCH"
                        with m.Else():
                            m.next = "DONE"

            # MEM_READ's data: one word read per byte sent; A counts the address up,
            # B the bytes left down.
            with m.State("READ_FETCH"):
                m.d.comb += access.eq(Access.MEM_READ)
                m.next = "READ_WAIT"
            with m.State("READ_WAIT"):
                m.next = "READ_DATA"
            with m.State("READ_DATA"):
                m.d.sync += out_byte.eq(bus.r_data.word_select(a[:2], 8))
                m.next = "READ_SEND"
            with m.State("READ_SEND"):
                m.d.comb += [self.frame.valid.eq(1), self.frame.payload.data.eq(out_byte),
                             self.frame.payload.last.eq(b[:k + 1] == 1)]
                with m.If(self.frame.ready):
                    m.d.comb += advance.eq(1)
                    with m.If(b[:k + 1] == 1):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "READ_FETCH"

            with m.State("DONE"):
                m.d.sync += [self.head.eq(end), ptr.eq(end)]
                m.next = "IDLE"

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE") | (self.head != self.tail))
        return m
