"""The checks the bridge makes on a request before it runs it, as the virtual board makes them.

:class:`RequestCheck` is combinational: from a request's opcode, its size
(payload bytes after the request header; negative when there is no header),
whether its header's length field agreed, and its fixed fields, it gives the
status the virtual board answers (:data:`hetflow.link.protocol.STATUS`; the
gateware sends no message text).  The order of the checks is the board's:
the length first, then the opcode, then the register window, the DMA
channel, the memory range.
"""

from amaranth.hdl import Const, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ...link import protocol as P

__all__ = ["FieldsLayout", "ScanLayout", "RequestLayout", "FieldScan", "RequestCheck",
           "STATUS_BITS"]

#: Largest RESET cycle count the virtual board takes.
RESET_MAX = 1_000_000
#: Bits of a status code (0..6).
STATUS_BITS = 3
_STATUS = {s.name: s.code for s in P.STATUS.values()}


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

    Parameters
    ----------
    size_bits : int
        Bits of ``size`` (signed).
    """

    def __init__(self, size_bits):
        super().__init__({"opcode": 8, "size": signed(size_bits), "length_ok": 1,
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


class RequestCheck(wiring.Component):
    """A request's status (see the module doc).

    Parameters
    ----------
    size_bits : int
        Bits of the request's signed ``size``.
    strides : list of int
        Bytes per beat of each DMA channel.
    memory_size : int
        Bytes of SoC memory (a power of two).
    register_size : int
        Bytes of the register window.

    Members
    -------
    request : In(RequestLayout(size_bits))
    scan : In(ScanLayout())
        :class:`FieldScan`'s verdicts on ``a``.
    status : Out(STATUS_BITS)
    """

    def __init__(self, *, size_bits, strides, memory_size, register_size):
        self.strides = list(strides)
        self.memory_size = int(memory_size)
        self.register_size = int(register_size)
        super().__init__({"request": In(RequestLayout(size_bits)), "scan": In(ScanLayout()),
                          "status": Out(STATUS_BITS)})

    def elaborate(self, platform):
        m = Module()
        req = self.request
        opcode, size, channel = req.opcode, req.size, req.channel
        a, b = req.fields.a, req.fields.b
        memsize = self.memory_size
        k = memsize.bit_length() - 1                  # memory address bits
        reg_ok = self.scan.in_window & (a[:2] == 0)
        # The virtual board's "a <= memsize and n <= memsize - a", with memsize = 2**k:
        # neither has a bit above k, and their (k+2)-bit sum is at most memsize (for
        # MEM_WRITE, whose byte count is size - 4, at most memsize + 4).
        range_len = Signal(max(k + 1, len(size)))
        len_fits = Signal()                           # the byte count is at most 2**(k+1) - 1
        bound = Signal(len(range_len) + 1)
        m.d.comb += bound.eq(memsize)
        with m.Switch(opcode):
            with m.Case(P.MEM_WRITE.code):
                m.d.comb += [range_len.eq(size), len_fits.eq(1), bound.eq(memsize + 4)]
            with m.Case(P.MEM_READ.code):
                m.d.comb += [range_len.eq(b), len_fits.eq(b[k + 1:] == 0)]
            with m.Case(P.DMA_SETUP.code):
                with m.Switch(channel):
                    for c, stride in enumerate(self.strides):
                        shift = stride.bit_length() - 1
                        with m.Case(c):
                            m.d.comb += [range_len.eq(b << shift),
                                         len_fits.eq(b[max(k + 1 - shift, 0):] == 0)]
        in_memory = (a[k + 1:] == 0) & len_fits & (a[:k + 1] + range_len <= bound)
        with m.If((size < 0) | ~req.length_ok):
            m.d.comb += self.status.eq(_STATUS["BAD_LENGTH"])
        with m.Else():
            with m.Switch(opcode):
                for op, want, extra in (
                        (P.PING, size == 0, []),
                        (P.RESET, (size == 4) & self.scan.nonzero & self.scan.reset_ok, []),
                        (P.REG_WRITE, size == 8, [(~reg_ok, "BAD_REGISTER")]),
                        (P.REG_READ, size == 4, [(~reg_ok, "BAD_REGISTER")]),
                        (P.MEM_WRITE, size >= 4, [(~in_memory, "BAD_ADDRESS")]),
                        (P.MEM_READ, size == 8, [(~in_memory, "BAD_ADDRESS")]),
                        (P.DMA_SETUP, size == 9,
                         [(channel >= len(self.strides), "BAD_CHANNEL"),
                          (~in_memory, "BAD_ADDRESS")]),
                        (P.RUN, size == 8, []),
                        (P.QUIT, size == 0, [])):
                    with m.Case(op.code):
                        with m.If(~want):
                            m.d.comb += self.status.eq(_STATUS["BAD_LENGTH"])
                        for bad, name in extra:
                            with m.Elif(bad):
                                m.d.comb += self.status.eq(_STATUS[name])
                with m.Default():
                    m.d.comb += self.status.eq(_STATUS["BAD_OPCODE"])
        return m
