"""The UART-to-bus bridge: serial frames in, host-bus transactions, frames out.

This is the gateware the serial backend (:mod:`hetflow.backends.serial`)
talks to on a board.  It speaks the framing of
:mod:`hetflow.sim.board.framing` (sync, sequence number, length, payload,
CRC-32) around the requests of :mod:`hetflow.sim.board.protocol`, and
executes each request as transactions on the SoC's host bus
(:class:`~hetflow.boards.soc.HostBusSignature`).  Its byte side is a pair of
8-bit streams, so the same bridge sits behind a UART on a board
(:mod:`hetflow.boards.uart`) and behind a pty in simulation
(:mod:`hetflow.boards.serialsim`).

How a frame is handled:

* The receiver hunts for the sync byte, reads the sequence number and the
  length, and drops the candidate at once when the length exceeds
  ``max_payload`` (:data:`~hetflow.sim.board.framing.BRIDGE_MAX_PAYLOAD` by
  default): the whole payload is buffered in block RAM and nothing is
  executed before the CRC has proven it, so a corrupted address can never
  reach memory.  A frame whose line goes quiet for ``idle_cycles`` is
  dropped, so a frame cut short by lost bytes cannot swallow the retry.
  Unlike the Python decoder, the bridge does not re-scan the bytes of a bad
  candidate for a later sync byte; the host's retry covers that case.
* A frame whose sequence number and CRC equal those of the last one
  answered is a retry whose response was lost: the cached response goes
  out again and the request is not executed twice (``MEM_READ`` re-reads
  memory for its data, which is harmless).
* Requests are checked as the virtual board checks them (payload length,
  register window, memory range, DMA channel, ``RESET`` cycles) and
  answered with the same status codes.  Error responses carry no message
  text: the host names the request and the status.
* ``PING`` answers from constants of the SoC the bridge was built for;
  ``RESET`` pulses the SoC's soft reset; ``RUN`` polls the kernel's status
  and the SoC's DMA status until both say done, or the cycle budget is
  spent, and answers the cycles that passed (polled every 4 cycles, so up to
  3 more than the budget; a budget above 2**32 - 1 ends there, which the
  host's loop of ``RUN`` slices absorbs); ``QUIT`` is answered and ignored.

Bytes that arrive while a request is executing or its response is being
sent are dropped: a UART cannot be paused, and the host never sends before
it has its answer (a retry that overlaps fails its CRC and is retried).
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hw.errors import ParamError
from ..hw.kernels.crc32 import crc32_byte_step
from ..sim.board import protocol as P
from ..sim.board.framing import BRIDGE_MAX_PAYLOAD, SYNC
from .soc import ADDR_WIDTH, SOC_MAP, HostBusSignature

__all__ = ["FrameBridge", "DEFAULT_IDLE_CYCLES", "RUN_COUNTER_BITS"]

#: Cycles of silence after which a partial frame is dropped (~40 ms at 12 MHz).
DEFAULT_IDLE_CYCLES = 500_000
#: Width of the RUN cycle counter: a RUN with a larger budget ends with reason
#: "budget" after 2**32 - 1 cycles (the host then sends another; its slices are
#: 2**20 cycles, see hetflow.backends.serial).
RUN_COUNTER_BITS = 32
#: Payload bytes kept in registers for decoding the fixed request fields.
_HEAD_BYTES = 16
#: Largest fixed response part: the 5-byte header plus PING's 15 bytes.
_RESP_BYTES = 20

_STATUS = {s.name: s.code for s in P.STATUS.values()}
#: Serial frame header bytes after the sync byte: sequence number and length.
F_HEADER_REST = 1 + 4


def _u32(value):
    return Const(value & 0xFFFFFFFF, 32)


class FrameBridge(wiring.Component):
    """Serial frames on two byte streams to host-bus transactions (see the module doc).

    Parameters
    ----------
    strides : list of int
        Bytes per beat of each DMA channel, in channel order (from the SoC).
    memory_size : int
        Bytes of SoC memory.
    register_size : int
        Bytes of the kernel's register window.
    max_payload : int
        Largest frame payload buffered; longer frames are dropped.
    idle_cycles : int
        Cycles of line silence after which a partial frame is dropped.

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the line.  Always ready.
    tx : Out(stream.Signature(8))
        Bytes to the line.
    bus : Out(HostBusSignature())
        The SoC's host bus.
    busy : Out(1)
        High while a frame is being received, executed or answered.
    """

    def __init__(self, *, strides, memory_size, register_size,
                 max_payload=BRIDGE_MAX_PAYLOAD, idle_cycles=DEFAULT_IDLE_CYCLES):
        self.strides = [int(s) for s in strides]
        self.memory_size = int(memory_size)
        self.register_size = int(register_size)
        self.max_payload = int(max_payload)
        self.idle_cycles = int(idle_cycles)
        problem = None
        if not P.HEADER.size + 4 <= self.max_payload:
            problem = (f"bridge max_payload = {max_payload} is too small; allowed "
                       f"{P.HEADER.size + 4} bytes or more")
        elif self.idle_cycles < 16:
            problem = f"bridge idle_cycles = {idle_cycles} is too small; allowed 16 or more"
        elif not 0 < len(self.strides) < 256:
            problem = f"bridge: {len(self.strides)} DMA channels; allowed 1..255"
        if problem:
            self._MustUse__silence = True       # never finished: no "unused" warning
            raise ParamError(problem)
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(HostBusSignature()),
            "busy": Out(1),
        })

    @classmethod
    def for_soc(cls, soc, **kwargs):
        """The bridge for :class:`~hetflow.boards.soc.SoC` ``soc``."""
        return cls(strides=[ch.stride for ch in soc.chans], memory_size=soc.memory_size,
                   register_size=soc.kernel.map.size, **kwargs)

    def elaborate(self, platform):
        m = Module()
        rx, tx, bus = self.rx, self.tx, self.bus
        memsize = self.memory_size

        m.submodules.payload = buf = Memory(shape=8, depth=self.max_payload, init=[])
        wp = buf.write_port()
        rp = buf.read_port()

        # ---- one CRC engine, shared by receiver and transmitter ---------------------
        crc = Signal(32, init=0xFFFFFFFF)
        crc_in = Signal(8)
        crc_step = Signal()
        crc_clear = Signal()
        crc_next = crc32_byte_step(m, crc, crc_in, "bridge_crc")
        with m.If(crc_clear):
            m.d.sync += crc.eq(0xFFFFFFFF)
        with m.Elif(crc_step):
            m.d.sync += crc.eq(crc_next)

        # ---- received frame ----------------------------------------------------------
        seq = Signal(8)
        length = Signal(32)
        got_crc = Signal(32)
        index = Signal(range(self.max_payload + 1))
        count = Signal(2)
        head = Signal(8 * _HEAD_BYTES)
        idle = Signal(range(self.idle_cycles + 1))
        last_seq = Signal(8)
        last_crc = Signal(32)
        have_last = Signal()

        def hb(i, n=1):
            return head[8 * i:8 * (i + n)]

        opcode, plen = hb(0), hb(1, 4)
        field1, field2 = hb(5, 4), hb(9, 4)          # offset/address/cycles, value/length
        dma_ch, dma_addr, dma_beats = hb(5), hb(6, 4), hb(10, 4)
        run_budget = hb(5, 8)

        # ---- response (kept for a retry) -------------------------------------------
        status = Signal(8)
        fields = Signal(8 * (_RESP_BYTES - P.HEADER.size))
        fixed_len = Signal(range(_RESP_BYTES + 1))
        span = range(memsize + 1)       # any byte address or count inside memory
        tail_addr = Signal(span)
        tail_len = Signal(span)

        # ---- execution / transmission state -------------------------------------------
        at = Signal(span)               # MEM_WRITE: memory address of the next byte,
        rest = Signal(range(self.max_payload + 1))      # bytes still to store,
        at_buf = Signal(range(self.max_payload + 1))    # and where it is in the buffer
        cycles = Signal(RUN_COUNTER_BITS)
        word = Signal(32)
        sel = Signal(4)
        kstatus = Signal(32)
        left = Signal(span)             # tail bytes still to send
        taddr = Signal(span)

        def respond(code, nfields=0, value=0):
            m.d.sync += [status.eq(code), fixed_len.eq(P.HEADER.size + nfields),
                         fields.eq(value), tail_len.eq(0)]
            m.next = "TX_START"

        def fail(name):
            respond(_STATUS[name])

        def mem_word(byte_addr):
            # Memory is at mem_base (1 MiB aligned, larger than the memory): OR in the offset.
            return Const(SOC_MAP.mem_base >> 2, ADDR_WIDTH) | byte_addr[2:]

        # ---- request checks, registered ahead of DECODE ----------------------------
        # The head and length are stable from the last payload byte on, and the CRC
        # takes four more bytes: every check is computed from them and registered, so
        # DECODE only chooses among ready flags.
        nlen = length[:len(index)]      # checked against max_payload: the low bits are all
        size = Signal(len(index) + 1)   # payload bytes after the request header
        m.d.comb += size.eq(nlen - P.HEADER.size)

        # One memory-range check for MEM_WRITE, MEM_READ and DMA_SETUP: the request's
        # (address, byte count) are multiplexed into it.  memsize is a power of two 2**k,
        # so "addr + n <= memsize" is: no bits at or above k in either, and a (k+1)-bit sum.
        k = memsize.bit_length() - 1
        range_addr = Signal(32)
        range_len = Signal(40)
        with m.Switch(opcode):
            with m.Case(P.MEM_WRITE.code):
                m.d.comb += [range_addr.eq(field1), range_len.eq(size - 4)]
            with m.Case(P.MEM_READ.code):
                m.d.comb += [range_addr.eq(field1), range_len.eq(field2)]
            with m.Case(P.DMA_SETUP.code):
                m.d.comb += range_addr.eq(dma_addr)
                with m.Switch(dma_ch):
                    for c, stride in enumerate(self.strides):
                        with m.Case(c):
                            m.d.comb += range_len.eq(dma_beats * stride)

        def early(expr):
            flag = Signal()
            m.d.sync += flag.eq(expr)
            return flag

        q = SimpleNamespace(
            bad_header=early((nlen < P.HEADER.size) | (plen != size)),
            size={n: early(size == n) for n in (0, 4, 8, 9)},
            op={code: early(opcode == code) for code in P.OPCODES},
            short_write=early(nlen < P.HEADER.size + 4),
            bad_reset=early((field1 == 0) | (field1 > 1_000_000)),
            reg_ok=early((field1 < self.register_size) & (field1[:2] == 0)),
            bad_channel=early(dma_ch >= len(self.strides)),
            no_budget=early(run_budget == 0),
            in_memory=early((range_addr[k:] == 0) & (range_len[k:] == 0)
                            & (range_addr[:k] + range_len[:k] <= memsize)),
        )

        # Bus requests are registered on their way out: the SoC's address decode and
        # memory mux then start from flip-flops, not from the end of the request decode.
        # A read's data is therefore on r_data two cycles after the FSM asks for it.
        req = SimpleNamespace(addr=Signal(ADDR_WIDTH), w_stb=Signal(), w_data=Signal(32),
                              w_sel=Signal(4), r_stb=Signal())
        m.d.sync += [bus.addr.eq(req.addr), bus.w_stb.eq(req.w_stb), bus.w_data.eq(req.w_data),
                     bus.w_sel.eq(req.w_sel), bus.r_stb.eq(req.r_stb)]

        # Read data is registered before it feeds the transmitter and the CRC: the
        # path from the memory's output through the SoC's read mux is long enough.
        r_word = Signal(32)
        m.d.sync += r_word.eq(bus.r_data)

        m.d.comb += rx.ready.eq(1)
        took = rx.valid          # a byte arrives (always accepted)
        byte = rx.payload

        def quiet_line():
            # Mid-frame and the line has been quiet too long: drop the partial frame.
            with m.If(~took & (idle == self.idle_cycles)):
                m.next = "HUNT"

        with m.FSM(name="bridge"):
            # ==== receive ==================================================================
            with m.State("HUNT"):
                m.d.comb += crc_clear.eq(1)
                with m.If(took & (byte == SYNC)):
                    m.d.sync += idle.eq(0)
                    m.next = "SEQ"

            with m.State("SEQ"):
                quiet_line()
                m.d.comb += [self.busy.eq(1), crc_in.eq(byte), crc_step.eq(took)]
                with m.If(took):
                    m.d.sync += [seq.eq(byte), count.eq(0)]
                    m.next = "LENGTH"

            with m.State("LENGTH"):
                quiet_line()
                m.d.comb += [self.busy.eq(1), crc_in.eq(byte), crc_step.eq(took)]
                full = Cat(length[8:], byte)
                with m.If(took):
                    m.d.sync += [length.eq(full), count.eq(count + 1), index.eq(0)]
                    with m.If(count == 3):
                        with m.If(full > self.max_payload):
                            m.next = "HUNT"
                        with m.Elif(full == 0):
                            m.next = "CRC"
                        with m.Else():
                            m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                quiet_line()
                m.d.comb += [self.busy.eq(1), crc_in.eq(byte), crc_step.eq(took),
                             wp.addr.eq(index), wp.data.eq(byte), wp.en.eq(took)]
                with m.If(took):
                    with m.Switch(index):
                        for k in range(_HEAD_BYTES):
                            with m.Case(k):
                                m.d.sync += hb(k).eq(byte)
                    m.d.sync += index.eq(index + 1)
                    with m.If(index + 1 == length[:len(index)]):
                        m.d.sync += count.eq(0)
                        m.next = "CRC"

            with m.State("CRC"):
                quiet_line()
                m.d.comb += self.busy.eq(1)
                with m.If(took):
                    m.d.sync += [got_crc.eq(Cat(got_crc[8:], byte)), count.eq(count + 1)]
                    with m.If(count == 3):
                        m.next = "CHECK"

            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                with m.If(got_crc != ~crc):
                    m.next = "HUNT"
                with m.Elif(have_last & (seq == last_seq) & (got_crc == last_crc)):
                    m.next = "TX_START"          # a retry: send the cached response again
                with m.Else():
                    m.d.sync += [last_seq.eq(seq), last_crc.eq(got_crc), have_last.eq(1)]
                    m.next = "DECODE"

            # ==== execute ==================================================================
            with m.State("DECODE"):
                m.d.comb += self.busy.eq(1)
                with m.If(q.bad_header):
                    fail("BAD_LENGTH")
                with m.Elif(q.op[P.PING.code]):
                    with m.If(~q.size[0]):
                        fail("BAD_LENGTH")
                    with m.Else():
                        value = Cat(Const(int.from_bytes(P.MAGIC, "little"), 32),
                                    Const(P.VERSION, 16), Const(len(self.strides), 8),
                                    _u32(memsize), _u32(self.register_size))
                        respond(_STATUS["OK"], 15, value)
                with m.Elif(q.op[P.RESET.code]):
                    with m.If(~q.size[4] | q.bad_reset):
                        fail("BAD_LENGTH")
                    with m.Else():
                        m.d.comb += [req.addr.eq((SOC_MAP.soc_base + SOC_MAP.CTRL) >> 2),
                                     req.w_data.eq(1), req.w_sel.eq(0xF), req.w_stb.eq(1)]
                        respond(_STATUS["OK"])
                with m.Elif(q.op[P.REG_WRITE.code]):
                    with m.If(~q.size[8]):
                        fail("BAD_LENGTH")
                    with m.Elif(~q.reg_ok):
                        fail("BAD_REGISTER")
                    with m.Else():
                        m.d.comb += [req.addr.eq(field1[2:]), req.w_data.eq(field2),
                                     req.w_sel.eq(0xF), req.w_stb.eq(1)]
                        respond(_STATUS["OK"])
                with m.Elif(q.op[P.REG_READ.code]):
                    with m.If(~q.size[4]):
                        fail("BAD_LENGTH")
                    with m.Elif(~q.reg_ok):
                        fail("BAD_REGISTER")
                    with m.Else():
                        m.d.comb += [req.addr.eq(field1[2:]), req.r_stb.eq(1)]
                        m.next = "REG_WAIT"
                with m.Elif(q.op[P.MEM_WRITE.code]):
                    with m.If(q.short_write):
                        fail("BAD_LENGTH")
                    with m.Elif(~q.in_memory):
                        fail("BAD_ADDRESS")
                    with m.Elif(q.size[4]):                  # no data
                        respond(_STATUS["OK"])
                    with m.Else():
                        m.d.sync += [at.eq(field1), rest.eq(size - 4),
                                     at_buf.eq(P.HEADER.size + 4), word.eq(0), sel.eq(0)]
                        m.next = "MEM_FETCH"
                with m.Elif(q.op[P.MEM_READ.code]):
                    with m.If(~q.size[8]):
                        fail("BAD_LENGTH")
                    with m.Elif(~q.in_memory):
                        fail("BAD_ADDRESS")
                    with m.Else():
                        respond(_STATUS["OK"])
                        m.d.sync += [tail_addr.eq(field1), tail_len.eq(field2)]
                with m.Elif(q.op[P.DMA_SETUP.code]):
                    with m.If(~q.size[9]):
                        fail("BAD_LENGTH")
                    with m.Elif(q.bad_channel):
                        fail("BAD_CHANNEL")
                    with m.Elif(~q.in_memory):
                        fail("BAD_ADDRESS")
                    with m.Else():
                        m.d.comb += [req.addr.eq(SOC_MAP.dma_base >> 2 | dma_ch << 2),
                                     req.w_data.eq(dma_addr), req.w_sel.eq(0xF),
                                     req.w_stb.eq(1)]
                        m.next = "DMA_BEATS"
                with m.Elif(q.op[P.RUN.code]):
                    with m.If(~q.size[8]):
                        fail("BAD_LENGTH")
                    with m.Elif(q.no_budget):
                        respond(_STATUS["OK"], 9, Cat(Const(P.RUN_BUDGET, 8), Const(0, 64)))
                    with m.Else():
                        m.d.sync += cycles.eq(0)
                        m.next = "RUN_STATUS"
                with m.Elif(q.op[P.QUIT.code]):
                    with m.If(~q.size[0]):
                        fail("BAD_LENGTH")
                    with m.Else():
                        respond(_STATUS["OK"])
                with m.Else():
                    fail("BAD_OPCODE")

            with m.State("REG_WAIT"):
                m.d.comb += self.busy.eq(1)
                m.next = "REG_READ"

            with m.State("REG_READ"):
                m.d.comb += self.busy.eq(1)
                respond(_STATUS["OK"], 4, bus.r_data)

            with m.State("DMA_BEATS"):
                m.d.comb += [self.busy.eq(1),
                             req.addr.eq((SOC_MAP.dma_base >> 2 | dma_ch << 2) + 1),
                             req.w_data.eq(dma_beats), req.w_sel.eq(0xF), req.w_stb.eq(1)]
                respond(_STATUS["OK"])

            # MEM_WRITE: one byte every two cycles from the payload buffer (data starts at
            # byte 9), gathered into words written with byte enables.
            with m.State("MEM_FETCH"):
                m.d.comb += [self.busy.eq(1), rp.addr.eq(at_buf)]
                m.next = "MEM_STORE"

            with m.State("MEM_STORE"):
                m.d.comb += self.busy.eq(1)
                lane = at[:2]
                merged = Signal(32)
                merged_sel = Signal(4)
                with m.Switch(lane):
                    for k in range(4):
                        with m.Case(k):
                            m.d.comb += [merged.eq(word | (rp.data << (8 * k))),
                                         merged_sel.eq(sel | (1 << k))]
                last = rest == 1
                with m.If((lane == 3) | last):
                    m.d.comb += [req.addr.eq(mem_word(at)), req.w_data.eq(merged),
                                 req.w_sel.eq(merged_sel), req.w_stb.eq(1)]
                    m.d.sync += [word.eq(0), sel.eq(0)]
                with m.Else():
                    m.d.sync += [word.eq(merged), sel.eq(merged_sel)]
                m.d.sync += [at.eq(at + 1), rest.eq(rest - 1), at_buf.eq(at_buf + 1)]
                with m.If(last):
                    respond(_STATUS["OK"])
                with m.Else():
                    m.next = "MEM_FETCH"

            # RUN: read the kernel's status, then the SoC's; four cycles per poll.
            elapsed = cycles
            saturated = elapsed == (1 << RUN_COUNTER_BITS) - 1
            budget_spent = Signal()
            m.d.comb += budget_spent.eq((run_budget[RUN_COUNTER_BITS:] == 0)
                                        & (elapsed + 1 >= run_budget[:RUN_COUNTER_BITS])
                                        | saturated)
            with m.State("RUN_STATUS"):
                m.d.comb += [self.busy.eq(1), req.addr.eq(0x04 >> 2), req.r_stb.eq(1)]
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "RUN_IDLE"
            with m.State("RUN_IDLE"):
                m.d.comb += [self.busy.eq(1),
                             req.addr.eq((SOC_MAP.soc_base + SOC_MAP.STATUS) >> 2),
                             req.r_stb.eq(1)]
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [kstatus.eq(bus.r_data), cycles.eq(cycles + 1)]
                m.next = "RUN_CHECK"
            with m.State("RUN_CHECK"):
                m.d.comb += self.busy.eq(1)
                with m.If(kstatus[1] & bus.r_data[0]):
                    respond(_STATUS["OK"], 9, Cat(Const(P.RUN_DONE, 8), elapsed + 1))
                with m.Elif(budget_spent):
                    respond(_STATUS["OK"], 9, Cat(Const(P.RUN_BUDGET, 8), elapsed + 1))
                with m.Else():
                    m.d.sync += cycles.eq(cycles + 1)
                    m.next = "RUN_STATUS"

            # ==== transmit =================================================================
            # Everything before the tail is one byte-indexed constant-layout prefix:
            # sync | seq | frame length | status | payload length | fixed fields.
            frame_len = Signal(32)          # registered in TX_START: off the byte path
            payload_len = Signal(32)
            prefix = Cat(Const(SYNC, 8), seq, frame_len, status, payload_len, fields)
            prefix_bytes = len(prefix) // 8
            head_len = 1 + F_HEADER_REST        # sync, seq, length: not in the fixed part
            pos = Signal(range(prefix_bytes + 1))
            tx_crc = Signal(32)
            m.d.comb += tx_crc.eq(~crc)

            def send(value, then):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(value)]
                with m.If(tx.ready):
                    then()

            with m.State("TX_START"):
                m.d.comb += [self.busy.eq(1), crc_clear.eq(1)]
                m.d.sync += [pos.eq(0), frame_len.eq(fixed_len + tail_len),
                             payload_len.eq(fixed_len + tail_len - P.HEADER.size)]
                m.next = "TX_PREFIX"

            with m.State("TX_PREFIX"):              # the sync byte is not in the CRC
                value = prefix.word_select(pos, 8)
                m.d.comb += [crc_in.eq(value), crc_step.eq(tx.ready & (pos != 0))]

                def after_prefix():
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(pos + 1 == head_len + fixed_len):
                        m.d.sync += [taddr.eq(tail_addr), left.eq(tail_len)]
                        with m.If(tail_len == 0):
                            m.d.sync += pos.eq(0)
                            m.next = "TX_CRC"
                        with m.Else():
                            m.next = "TX_FETCH"
                send(value, after_prefix)

            with m.State("TX_FETCH"):              # read the word holding the next byte
                m.d.comb += [self.busy.eq(1), req.addr.eq(mem_word(taddr)), req.r_stb.eq(1)]
                m.next = "TX_WAIT"

            with m.State("TX_WAIT"):
                m.d.comb += self.busy.eq(1)
                m.next = "TX_WAIT2"

            with m.State("TX_WAIT2"):              # r_data is valid; r_word has it next
                m.d.comb += self.busy.eq(1)
                m.next = "TX_TAIL"

            with m.State("TX_TAIL"):               # r_data (and r_word) hold until the next read
                value = r_word.word_select(taddr[:2], 8)
                m.d.comb += [crc_in.eq(value), crc_step.eq(tx.ready)]

                def after_tail():
                    m.d.sync += [taddr.eq(taddr + 1), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.d.sync += pos.eq(0)
                        m.next = "TX_CRC"
                    with m.Elif(taddr[:2] == 3):
                        m.next = "TX_FETCH"
                send(value, after_tail)

            with m.State("TX_CRC"):
                def after_crc():
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(pos == 3):
                        m.next = "HUNT"
                send(tx_crc.word_select(pos[:2], 8), after_crc)

        with m.If(took):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.idle_cycles):
            m.d.sync += idle.eq(idle + 1)
        return m
