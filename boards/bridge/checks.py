"""The checks the bridge makes on a request before it runs it, as the virtual board makes them.

:class:`RequestCheck` is combinational: from the kind of check a request's
opcode asks for (:class:`Check`, which the executor's microprogram names),
whether its length agreed (the header's length field with the frame's, the
size with the opcode's), and its fixed fields, it gives the status the
virtual board answers (:data:`hetflow.link.protocol.STATUS`; the gateware
sends no message text).  The order of the checks is the board's: the length
first, then the opcode, then the register window, the DMA channel, the
memory range.  The comparisons of a field with a constant and
the memory range are judged a byte a cycle as the request's bytes go by
(:class:`FieldScan`, :class:`RangeScan`): an 8-bit step and a flip-flop cost
far fewer cells than a 32-bit comparator or adder.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ...link import protocol as P

__all__ = ["Check", "Span", "FieldsLayout", "ScanLayout", "RequestLayout", "FieldScan",
           "RangeScan", "RequestCheck", "STATUS_BITS"]

#: Largest RESET cycle count the virtual board takes.
RESET_MAX = 1_000_000
#: Bits of a status code (0..6).
STATUS_BITS = 3
_STATUS = {s.name: s.code for s in P.STATUS.values()}


class Check(enum.Enum, shape=3):
    """What a request is checked for besides its length, by opcode."""

    LENGTH = 0             # refused: no request header
    OPCODE = 1             # refused: no such opcode
    LENGTH_ONLY = 2        # PING, RUN, QUIT
    RESET = 3              # the cycles: not zero, at most RESET_MAX
    REGISTER = 4           # the register window
    MEMORY = 5             # the memory range
    CHANNEL = 6            # the DMA channel, then the memory range


class Span(enum.Enum, shape=2):
    """What counts the bytes of a memory request's range."""

    LENGTH = 0             # MEM_READ's ``b`` (any other request: not judged)
    DATA = 1               # MEM_WRITE's payload after its address (``size - 4``)
    BEATS = 2              # DMA_SETUP's ``b`` beats of its channel's stride


class FieldsLayout(data.StructLayout):
    """A request's fixed fields after ``DMA_SETUP``'s channel: ``a`` then ``b``.

    ``a`` is the offset, address or cycle budget's low word; ``b`` the value,
    length, beats or cycle budget's high word.
    """

    def __init__(self):
        super().__init__({"a": 32, "b": 32})


class ScanLayout(data.StructLayout):
    """What :class:`FieldScan` found in ``a``'s bytes as they went by.

    ``nonzero``: ``a != 0``; ``reset_ok``: ``a <= RESET_MAX``; ``in_window``:
    ``a`` is below the register window's size.
    """

    def __init__(self):
        super().__init__({"nonzero": 1, "reset_ok": 1, "in_window": 1})


class RequestLayout(data.StructLayout):
    """What the checks look at: a request as the executor loads it.

    ``opcode`` is the index of its routine in the executor's jump table: the
    opcode, or 0 for one above 15 (no such opcode either way).

    Parameters
    ----------
    size_bits : int
        Bits of ``size`` (signed).
    """

    def __init__(self, size_bits):
        super().__init__({"opcode": 4, "size": signed(size_bits), "length_ok": 1,
                          "channel": 8, "fields": FieldsLayout()})


class FieldScan(wiring.Component):
    """``a``'s comparisons with constants, one byte a cycle as its bytes arrive.

    A 32-bit comparison costs a tree of LUTs; a byte's costs a few, and a
    flip-flop carries the verdict of the bytes below it (least significant
    first, as the wire has them).

    Parameters
    ----------
    register_size : int
        Bytes of the register window.

    Members
    -------
    byte : In(8)
        A byte of ``a``.
    index : In(2)
        Which byte it is (0 least significant, which starts a new scan).
    step : In(1)
        Take ``byte`` this cycle.
    scan : Out(ScanLayout())
        The verdicts on the bytes taken so far (registered).
    """

    def __init__(self, *, register_size):
        self.register_size = int(register_size)
        super().__init__({"byte": In(8), "index": In(2), "step": In(1),
                          "scan": Out(ScanLayout())})

    def elaborate(self, platform):
        m = Module()
        byte, scan = self.byte, self.scan
        first = self.index == 0
        reset_max = Const(RESET_MAX, 32).word_select(self.index, 8)
        window = Const(self.register_size, 32).word_select(self.index, 8)
        with m.If(self.step):
            m.d.sync += [
                scan.nonzero.eq((byte != 0) | ~first & scan.nonzero),
                # a <= C: this byte below C's, or equal and the bytes below were <= too.
                scan.reset_ok.eq((byte < reset_max) | (byte == reset_max) & (first | scan.reset_ok)),
                # a < C: the same, strict at the bottom.
                scan.in_window.eq((byte < window) | (byte == window) & ~first & scan.in_window),
            ]
        return m


