"""The checks the bridge makes on a request before it runs it, as the virtual board makes them.

:class:`RequestCheck` is combinational: from a request's opcode, its size
(payload bytes after the request header; negative when there is no header),
whether its header's length field agreed, and its fixed fields, it gives the
status the virtual board answers (:data:`hetflow.link.protocol.STATUS`; the
gateware sends no message text).  The order of the checks is the board's:
the length first, then the opcode, then the register window, the DMA
channel, the memory range.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ...link import protocol as P

__all__ = ["FieldsLayout", "RequestLayout", "RequestCheck", "STATUS_BITS"]

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
    status : Out(STATUS_BITS)
    """

    def __init__(self, *, size_bits, strides, memory_size, register_size):
        self.strides = list(strides)
        self.memory_size = int(memory_size)
        self.register_size = int(register_size)
        super().__init__({"request": In(RequestLayout(size_bits)), "status": Out(STATUS_BITS)})

    def elaborate(self, platform):
        m = Module()
        req = self.request
        opcode, size, channel = req.opcode, req.size, req.channel
        a, b = req.fields.a, req.fields.b
        memsize = self.memory_size
        k = memsize.bit_length() - 1                  # memory address bits
        reg_ok = (a < self.register_size) & (a[:2] == 0)
        # memsize is 2**k: "a + n <= memsize" is no bits at or above k in either, and a
        # narrow sum; MEM_WRITE's byte count is size - 4, so its bound is 4 more.
        range_len = Signal(max(k, len(size)))
        len_fits = Signal()                           # the byte count is below 2**k
        bound = Signal(len(range_len) + 1)
        m.d.comb += bound.eq(memsize)
        with m.Switch(opcode):
            with m.Case(P.MEM_WRITE.code):
                m.d.comb += [range_len.eq(size), len_fits.eq(1), bound.eq(memsize + 4)]
            with m.Case(P.MEM_READ.code):
                m.d.comb += [range_len.eq(b), len_fits.eq(b[k:] == 0)]
            with m.Case(P.DMA_SETUP.code):
                with m.Switch(channel):
                    for c, stride in enumerate(self.strides):
                        shift = stride.bit_length() - 1
                        with m.Case(c):
                            m.d.comb += [range_len.eq(b << shift),
                                         len_fits.eq(b[max(k - shift, 0):] == 0)]
        in_memory = (a[k:] == 0) & len_fits & (a[:k] + range_len <= bound)
        with m.If((size < 0) | ~req.length_ok):
            m.d.comb += self.status.eq(_STATUS["BAD_LENGTH"])
        with m.Else():
            with m.Switch(opcode):
                for op, want, extra in (
                        (P.PING, size == 0, []),
                        (P.RESET, (size == 4) & (a != 0) & (a <= RESET_MAX), []),
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
