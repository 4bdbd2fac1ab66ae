"""The AXI wrapper RTL: a kernel behind AXI4-Lite control and AXI4-Stream data ports."""

from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...hw.overlay.fabric import StreamFIFO
from .constants import AXI_OKAY, AXI_SLVERR
from .layout import AxiLayout


class AxiKernel(wiring.Component):
    """A hetflow kernel behind AXI4-Lite control and AXI4-Stream data ports.

    Ports (flat, named for Vivado's interface inference): ``ap_clk``,
    ``ap_rst_n``; ``s_axi_control_{aw,w,b,ar,r}*`` (32-bit data, no PROT);
    ``s_axis_<port>_{tdata,tvalid,tready,tlast}`` per input (TLAST is
    accepted and ignored: the ``len`` register defines a job);
    ``m_axis_<port>_{tdata,tvalid,tready,tlast}`` per output.

    The AXI-Lite slave takes AW and W independently (in either order, one of
    each buffered), performs the write on the kernel's register bus once it
    has both and its B response has been accepted, and holds BVALID/RVALID
    until taken.  Reads take two cycles on the register bus (strobe, then
    data).  Every AXI-Lite output is driven from a register, so none depends
    combinationally on an input.  When a write and a read are both ready to
    go in the same cycle the write goes first; the read goes in the next
    cycle, since the next write waits for the B handshake.  The stream
    handshakes are the kernel's own (a kernel's TREADY may depend on TVALID,
    which AXI4-Stream allows).

    A chained output of an overlay instance (``layout.chained``) goes through
    the stream's FIFO (:class:`~hetflow.hw.overlay.fabric.StreamFIFO`, the
    overlay's depth) to ``m_axis_<port>``, with TLAST low: it feeds another
    instance's ``s_axis_<port>``, which ignores TLAST, as every input does.

    Parameters
    ----------
    kernel : Kernel
        The kernel instance to wrap.
    layout : AxiLayout, optional
        The wrapper's layout; default a single kernel's (``AxiLayout(kernel_cls, p)``).
    """

    def __init__(self, kernel, layout=None):
        self.kernel = kernel
        self.layout = layout = layout or AxiLayout(kernel.kernel_cls, kernel.p)
        a = layout.addr_width
        members = {
            "ap_clk": In(1), "ap_rst_n": In(1),
            "s_axi_control_awaddr": In(a), "s_axi_control_awvalid": In(1),
            "s_axi_control_awready": Out(1),
            "s_axi_control_wdata": In(32), "s_axi_control_wstrb": In(4),
            "s_axi_control_wvalid": In(1), "s_axi_control_wready": Out(1),
            "s_axi_control_bresp": Out(2), "s_axi_control_bvalid": Out(1),
            "s_axi_control_bready": In(1),
            "s_axi_control_araddr": In(a), "s_axi_control_arvalid": In(1),
            "s_axi_control_arready": Out(1),
            "s_axi_control_rdata": Out(32), "s_axi_control_rresp": Out(2),
            "s_axi_control_rvalid": Out(1), "s_axi_control_rready": In(1),
        }
        for s in layout.streams:
            inward = s.direction == "in"
            members[f"{s.axis}_tdata"] = In(s.tdata_width) if inward else Out(s.tdata_width)
            members[f"{s.axis}_tvalid"] = In(1) if inward else Out(1)
            members[f"{s.axis}_tready"] = Out(1) if inward else In(1)
            members[f"{s.axis}_tlast"] = In(1) if inward else Out(1)
        super().__init__(members)
        self._out_beats_regs = [Signal(32, name=f"out_beats_{s.port.name}")
                                for s in layout.outputs]

    def _port(self, name):
        return getattr(self, name)

    def _decode(self, m, addr, tag):
        """Comb decode of byte address ``addr``: (hits a kernel register, one-hot wrapper regs)."""
        layout = self.layout
        hit_kernel = Signal(name=f"{tag}_hit_kernel")
        hit_local = Signal(max(1, len(layout.outputs)), name=f"{tag}_hit_local")
        base_word = layout.regmap.size >> 2
        with m.Switch(addr[2:]):
            with m.Case(*layout.kernel_words()):
                m.d.comb += hit_kernel.eq(1)
            for i in range(len(layout.outputs)):
                with m.Case(base_word + i):
                    m.d.comb += hit_local[i].eq(1)
        return hit_kernel, hit_local

    def elaborate(self, platform):
        m = Module()
        layout = self.layout
        p = self._port

        # The sync domain is this IP's: clocked by ap_clk, reset (synchronously) by
        # ap_rst_n low, as Vivado's proc_sys_reset delivers it.
        m.domains.sync = cd = ClockDomain("sync", local=True)
        m.d.comb += [cd.clk.eq(self.ap_clk), cd.rst.eq(~self.ap_rst_n)]

        m.submodules.kernel = kernel = self.kernel
        csr = kernel.csr
        kaw = layout.regmap.addr_width
        a = layout.addr_width

        # ---- AXI4-Lite: one-entry buffers per channel ----
        aw_full = Signal()
        aw_addr = Signal(a)
        w_full = Signal()
        w_data = Signal(32)
        w_strb = Signal(4)
        ar_full = Signal()
        ar_addr = Signal(a)
        b_valid = Signal()
        b_resp = Signal(2)
        r_valid = Signal()
        r_resp = Signal(2)
        r_data = Signal(32)
        rd_wait = Signal()      # read strobed on the register bus, data next cycle
        rd_kernel = Signal()
        rd_resp = Signal(2)
        rd_local = Signal(32)

        m.d.comb += [
            p("s_axi_control_awready").eq(~aw_full),
            p("s_axi_control_wready").eq(~w_full),
            p("s_axi_control_arready").eq(~ar_full),
            p("s_axi_control_bvalid").eq(b_valid),
            p("s_axi_control_bresp").eq(b_resp),
            p("s_axi_control_rvalid").eq(r_valid),
            p("s_axi_control_rresp").eq(r_resp),
            p("s_axi_control_rdata").eq(r_data),
        ]
        with m.If(p("s_axi_control_awvalid") & ~aw_full):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(p("s_axi_control_awaddr"))]
        with m.If(p("s_axi_control_wvalid") & ~w_full):
            m.d.sync += [w_full.eq(1), w_data.eq(p("s_axi_control_wdata")),
                         w_strb.eq(p("s_axi_control_wstrb"))]
        with m.If(p("s_axi_control_arvalid") & ~ar_full):
            m.d.sync += [ar_full.eq(1), ar_addr.eq(p("s_axi_control_araddr"))]

        aw_kernel, aw_local = self._decode(m, aw_addr, "aw")
        ar_kernel, ar_local = self._decode(m, ar_addr, "ar")

        do_write = aw_full & w_full & ~b_valid
        do_read = ar_full & ~r_valid & ~rd_wait & ~do_write
        full_word = w_strb == 0b1111
        no_bytes = w_strb == 0
        write_ok = (aw_kernel | aw_local.any()) & (full_word | no_bytes)

        # The register bus has one address: the write uses it in the cycle it fires,
        # the read strobe otherwise.
        m.d.comb += [
            csr.addr.eq(Mux(do_write, aw_addr[2:2 + kaw], ar_addr[2:2 + kaw])),
            csr.w_data.eq(w_data),
            csr.w_stb.eq(do_write & aw_kernel & full_word),
            csr.r_stb.eq(do_read & ar_kernel),
        ]

        with m.If(do_write):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), b_valid.eq(1),
                         b_resp.eq(Mux(write_ok, AXI_OKAY, AXI_SLVERR))]
        with m.Elif(b_valid & p("s_axi_control_bready")):
            m.d.sync += b_valid.eq(0)

        with m.If(r_valid & p("s_axi_control_rready")):
            m.d.sync += r_valid.eq(0)
        with m.If(do_read):
            local_value = 0
            for i in range(len(layout.outputs)):
                local_value = Mux(ar_local[i], self._out_beats(i), local_value)
            m.d.sync += [rd_wait.eq(1), rd_kernel.eq(ar_kernel), rd_local.eq(local_value),
                         rd_resp.eq(Mux(ar_kernel | ar_local.any(), AXI_OKAY, AXI_SLVERR))]
        with m.If(rd_wait):
            # csr.r_data holds the value from the cycle after the strobe.
            m.d.sync += [rd_wait.eq(0), ar_full.eq(0), r_valid.eq(1), r_resp.eq(rd_resp),
                         r_data.eq(Mux(rd_kernel, csr.r_data, rd_local))]

        # ---- AXI4-Stream inputs (a DMA's or a chained instance's) ----
        for s in (s for s in layout.streams if s.direction == "in"):
            k = getattr(kernel, s.port.name)
            m.d.comb += [k.payload.eq(p(f"{s.axis}_tdata")[:s.port.width]),
                         k.valid.eq(p(f"{s.axis}_tvalid")),
                         p(f"{s.axis}_tready").eq(k.ready)]

        # ---- AXI4-Stream outputs, TLAST from the out_beats registers ----
        for i, s in enumerate(layout.outputs):
            k = getattr(kernel, s.port.name)
            out_beats = self._out_beats(i)
            count = Signal(32, name=f"count_{s.port.name}")
            last = Signal(name=f"last_{s.port.name}")
            m.d.comb += [last.eq(count + 1 >= out_beats),
                         p(f"{s.axis}_tdata").eq(k.payload),
                         p(f"{s.axis}_tvalid").eq(k.valid),
                         p(f"{s.axis}_tlast").eq(last),
                         k.ready.eq(p(f"{s.axis}_tready"))]
            with m.If(k.valid & k.ready):
                m.d.sync += count.eq(Mux(last, 0, count + 1))
            # A host write of out_beats starts a new count (takes precedence).
            with m.If(do_write & aw_local[i] & full_word):
                m.d.sync += [out_beats.eq(w_data), count.eq(0)]

        # ---- chained outputs: the stream's FIFO, then the next instance ----
        for s in (s for s in layout.streams if s.direction == "out" and s.chained):
            k = getattr(kernel, s.port.name)
            fifo = StreamFIFO(k.payload.shape(), k.payload.shape(), s.fifo_depth)
            m.submodules[f"fifo_{s.port.name}"] = fifo
            wiring.connect(m, k, fifo.w)
            m.d.comb += [p(f"{s.axis}_tdata").eq(fifo.r.payload.as_value()),
                         p(f"{s.axis}_tvalid").eq(fifo.r.valid),
                         p(f"{s.axis}_tlast").eq(0),
                         fifo.r.ready.eq(p(f"{s.axis}_tready"))]
        return m

    def _out_beats(self, i):
        return self._out_beats_regs[i]


def verilog_text(kernel, layout=None):
    """Verilog of ``kernel`` (an instance) wrapped in :class:`AxiKernel`."""
    wrapper = AxiKernel(kernel, layout)
    return verilog.convert(wrapper, name=wrapper.layout.top, emit_src=False)