class RangeScan(wiring.Component):
    """Whether a memory request's range lies in memory, one byte a cycle.

    The range is ``a`` and a byte count ``n``: ``MEM_WRITE``'s payload after
    its address (``size - 4``), ``MEM_READ``'s ``b``, ``DMA_SETUP``'s ``b``
    beats of its channel's stride.  The virtual board's "``a <= memory_size``
    and ``n <= memory_size - a``" is ``a + n <= memory_size`` in integers,
    judged least significant byte first: each step adds a byte of ``a`` and
    the byte of ``n`` of the same weight, with the carry (and the bits a
    stride's shift pushed out of the byte below) kept for the next, and
    compares the sum's byte with the bound's, as :class:`FieldScan` does.

    Parameters
    ----------
    strides : list of int
        Bytes per beat of each DMA channel.
    memory_size : int
        Bytes of SoC memory.
    size_bits : int
        Bits of the request's signed ``size``.

    Members
    -------
    request : In(RequestLayout(size_bits))
        The request: its size and channel (its opcode and fields are not used).
    span : In(Span)
        What counts the range's bytes.
    a : In(8)
        Byte ``index`` of ``a``.
    byte : In(8)
        Byte ``index`` of ``b`` (``MEM_WRITE``'s is not used: its count is ``size``).
    index : In(2)
        Which byte (0 least significant, which starts a new scan).
    step : In(1)
        Take the bytes this cycle.
    in_memory : Out(1)
        After the four steps: the range lies in memory (registered).
    """

    def __init__(self, *, strides, memory_size, size_bits):
        self.strides = list(strides)
        self.memory_size = int(memory_size)
        super().__init__({"request": In(RequestLayout(size_bits)), "span": In(Span),
                          "a": In(8), "byte": In(8), "index": In(2), "step": In(1),
                          "in_memory": Out(1)})

    def elaborate(self, platform):
        m = Module()
        req, index = self.request, self.index
        shifts = [stride.bit_length() - 1 for stride in self.strides]
        # n's byte of this weight, shifted left by the stride's bits (those above the
        # byte belong to the next).
        n = Signal(8 + max(shifts))
        # MEM_WRITE's bound is 4 bytes higher: its size counts the address too.
        bound = Mux(self.span == Span.DATA,
                    Const(self.memory_size + P.MEM_WRITE.request_size, 32).word_select(index, 8),
                    Const(self.memory_size, 32).word_select(index, 8))
        with m.Switch(self.span):
            with m.Case(Span.DATA):
                m.d.comb += n.eq(Cat(req.size, Const(0, 32)).word_select(index, 8))
            with m.Case(Span.LENGTH):
                m.d.comb += n.eq(self.byte)
            with m.Case(Span.BEATS):
                with m.Switch(req.channel):
                    for c, shift in enumerate(shifts):
                        with m.Case(c):
                            m.d.comb += n.eq(self.byte << shift)

        first = index == 0
        carry = Signal()
        spill = Signal(len(n) - 8)            # n's bits pushed above the byte before
        fits = Signal()                       # the sum's bytes so far are <= the bound's
        total = self.a + (n[:8] | Mux(first, 0, spill)) + Mux(first, 0, carry)
        low = total[:8]
        with m.If(self.step):
            m.d.sync += [carry.eq(total[8]), spill.eq(n[8:]),
                         fits.eq((low < bound) | (low == bound) & (first | fits))]
        # Above the fourth byte the bound has no bits: a carry or a spill there is too far.
        m.d.comb += self.in_memory.eq(fits & ~carry & (spill == 0))
        return m


class RequestCheck(wiring.Component):
    """A request's status (see the module doc).

    Parameters
    ----------
    size_bits : int
        Bits of the request's signed ``size``.
    strides : list of int
        Bytes per beat of each DMA channel.

    Members
    -------
    request : In(RequestLayout(size_bits))
        The request: ``length_ok`` covers its size as its opcode wants it.
    kind : In(Check)
        What its opcode asks for.
    scan : In(ScanLayout())
        :class:`FieldScan`'s verdicts on ``a``.
    in_memory : In(1)
        :class:`RangeScan`'s verdict on the memory range.
    status : Out(STATUS_BITS)
    """

    def __init__(self, *, size_bits, strides):
        self.strides = list(strides)
        super().__init__({"request": In(RequestLayout(size_bits)), "kind": In(Check),
                          "scan": In(ScanLayout()), "in_memory": In(1),
                          "status": Out(STATUS_BITS)})

    def elaborate(self, platform):
        m = Module()
        req, kind, scan = self.request, self.kind, self.scan
        with m.If((kind == Check.LENGTH) | ~req.length_ok):
            m.d.comb += self.status.eq(_STATUS["BAD_LENGTH"])
        with m.Elif(kind == Check.OPCODE):
            m.d.comb += self.status.eq(_STATUS["BAD_OPCODE"])
        with m.Elif((kind == Check.RESET) & ~(scan.nonzero & scan.reset_ok)):
            m.d.comb += self.status.eq(_STATUS["BAD_LENGTH"])
        with m.Elif((kind == Check.REGISTER) & ~(scan.in_window & (req.fields.a[:2] == 0))):
            m.d.comb += self.status.eq(_STATUS["BAD_REGISTER"])
        with m.Elif((kind == Check.CHANNEL) & (req.channel >= len(self.strides))):
            m.d.comb += self.status.eq(_STATUS["BAD_CHANNEL"])
        with m.Elif(((kind == Check.MEMORY) | (kind == Check.CHANNEL)) & ~self.in_memory):
            m.d.comb += self.status.eq(_STATUS["BAD_ADDRESS"])
        return m
