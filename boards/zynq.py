"""Zynq / PYNQ export: a kernel as an AXI IP, the Vivado scripts, the host driver metadata.

``hetflow export KERNEL --format pynq-ip --board pynq-z2 --out DIR`` calls
:func:`export_pynq_ip`, which writes into ``DIR``:

``hetflow_<kernel>_axi.v``
    The kernel inside :class:`AxiKernel`: an AXI4-Lite slave ``s_axi_control``
    for its registers and one AXI4-Stream port per kernel stream
    (``s_axis_<port>`` in, ``m_axis_<port>`` out), clock ``ap_clk``, reset
    ``ap_rst_n`` (active low, synchronous) -- the names Vivado's IP packager
    infers interfaces from.
``package_ip.tcl``
    Vivado: packages the Verilog as IP ``hetflow:hetflow:hetflow_<kernel>_axi:1.0``.
``build_overlay.tcl``
    Vivado: a block design with the Zynq PS7, one AXI DMA (simple mode) per
    pair of kernel streams, the kernel IP, an AXI interconnect for control and
    a SmartConnect to the PS's HP0 port; synthesis, implementation, bitstream;
    copies ``hetflow_<kernel>.bit`` and ``.hwh`` next to the script.
``hetflow_driver.json``
    What the ``pynq`` host backend needs: register map, AXI-Lite window,
    stream -> DMA channel, widths, the ``out_beats`` registers.
``README.md``
    How to run the scripts, and the job protocol.

Vivado is proprietary and does not run where hetflow is developed and
tested.  Everything up to Vivado is tested here: the AXI wrapper is verified
in cocotb with cocotbext-axi against the golden models (:func:`verify_axi`,
driving ``hetflow.sim.axi_bench``), and the generated Tcl is checked for
syntax and for names; the Tcl itself has never been run by Vivado.

The wrapper's address map
-------------------------
The kernel's own registers (:class:`~hetflow.hw.regmap.RegisterMap`) keep
their byte offsets.  Above the kernel window (at ``regmap.size``) the
wrapper adds one register per output stream, ``out_beats_<port>`` (rw): the
number of beats the next job produces on that stream.  The wrapper counts
output beats and raises TLAST on the last one, which is what ends an AXI DMA
S2MM transfer.  The host writes it before starting each job (the kernel's
``output_length`` for the call, in beats); writing it also restarts the
count, so a host can resynchronise after an abandoned job.  0 and 1 both
mean that every beat is the last of its packet.

Any other address in the window answers SLVERR (reads return 0, writes have
no effect), as does a write whose WSTRB is not all ones: the kernel's
register bus has no byte enables, and a silent full-word write of a partial
update would corrupt the other bytes.  A write with WSTRB = 0 is a no-op
answered OKAY.  Writes to read-only registers and reads of write-only ones
are OKAY and follow the shell (ignored, read as 0); so are writes while the
kernel is busy, which the shell ignores.
"""

import json
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..hw.errors import HetflowError
from ..hw.job import pack_beats, unpack_beats
from ..hw.registry import get_kernel

__all__ = ["AxiKernel", "AxiLayout", "Stream", "ZYNQ_BOARDS", "ExportError", "export_pynq_ip",
           "verilog_text", "package_ip_tcl", "build_overlay_tcl", "driver_metadata",
           "verify_axi", "AxiVerifyResult", "AxiSimulationError", "AXI_OKAY", "AXI_SLVERR",
           "VIVADO_NOTE"]

AXI_OKAY = 0b00
AXI_SLVERR = 0b10

#: The Zynq boards the export knows: board name -> FPGA part and Vivado board-part pattern.
ZYNQ_BOARDS = {
    "pynq-z1": {"part": "xc7z020clg400-1", "board_part": "*:pynq-z1:part0:*",
                "vendor": "Digilent"},
    "pynq-z2": {"part": "xc7z020clg400-1", "board_part": "*:pynq-z2:part0:*",
                "vendor": "TUL"},
}

#: Default PL clock (FCLK_CLK0) and the range the PS7 clock generator can give the fabric.
DEFAULT_MHZ = 100.0
MHZ_RANGE = (10.0, 250.0)

#: Smallest AXI-Lite address width: Vivado's address editor maps at least 4 KiB per slave.
MIN_ADDR_WIDTH = 12

#: Stream widths the AXI DMA supports (c_m_axis_mm2s_tdata_width / c_s_axis_s2mm_tdata_width).
DMA_STREAM_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)

#: Width of the DMA's buffer-length register: 26 bits (64 MiB - 1) instead of PYNQ's 14 (16 KiB).
DMA_LENGTH_WIDTH = 26

IP_VENDOR = "hetflow"
IP_LIBRARY = "hetflow"
IP_VERSION = "1.0"

VIVADO_NOTE = ("Vivado is proprietary and does not run where hetflow is developed and tested: "
               "this file was generated and checked (syntax, names) but never run by Vivado.")

DRIVER_FORMAT = "hetflow-pynq-driver"
DRIVER_VERSION = 1


class ExportError(HetflowError, ValueError):
    """A bad board, frequency, output directory or kernel for the Zynq export."""


# ---- layout: what the wrapper looks like from outside --------------------------------------


def tdata_width(bits):
    """Width of the TDATA that carries a ``bits``-wide payload.

    Padded to whole bytes (AXI4-Stream) and further to a width the AXI DMA
    supports (a power of two, 8..1024), so that a DMA connects without a
    width converter; the padding bits of a beat are zero (out) or ignored (in).
    """
    for w in DMA_STREAM_WIDTHS:
        if bits <= w:
            return w
    raise ExportError(f"a {bits}-bit stream is wider than the AXI DMA allows "
                      f"({DMA_STREAM_WIDTHS[-1]} bits); use fewer lanes")


@dataclass(frozen=True)
class Stream:
    """One kernel stream as an AXI4-Stream interface and the DMA channel that serves it.

    Attributes
    ----------
    port : Port
        The kernel's port description.
    direction : str
        ``"in"`` (host memory -> kernel, DMA MM2S) or ``"out"`` (kernel -> memory, S2MM).
    axis : str
        Interface name: ``s_axis_<port>`` or ``m_axis_<port>``.
    tdata_width : int
        TDATA bits (payload ``port.width`` bits, zero-padded).
    dma : str
        Block-design instance name of the AXI DMA.
    channel : str
        PYNQ's name for the DMA channel: ``"sendchannel"`` or ``"recvchannel"``.
    out_beats_offset : int or None
        Byte offset of the ``out_beats_<port>`` register (outputs only).
    """

    port: object
    direction: str
    axis: str
    tdata_width: int
    dma: str
    channel: str
    out_beats_offset: int = None

    @property
    def beat_bytes(self):
        return self.tdata_width // 8

    @property
    def out_beats_register(self):
        return f"out_beats_{self.port.name}" if self.direction == "out" else None


class AxiLayout:
    """Address map and interfaces of the AXI wrapper of one kernel instance.

    Parameters
    ----------
    kernel_cls : Kernel subclass
    params : Params
        Bound elaboration parameters (``kernel_cls.bind(...)``).
    """

    def __init__(self, kernel_cls, params):
        self.kernel_cls = kernel_cls
        self.params = params
        self.name = kernel_cls.name
        self.regmap = kernel_cls.regmap(params)
        self.top = f"hetflow_{self.name}_axi"
        self.instance = f"hetflow_{self.name}_0"
        self.overlay = f"hetflow_{self.name}"
        self.vlnv = f"{IP_VENDOR}:{IP_LIBRARY}:{self.top}:{IP_VERSION}"
        ins, outs = kernel_cls.inputs(params), kernel_cls.outputs(params)
        # The engine assignment of the pynq backend (hetflow.backends.pynq.dma_plan):
        # engine i feeds input i; the outputs return on the last engines.
        n = max(len(ins), len(outs))
        self.dmas = [f"axi_dma_{i}" for i in range(n)]
        streams = []
        for i, port in enumerate(ins):
            streams.append(Stream(port, "in", f"s_axis_{port.name}", tdata_width(port.width),
                                  self.dmas[i], "sendchannel"))
        base = self.regmap.size
        for j, port in enumerate(outs):
            streams.append(Stream(port, "out", f"m_axis_{port.name}", tdata_width(port.width),
                                  self.dmas[n - len(outs) + j], "recvchannel", base + 4 * j))
        self.streams = tuple(streams)
        end = base + 4 * len(outs)
        self.addr_width = max(MIN_ADDR_WIDTH, (end - 1).bit_length())
        self.window = 1 << self.addr_width

    @property
    def inputs(self):
        return tuple(s for s in self.streams if s.direction == "in")

    @property
    def outputs(self):
        return tuple(s for s in self.streams if s.direction == "out")

    def kernel_words(self):
        """Word addresses of every register of the kernel's own map."""
        return sorted((r.offset >> 2) + i for r in self.regmap for i in range(r.count))

    def dma_channels(self, dma):
        """``(mm2s stream or None, s2mm stream or None)`` of DMA instance ``dma``."""
        mm2s = next((s for s in self.inputs if s.dma == dma), None)
        s2mm = next((s for s in self.outputs if s.dma == dma), None)
        return mm2s, s2mm


# ---- the wrapper RTL -----------------------------------------------------------------------


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

    Parameters
    ----------
    kernel : Kernel
        The kernel instance to wrap.
    """

    def __init__(self, kernel):
        self.kernel = kernel
        self.layout = layout = AxiLayout(type(kernel), kernel.p)
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
        m.domains.sync = cd = ClockDomain("sync")
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

        # ---- AXI4-Stream inputs ----
        for s in layout.inputs:
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
        return m

    def _out_beats(self, i):
        return self._out_beats_regs[i]


def verilog_text(kernel):
    """Verilog of ``kernel`` (an instance) wrapped in :class:`AxiKernel`."""
    wrapper = AxiKernel(kernel)
    return verilog.convert(wrapper, name=wrapper.layout.top, emit_src=False)


# ---- Vivado Tcl ----------------------------------------------------------------------------


def _tcl_header(layout, what, board, params):
    ps = " ".join(f"{k}={v}" for k, v in params.items()) or "default parameters"
    return "\n".join([
        f"# {what}",
        f"# hetflow kernel '{layout.name}' ({ps}), board {board} "
        f"({ZYNQ_BOARDS[board]['part']}). Generated by hetflow; do not edit.",
        "#",
        "# " + VIVADO_NOTE,
        "# What was tested instead: the AXI-wrapped kernel in cocotb (cocotbext-axi, Verilator)",
        "# against the golden model, and this script's Tcl syntax and block-design names.",
        "",
    ])


def package_ip_tcl(layout, board, params):
    """``package_ip.tcl``: package the wrapper Verilog as a Vivado IP (``DIR/ip``)."""
    part = ZYNQ_BOARDS[board]["part"]
    lines = [_tcl_header(layout, "package_ip.tcl: package the kernel as Vivado IP.", board,
                         params),
             "# Usage: vivado -mode batch -source package_ip.tcl",
             f"# Result: the IP {layout.vlnv} in ip/ next to this script.",
             "",
             "set here [file dirname [file normalize [info script]]]",
             f"set top {layout.top}",
             f"set part {part}",
             "set ip_dir [file join $here ip]",
             "file delete -force $ip_dir [file join $here ip_project]",
             "create_project -force ${top}_ip [file join $here ip_project] -part $part",
             "add_files -norecurse [file join $here ${top}.v]",
             "set_property top $top [current_fileset]",
             "update_compile_order -fileset sources_1",
             "",
             "ipx::package_project -root_dir $ip_dir -import_files -set_current true "
             f"-vendor {IP_VENDOR} -library {IP_LIBRARY} -taxonomy /hetflow",
             "set core [ipx::current_core]",
             f"set_property name {layout.top} $core",
             f"set_property version {IP_VERSION} $core",
             f"set_property display_name {{hetflow {layout.name}}} $core",
             f"set_property description {{hetflow kernel {layout.name} "
             f"({' '.join(f'{k}={v}' for k, v in params.items()) or 'default parameters'}) "
             f"with AXI4-Lite control and AXI4-Stream data}} $core",
             "set_property supported_families {zynq Production} $core",
             "",
             "# The elaboration parameters, fixed, as IP parameters: they reach the .hwh, where",
             "# the pynq backend checks them against the kernel a script asks for.",
             "foreach {name value} {"
             + " ".join(f"HETFLOW_{k.upper()} {v}" for k, v in params.items()) + "} {",
             "    set up [ipx::add_user_parameter $name $core]",
             "    set_property value_resolve_type user $up",
             "    set_property value_format long $up",
             "    set_property value $value $up",
             "    set_property enablement_value false $up",
             "}",
             "",
             "# Interfaces are inferred from the port names; infer again in case the packager",
             "# left any out, then tie them to the clock and declare the reset active-low.",
             "foreach vlnv {xilinx.com:interface:aximm_rtl:1.0 xilinx.com:interface:axis_rtl:1.0",
             "              xilinx.com:signal:clock_rtl:1.0 xilinx.com:signal:reset_rtl:1.0} {",
             "    ipx::infer_bus_interfaces $vlnv $core",
             "}",
             "set busifs [list s_axi_control"
             + "".join(f" {s.axis}" for s in layout.streams) + "]",
             "foreach busif $busifs {",
             "    if {[llength [ipx::get_bus_interfaces $busif -of_objects $core]] == 0} {",
             "        error \"interface $busif was not inferred from the port names\"",
             "    }",
             "}",
             "foreach busif $busifs {",
             "    ipx::associate_bus_interfaces -busif $busif -clock ap_clk $core",
             "}",
             "set rst [ipx::get_bus_interfaces ap_rst_n -of_objects $core]",
             "set pol [ipx::get_bus_parameters POLARITY -of_objects $rst]",
             "if {[llength $pol] == 0} { set pol [ipx::add_bus_parameter POLARITY $rst] }",
             "set_property value ACTIVE_LOW $pol",
             "",
             "# The AXI-Lite register window: "
             f"{layout.window} bytes (kernel registers at 0..0x{layout.regmap.size - 1:x}, "
             "out_beats registers above).",
             "set ctrl [ipx::get_bus_interfaces s_axi_control -of_objects $core]",
             "set mmap [ipx::get_memory_maps s_axi_control -of_objects $core]",
             "if {[llength $mmap] == 0} {",
             "    set mmap [ipx::add_memory_map s_axi_control $core]",
             "    set_property slave_memory_map_ref s_axi_control $ctrl",
             "}",
             "set block [ipx::get_address_blocks reg0 -of_objects $mmap]",
             "if {[llength $block] == 0} { set block [ipx::add_address_block reg0 $mmap] }",
             f"set_property range {layout.window} $block",
             "set_property width 32 $block",
             "",
             "ipx::create_xgui_files $core",
             "ipx::update_checksums $core",
             "ipx::check_integrity $core",
             "ipx::save_core $core",
             "close_project",
             f"puts \"hetflow: packaged {layout.vlnv} in $ip_dir\"",
             ""]
    return "\n".join(lines)


def _dma_config(layout, dma):
    mm2s, s2mm = layout.dma_channels(dma)
    cfg = [("c_include_sg", 0), ("c_sg_include_stscntrl_strm", 0),
           ("c_sg_length_width", DMA_LENGTH_WIDTH),
           ("c_include_mm2s", int(mm2s is not None)), ("c_include_s2mm", int(s2mm is not None))]
    if mm2s is not None:
        cfg += [("c_m_axis_mm2s_tdata_width", mm2s.tdata_width),
                ("c_m_axi_mm2s_data_width", max(32, mm2s.tdata_width)),
                ("c_include_mm2s_dre", 0), ("c_mm2s_burst_size", 16)]
    if s2mm is not None:
        cfg += [("c_s_axis_s2mm_tdata_width", s2mm.tdata_width),
                ("c_m_axi_s2mm_data_width", max(32, s2mm.tdata_width)),
                ("c_include_s2mm_dre", 0), ("c_s2mm_burst_size", 16)]
    return " ".join(f"CONFIG.{k} {{{v}}}" for k, v in cfg)


def build_overlay_tcl(layout, board, params, freq_mhz):
    """``build_overlay.tcl``: block design, bitstream, ``.bit`` + ``.hwh`` for PYNQ."""
    info = ZYNQ_BOARDS[board]
    ps, rst, ic, sc, k = ("processing_system7_0", "rst_ps7_0", "ctrl_interconnect",
                          "mem_smartconnect", layout.instance)
    n_mi = 1 + len(layout.dmas)
    mm_masters = []
    for dma in layout.dmas:
        mm2s, s2mm = layout.dma_channels(dma)
        if mm2s is not None:
            mm_masters.append(f"{dma}/M_AXI_MM2S")
        if s2mm is not None:
            mm_masters.append(f"{dma}/M_AXI_S2MM")

    clk_pins = [f"{ps}/M_AXI_GP0_ACLK", f"{ps}/S_AXI_HP0_ACLK", f"{rst}/slowest_sync_clk",
                f"{k}/ap_clk", f"{ic}/ACLK", f"{ic}/S00_ACLK", f"{sc}/aclk"]
    clk_pins += [f"{ic}/M{i:02d}_ACLK" for i in range(n_mi)]
    rstn_pins = [f"{k}/ap_rst_n", f"{ic}/S00_ARESETN", f"{sc}/aresetn"]
    rstn_pins += [f"{ic}/M{i:02d}_ARESETN" for i in range(n_mi)]
    for dma in layout.dmas:
        mm2s, s2mm = layout.dma_channels(dma)
        clk_pins.append(f"{dma}/s_axi_lite_aclk")
        if mm2s is not None:
            clk_pins.append(f"{dma}/m_axi_mm2s_aclk")
        if s2mm is not None:
            clk_pins.append(f"{dma}/m_axi_s2mm_aclk")
        rstn_pins.append(f"{dma}/axi_resetn")

    def pins(names):
        return " ".join(f"[get_bd_pins {n}]" for n in names)

    L = [_tcl_header(layout, "build_overlay.tcl: the PYNQ overlay (block design -> .bit + .hwh).",
                     board, params),
         "# Usage: vivado -mode batch -source package_ip.tcl",
         "#        vivado -mode batch -source build_overlay.tcl",
         f"# Result: {layout.overlay}.bit and {layout.overlay}.hwh next to this script;",
         f"# on the board: pynq.Overlay(\"{layout.overlay}.bit\"). Board files for {board}",
         "# must be installed in Vivado (or HETFLOW_BOARD_REPO set to a directory holding them).",
         "# HETFLOW_VIVADO_JOBS sets the number of parallel jobs (default 2).",
         "",
         "set here [file dirname [file normalize [info script]]]",
         f"set overlay {layout.overlay}",
         f"set part {info['part']}",
         f"set fclk_mhz {freq_mhz:g}",
         "set jobs 2",
         "if {[info exists ::env(HETFLOW_VIVADO_JOBS)]} { set jobs $::env(HETFLOW_VIVADO_JOBS) }",
         "set proj_dir [file join $here overlay_project]",
         "",
         "if {![file exists [file join $here ip component.xml]]} {",
         "    error \"hetflow: [file join $here ip component.xml] is missing; "
         "run package_ip.tcl first\"",
         "}",
         "if {[info exists ::env(HETFLOW_BOARD_REPO)]} {",
         "    set_param board.repoPaths [list $::env(HETFLOW_BOARD_REPO)]",
         "}",
         f"set board_part [lindex [lsort [get_board_parts -quiet {info['board_part']}]] end]",
         "if {$board_part eq \"\"} {",
         f"    error \"hetflow: no Vivado board files for {board} ({info['board_part']}); "
         "install them or set HETFLOW_BOARD_REPO\"",
         "}",
         "",
         "create_project -force ${overlay}_overlay $proj_dir -part $part",
         "set_property board_part $board_part [current_project]",
         "set_property ip_repo_paths [list [file join $here ip]] [current_project]",
         "update_ip_catalog",
         "create_bd_design $overlay",
         "",
         "# The Zynq PS with the board's preset (DDR, MIO), GP0 for control, HP0 for the DMAs.",
         f"set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 {ps}]",
         "apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 "
         "-config {make_external \"FIXED_IO, DDR\" apply_board_preset \"1\" "
         "Master \"Disable\" Slave \"Disable\"} $ps",
         "set_property -dict [list CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz "
         "CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_USE_S_AXI_HP0 {1} "
         "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64}] $ps",
         "",
         "# The kernel IP (package_ip.tcl).",
         f"set kernel [create_bd_cell -type ip -vlnv {layout.vlnv} {k}]",
         "",
         f"# AXI DMAs in simple mode (no scatter-gather), {DMA_LENGTH_WIDTH}-bit length "
         "registers, stream widths of the kernel's ports.",
         ]
    for dma in layout.dmas:
        mm2s, s2mm = layout.dma_channels(dma)
        what = ", ".join(filter(None, [
            f"MM2S -> {mm2s.axis} ({mm2s.tdata_width} bits)" if mm2s else None,
            f"S2MM <- {s2mm.axis} ({s2mm.tdata_width} bits)" if s2mm else None]))
        L += [f"# {dma}: {what}",
              f"set {dma} [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 {dma}]",
              f"set_property -dict [list {_dma_config(layout, dma)}] ${dma}"]
    L += ["",
          "# Reset, control interconnect (GP0 -> kernel + DMA registers), memory SmartConnect.",
          f"set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 {rst}]",
          f"set ic [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect:2.1 {ic}]",
          f"set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{{n_mi}}}] $ic",
          f"set sc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 {sc}]",
          f"set_property -dict [list CONFIG.NUM_SI {{{len(mm_masters)}}} "
          "CONFIG.NUM_MI {1}] $sc",
          "",
          "# One clock (FCLK_CLK0) and one reset for everything.",
          f"connect_bd_net [get_bd_pins {ps}/FCLK_CLK0] {pins(clk_pins)}",
          f"connect_bd_net [get_bd_pins {ps}/FCLK_RESET0_N] [get_bd_pins {rst}/ext_reset_in]",
          f"connect_bd_net [get_bd_pins {rst}/peripheral_aresetn] {pins(rstn_pins)}",
          f"connect_bd_net [get_bd_pins {rst}/interconnect_aresetn] [get_bd_pins {ic}/ARESETN]",
          "",
          "# Control: M00 is the kernel, M01.. the DMAs' register ports.",
          f"connect_bd_intf_net [get_bd_intf_pins {ps}/M_AXI_GP0] "
          f"[get_bd_intf_pins {ic}/S00_AXI]",
          f"connect_bd_intf_net [get_bd_intf_pins {ic}/M00_AXI] "
          f"[get_bd_intf_pins {k}/s_axi_control]"]
    for i, dma in enumerate(layout.dmas, start=1):
        L.append(f"connect_bd_intf_net [get_bd_intf_pins {ic}/M{i:02d}_AXI] "
                 f"[get_bd_intf_pins {dma}/S_AXI_LITE]")
    L += ["", "# Memory: every DMA master through the SmartConnect to HP0."]
    for i, master in enumerate(mm_masters):
        L.append(f"connect_bd_intf_net [get_bd_intf_pins {master}] "
                 f"[get_bd_intf_pins {sc}/S{i:02d}_AXI]")
    L += [f"connect_bd_intf_net [get_bd_intf_pins {sc}/M00_AXI] "
          f"[get_bd_intf_pins {ps}/S_AXI_HP0]",
          "", "# Data: DMA streams to and from the kernel."]
    for s in layout.streams:
        if s.direction == "in":
            L.append(f"connect_bd_intf_net [get_bd_intf_pins {s.dma}/M_AXIS_MM2S] "
                     f"[get_bd_intf_pins {k}/{s.axis}]")
        else:
            L.append(f"connect_bd_intf_net [get_bd_intf_pins {k}/{s.axis}] "
                     f"[get_bd_intf_pins {s.dma}/S_AXIS_S2MM]")
    L += ["",
          "# Addresses: Vivado assigns them; PYNQ reads them from the .hwh.",
          "assign_bd_address",
          "validate_bd_design",
          "save_bd_design",
          f"puts \"hetflow: FCLK_CLK0 requested $fclk_mhz MHz, actual "
          f"[get_property CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ $ps] MHz\"",
          "",
          "set bd_file [get_files ${overlay}.bd]",
          "generate_target all $bd_file",
          "add_files -norecurse [make_wrapper -files $bd_file -top]",
          "set_property top ${overlay}_wrapper [current_fileset]",
          "update_compile_order -fileset sources_1",
          "",
          "launch_runs impl_1 -to_step write_bitstream -jobs $jobs",
          "wait_on_run impl_1",
          "if {[get_property PROGRESS [get_runs impl_1]] ne \"100%\"} {",
          "    error \"hetflow: implementation did not finish; see the logs under $proj_dir\"",
          "}",
          "open_run impl_1",
          "report_utilization -file [file join $here utilization.rpt]",
          "report_timing_summary -file [file join $here timing.rpt]",
          "set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]",
          "if {$wns < 0} {",
          "    puts \"hetflow: WARNING: timing not met at $fclk_mhz MHz (WNS $wns ns); "
          "see timing.rpt\"",
          "}",
          "",
          "set bit [glob -nocomplain [file join $proj_dir ${overlay}_overlay.runs impl_1 "
          "${overlay}_wrapper.bit]]",
          "set hwh [glob -nocomplain [file join $proj_dir ${overlay}_overlay.gen sources_1 bd "
          "$overlay hw_handoff ${overlay}.hwh] [file join $proj_dir ${overlay}_overlay.srcs "
          "sources_1 bd $overlay hw_handoff ${overlay}.hwh]]",
          "if {[llength $bit] == 0 || [llength $hwh] == 0} {",
          "    error \"hetflow: bitstream or hardware handoff not found under $proj_dir\"",
          "}",
          "file copy -force [lindex $bit 0] [file join $here ${overlay}.bit]",
          "file copy -force [lindex $hwh 0] [file join $here ${overlay}.hwh]",
          "puts \"hetflow: wrote [file join $here ${overlay}.bit] and "
          "[file join $here ${overlay}.hwh]\"",
          ""]
    return "\n".join(L)


# ---- host driver metadata ------------------------------------------------------------------


def driver_metadata(layout, board, params, freq_mhz):
    """The ``hetflow_driver.json`` dict: what the ``pynq`` backend needs to drive the IP."""
    kernel_cls = layout.kernel_cls
    streams = []
    for s in layout.streams:
        entry = {"port": s.port.name, "direction": s.direction, "dtype": s.port.dtype,
                 "lanes": s.port.lanes, "payload_width": s.port.width,
                 "tdata_width": s.tdata_width, "beat_bytes": s.beat_bytes,
                 "interface": s.axis, "dma": s.dma, "channel": s.channel}
        if s.direction == "out":
            entry["out_beats_register"] = s.out_beats_register
            entry["out_beats_offset"] = s.out_beats_offset
        streams.append(entry)
    dmas = []
    for dma in layout.dmas:
        mm2s, s2mm = layout.dma_channels(dma)
        dmas.append({"name": dma, "mm2s": mm2s.port.name if mm2s else None,
                     "s2mm": s2mm.port.name if s2mm else None,
                     "length_width": DMA_LENGTH_WIDTH,
                     "max_transfer_bytes": (1 << DMA_LENGTH_WIDTH) - 1})
    return {
        "format": DRIVER_FORMAT,
        "version": DRIVER_VERSION,
        "kernel": layout.name,
        "params": dict(params),
        "scalars": list(kernel_cls.scalars),
        "board": board,
        "part": ZYNQ_BOARDS[board]["part"],
        "fclk0_mhz": freq_mhz,
        "overlay": {"bitfile": f"{layout.overlay}.bit", "hwh": f"{layout.overlay}.hwh"},
        "ip": {"vlnv": layout.vlnv, "instance": layout.instance, "top": layout.top,
               "control": "s_axi_control", "window": layout.window,
               "address": "from the .hwh (assigned by Vivado)"},
        "regmap": layout.regmap.to_dict(),
        "wrapper_registers": [
            {"name": s.out_beats_register, "offset": s.out_beats_offset, "access": "rw",
             "bits": 32, "port": s.port.name,
             "doc": f"beats the next job produces on '{s.port.name}'; TLAST marks the last "
                    f"(write before start; writing restarts the count)"}
            for s in layout.outputs],
        "streams": streams,
        "dmas": dmas,
        "job": [
            "write the job's registers (regmap offsets)",
            "write out_beats_<port> = output elements / lanes, rounded up, for every output",
            "start every recvchannel transfer (out_beats * beat_bytes bytes) and every "
            "sendchannel transfer (input beats * beat_bytes bytes; beats padded to "
            "beat_bytes with zeros)",
            "write 1 to ctrl, poll status bit 1 (done) with a timeout, wait for the DMAs",
        ],
        "vivado": {"ran": False, "note": VIVADO_NOTE},
    }


def _readme(layout, board, params, freq_mhz):
    ps = " ".join(f"{k}={v}" for k, v in params.items()) or "default parameters"
    flags = "".join(f" --param {k}={v}" for k, v in params.items())
    rows = "\n".join(
        f"| 0x{r.offset:03x} | {r.name} | {r.access} | {r.doc} |" for r in layout.regmap) + "\n"
    rows += "\n".join(f"| 0x{s.out_beats_offset:03x} | {s.out_beats_register} | rw | beats the "
                      f"next job produces on `{s.port.name}` (TLAST on the last) |"
                      for s in layout.outputs)
    streams = "\n".join(
        f"| `{s.axis}` | {s.direction} | {s.port.dtype} x {s.port.lanes} | {s.port.width} "
        f"| {s.tdata_width} | `{s.dma}.{s.channel}` |" for s in layout.streams)
    return f"""# hetflow kernel `{layout.name}` as a PYNQ IP ({board})

Generated by `hetflow export {layout.name} --format pynq-ip --board {board}{flags}
--freq {freq_mhz:g}` ({ps}; FCLK_CLK0 = {freq_mhz:g} MHz).

**{VIVADO_NOTE}** What was tested instead: the AXI-wrapped kernel in cocotb with
cocotbext-axi (AXI-Lite reads/writes, AXI-Stream with TLAST and back-pressure) against
the golden model, and the Tcl's syntax and block-design names.

## Files

- `{layout.top}.v`: the kernel with an AXI4-Lite slave `s_axi_control` and AXI4-Stream ports;
  clock `ap_clk`, reset `ap_rst_n` (active low, synchronous).
- `package_ip.tcl`: packages it as IP `{layout.vlnv}` into `ip/`.
- `build_overlay.tcl`: Zynq PS7 + AXI DMA(s) + the IP, bitstream; copies
  `{layout.overlay}.bit` and `{layout.overlay}.hwh` here.
- `hetflow_driver.json`: register map, streams, DMA names for the host driver.

```sh
vivado -mode batch -source package_ip.tcl
vivado -mode batch -source build_overlay.tcl     # needs the {board} board files
```

## Registers (AXI-Lite, 32-bit, window {layout.window} bytes)

| offset | name | access | meaning |
|-------:|------|--------|---------|
{rows}

Any other address answers SLVERR; so does a write with a partial WSTRB (no byte writes).

## Streams

| interface | direction | elements | payload bits | TDATA bits | DMA channel |
|-----------|-----------|----------|-------------:|-----------:|-------------|
{streams}

## One job

1. Write the job's registers. 2. Write `out_beats_<port>` for each output (its element
count divided by the lanes, rounded up): the wrapper raises TLAST on that beat, which ends
the DMA's S2MM transfer. 3. Start the receive transfers, then the send transfers (each beat
padded to whole TDATA bytes with zeros). 4. Write 1 to `ctrl`, poll `status` bit 1 (done)
with a timeout, and wait for the DMA channels (PYNQ's `wait()` has no timeout of its own).
"""


# ---- the export ----------------------------------------------------------------------------


def check_board(board):
    if board not in ZYNQ_BOARDS:
        raise ExportError(f"unknown Zynq board {board!r}; choose one of: "
                          f"{', '.join(ZYNQ_BOARDS)}")
    return board


def check_freq(freq_mhz):
    lo, hi = MHZ_RANGE
    try:
        value = float(freq_mhz)
    except (TypeError, ValueError):
        raise ExportError(f"--freq {freq_mhz!r} is not a number; allowed {lo:g}..{hi:g} MHz") \
            from None
    if not lo <= value <= hi:
        raise ExportError(f"--freq {freq_mhz} MHz is out of range; allowed {lo:g}..{hi:g} MHz "
                          f"(the PS7's FCLK_CLK0)")
    return value


def _prepare_target(out, force):
    """Check ``out`` may be (re)placed; return its parent directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"cannot write {out}: it exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ExportError(f"cannot write {out}: directory is not empty "
                              f"(use --force to replace a previous export)")
        if not (out / "hetflow_driver.json").exists():
            raise ExportError(f"cannot replace {out}: it is not a hetflow export "
                              f"(no hetflow_driver.json); refusing to delete it")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise ExportError(f"cannot write {out}: directory {parent} does not exist")
    return parent


def export_pynq_ip(kernel, params, out, *, board, freq_mhz=DEFAULT_MHZ, force=False):
    """Write the PYNQ IP export of ``kernel`` into directory ``out``.

    Parameters
    ----------
    kernel : str or Kernel subclass
        Registry name, ``module:Class`` path or the class.
    params : dict
        Elaboration parameters (strings are parsed).
    out : path-like
        Output directory; must not exist, be empty, or (with ``force``) be a
        previous export.  Its parent must exist.
    board : {"pynq-z1", "pynq-z2"}
    freq_mhz : float
        FCLK_CLK0, the kernel's clock (10..250 MHz).
    force : bool
        Replace a previous export in ``out``.

    Returns
    -------
    list of Path
        The files written (inside ``out``).

    Notes
    -----
    Everything is written to a temporary directory beside ``out`` and renamed
    into place, so a failure leaves nothing half-written.
    """
    board = check_board(board)
    freq_mhz = check_freq(freq_mhz)
    kernel_cls = get_kernel(kernel)
    p = kernel_cls.bind(**(params or {}))
    parent = _prepare_target(out, force)
    layout = AxiLayout(kernel_cls, p)
    files = {
        f"{layout.top}.v": verilog_text(kernel_cls(**p)),
        "package_ip.tcl": package_ip_tcl(layout, board, p),
        "build_overlay.tcl": build_overlay_tcl(layout, board, p, freq_mhz),
        "hetflow_driver.json": json.dumps(driver_metadata(layout, board, p, freq_mhz),
                                          indent=2) + "\n",
        "README.md": _readme(layout, board, p, freq_mhz),
    }
    out = Path(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    except OSError as exc:
        raise ExportError(f"cannot write {out}: directory {parent} is not writable "
                          f"({exc.strerror})") from None
    old = None
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        # mkdtemp makes the directory private (0700); an export gets the usual mode.
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            # Keep the previous export until the new one is in place.
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=parent))
            os.rename(out, old / "export")
        os.rename(tmp, out)
    except BaseException as exc:
        # Interrupted or failed: no half-written export, and the previous one back.
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "export").exists() and not out.exists():
            os.rename(old / "export", out)
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write {out}: {exc.strerror}") from None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return [out / name for name in files]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- verification in cocotb ----------------------------------------------------------------

class AxiSimulationError(HetflowError, RuntimeError):
    """The AXI bench did not run or produced no results."""


@dataclass
class AxiVerifyResult:
    """Outcome of :func:`verify_axi`.

    Attributes
    ----------
    passed : bool
    cases : int
        Jobs compared with the golden model (the back-pressure runs).
    failures : list of str
        Everything that went wrong (register checks, responses, TLAST, values).
    register_checks : int
        AXI-Lite transactions whose response and data were checked.
    coverage : dict
        How often each AXI-Lite write ordering occurred (``aw_first``,
        ``w_first``, ``same_cycle``) and the cycles B and R were held by a
        master not ready (``b_stalled``, ``r_stalled``).
    cycles_per_unit : float or None
        Kernel cycles per unit of work on the largest job without pauses.
    build_s, sim_s, wall_s : float
        Verilator build (0 when cached), simulation, total seconds.
    """

    kernel: str
    params: dict
    seed: int
    cases: int = 0
    failures: list = field(default_factory=list)
    register_checks: int = 0
    cycles_per_unit: float = None
    unit: str = "element"
    build_s: float = 0.0
    sim_s: float = 0.0
    wall_s: float = 0.0
    build_cached: bool = False
    log: Path = None
    coverage: dict = field(default_factory=dict)

    @property
    def passed(self):
        return self.cases > 0 and not self.failures

    def summary(self):
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        perf = (f", {self.cycles_per_unit:.3f} cycles/{self.unit} without pauses"
                if self.cycles_per_unit is not None else "")
        return (f"{'PASS' if self.passed else 'FAIL'} {self.kernel} {params} (AXI): "
                f"{self.cases} jobs, {self.register_checks} AXI-Lite checks, "
                f"{len(self.failures)} failures, seed {self.seed}{perf}, "
                f"build {self.build_s:.1f} s, sim {self.sim_s:.1f} s")


def _build_model(wrapper, text, simulator, status):
    """Compile the wrapper's Verilog with Verilator (cached by content hash)."""
    from ..sim.build import BuildError, build_verilog

    try:
        built = build_verilog(wrapper.layout.name, wrapper.layout.top, text, simulator,
                              status=status, cache="axi",
                              what=f"the AXI wrapper of {wrapper.layout.name}")
    except BuildError as exc:
        raise AxiSimulationError(str(exc)) from None
    return built.directory, built.cached


def _expected_readback(reg, value):
    """What a register of ``reg.bits`` bits reads back after ``value`` was written."""
    v = value & ((1 << reg.bits) - 1)
    if reg.signed and v >> (reg.bits - 1):
        v -= 1 << reg.bits
    return v & 0xFFFFFFFF


def _register_checks(layout, rng):
    """AXI-Lite transactions and what each must answer: ``(ops, expectations)``."""
    regmap = layout.regmap
    ops, expect = [], []

    def read(offset, data, resp, what):
        ops.append(("read", offset, None))
        expect.append((resp, data, what))

    def write(offset, value, resp, what, nbytes=4):
        ops.append(("write", offset, (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes,
                                                                                   "little")))
        expect.append((resp, None, what))

    read(regmap.offset("id"), regmap.kernel_id, AXI_OKAY, "id register")
    read(regmap.offset("status"), 0, AXI_OKAY, "status after reset")
    for reg in regmap:
        if reg.name in ("ctrl", "status", "cycles_lo", "cycles_hi", "id"):
            continue
        for i in range(reg.count):
            value = int(rng.integers(0, 1 << 32))
            write(reg.offset + 4 * i, value, AXI_OKAY, f"write {reg.name}[{i}]")
            read(reg.offset + 4 * i, _expected_readback(reg, value), AXI_OKAY,
                 f"read back {reg.name}[{i}]")
    # A partial-strobe write answers SLVERR and leaves the register as it was.
    target = regmap.registers[-1] if regmap.registers[-1].access == "rw" else regmap["len"]
    write(target.offset, 0x12345678, AXI_OKAY, f"write {target.name}")
    write(target.offset + 1, 0xAB, AXI_SLVERR, f"one-byte write to {target.name}", nbytes=1)
    read(target.offset, _expected_readback(target, 0x12345678), AXI_OKAY,
         f"{target.name} unchanged by the rejected byte write")
    for s in layout.outputs:
        write(s.out_beats_offset, 0x00C0FFEE, AXI_OKAY, f"write {s.out_beats_register}")
        read(s.out_beats_offset, 0x00C0FFEE, AXI_OKAY, f"read back {s.out_beats_register}")
    used = {(r.offset >> 2) + i for r in regmap for i in range(r.count)}
    used |= {s.out_beats_offset >> 2 for s in layout.outputs}
    holes = [w * 4 for w in range(regmap.size // 4) if w not in used][:2]
    holes += [regmap.size + 4 * len(layout.outputs), layout.window - 4]
    for offset in holes:
        read(offset, 0, AXI_SLVERR, f"read of unmapped 0x{offset:x}")
        write(offset, 0xFFFFFFFF, AXI_SLVERR, f"write to unmapped 0x{offset:x}")
    read(regmap.offset("id"), regmap.kernel_id, AXI_OKAY, "id register after the errors")
    return ops, expect


def _job_plan(layout, job, pause):
    regmap = layout.regmap
    writes = []
    for name, value in job.registers.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for i, v in enumerate(values):
            writes.append((regmap.offset(name, i), int(v) & 0xFFFFFFFF))
    frames, expect = {}, {}
    for s in layout.inputs:
        beats = pack_beats(s.port, job.streams[s.port.name])
        frames[s.axis] = b"".join(b.to_bytes(s.beat_bytes, "little") for b in beats)
    for s in layout.outputs:
        beats = s.port.beats(job.expect[s.port.name])
        writes.append((s.out_beats_offset, beats))
        expect[s.axis] = beats * s.beat_bytes
    moved = sum(len(f) // s.beat_bytes for s, f in zip(layout.inputs, frames.values()))
    moved += sum(n // s.beat_bytes for s, n in zip(layout.outputs, expect.values()))
    return {"writes": writes, "frames": frames, "expect": expect, "pause": pause,
            "budget": 60 * moved + 4000}


def verify_axi(kernel, params=None, *, seed=1, count=6, pause=0.3, workdir=None, status=None):
    """Verify the AXI-wrapped kernel in cocotb (cocotbext-axi) against the golden model.

    Runs ``hetflow.sim.axi_bench`` on the wrapper's Verilog in Verilator:
    AXI-Lite checks (id, every writable register read back, partial-strobe
    and unmapped accesses answering SLVERR), then ``count`` jobs from the
    kernel's :meth:`~hetflow.hw.Kernel.cases` through AXI-Stream with random
    pauses on every channel (``pause``: probability per cycle), each started
    and polled through AXI-Lite, each output checked for exactly one TLAST-
    terminated packet and compared with the golden model, and one more run
    of the largest job without pauses for throughput.

    Returns
    -------
    AxiVerifyResult
    """
    from cocotb_tools.runner import get_runner

    from ..sim.toolchain import cache_dir, find_simulator

    t0 = time.monotonic()
    kernel_cls = get_kernel(kernel)
    p = kernel_cls.bind(**(params or {}))
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HetflowError(f"count must be a positive integer, not {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HetflowError(f"seed must be a non-negative integer, not {seed!r}")
    if not 0 <= pause < 1:
        raise HetflowError(f"pause must be a probability in [0, 1), not {pause!r}")
    instance = kernel_cls(**p)
    wrapper = AxiKernel(instance)
    layout = wrapper.layout
    simulator = find_simulator("verilator")
    text = verilog.convert(wrapper, name=layout.top, emit_src=False)

    rng = np.random.default_rng(seed)
    ops, op_expect = _register_checks(layout, rng)
    cases = kernel_cls.cases(p, rng, count)
    jobs = [kernel_cls.prepare(p, dict(i), dict(s)) for i, s in cases]
    golden = [kernel_cls.golden(p, dict(i), dict(s)) for i, s in cases]
    planned = [_job_plan(layout, job, pause) for job in jobs]
    work = [kernel_cls.work(p, job) for job in jobs]
    perf = max(range(len(jobs)), key=lambda i: work[i][0])
    planned.append(dict(planned[perf], pause=0.0))
    plan = {"seed": seed, "ops": ops, "jobs": planned,
            "inputs": {s.axis: s.beat_bytes for s in layout.inputs},
            "outputs": {s.axis: s.beat_bytes for s in layout.outputs},
            "ctrl": layout.regmap.offset("ctrl"), "status": layout.regmap.offset("status"),
            "cycles": (layout.regmap.offset("cycles_lo"), layout.regmap.offset("cycles_hi")),
            "axil_pause": pause}

    result = AxiVerifyResult(kernel_cls.name, dict(p), seed, cases=len(jobs))
    tb = time.monotonic()
    directory, result.build_cached = _build_model(wrapper, text, simulator, status)
    result.build_s = 0.0 if result.build_cached else time.monotonic() - tb

    tag = "-".join(f"{k}{v}" for k, v in p.items()) or "default"
    workdir = Path(workdir) if workdir else cache_dir() / "axi-verify" / \
        f"{kernel_cls.name}-{tag}-seed{seed}"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    plan_path, result_path = workdir / "plan.pkl", workdir / "result.pkl"
    result.log = workdir / "sim.log"
    with open(plan_path, "wb") as f:
        pickle.dump(plan, f)
    if status:
        status(f"simulating {len(jobs)} jobs of {kernel_cls.name} through AXI")
    ts = time.monotonic()
    simulator.apply()
    try:
        get_runner("verilator").test(
            test_module="hetflow.sim.axi_bench", hdl_toplevel=layout.top,
            hdl_toplevel_lang="verilog", build_dir=directory, test_dir=workdir,
            results_xml=str(workdir / "results.xml"), log_file=result.log,
            extra_env={"HETFLOW_AXI_PLAN": str(plan_path),
                       "HETFLOW_AXI_RESULT": str(result_path),
                       "COCOTB_LOG_LEVEL": "WARNING"})
    except (RuntimeError, SystemExit) as exc:
        raise AxiSimulationError(f"the AXI bench failed ({exc}); log: {result.log}") from None
    result.sim_s = time.monotonic() - ts
    if not result_path.exists():
        raise AxiSimulationError(f"the AXI bench produced no results; log: {result.log}")
    with open(result_path, "rb") as f:
        got = pickle.load(f)

    fail = result.failures
    result.coverage = got.get("coverage", {})
    for (resp, data), (want_resp, want_data, what), op in zip(got["ops"], op_expect, ops):
        result.register_checks += 1
        if resp != want_resp:
            fail.append(f"{what} (0x{op[1]:x}): response {resp}, expected {want_resp}")
        elif want_data is not None and data != want_data:
            fail.append(f"{what} (0x{op[1]:x}): read 0x{data:08x}, expected 0x{want_data:08x}")
    if len(got["ops"]) != len(ops):
        fail.append(f"only {len(got['ops'])} of {len(ops)} AXI-Lite checks ran")

    for i, job in enumerate(jobs + [jobs[perf]]):
        if i >= len(got["jobs"]):
            fail.append(f"job {i}: did not run")
            continue
        r = got["jobs"][i]
        if r["error"]:
            fail.append(f"job {i}: {r['error']}")
            continue
        streams = {}
        for s in layout.outputs:
            packets = r["frames"][s.axis]
            want = planned[i]["expect"][s.axis]
            sizes = [len(f) for f in packets]
            if sizes != [want]:
                fail.append(f"job {i}: {s.axis} gave packets of {sizes} bytes; expected one "
                            f"TLAST-terminated packet of {want} bytes")
                continue
            data = packets[0]
            beats = [int.from_bytes(data[j:j + s.beat_bytes], "little")
                     for j in range(0, len(data), s.beat_bytes)]
            if any(b >> s.port.width for b in beats):
                fail.append(f"job {i}: {s.axis} padding bits above bit {s.port.width} not zero")
            streams[s.port.name] = unpack_beats(s.port, beats, job.expect[s.port.name])
        if len(streams) != len(layout.outputs):
            continue
        out = kernel_cls.collect(p, job, streams)
        exp = golden[perf] if i == len(jobs) else golden[i]
        for name, want in exp.items():
            have = np.asarray(out[name])
            want = np.asarray(want)
            if have.shape != want.shape:
                fail.append(f"job {i}: {name} has shape {have.shape}, expected {want.shape}")
                continue
            bad = np.argwhere(have != want)
            for idx in bad[:5]:
                idx = tuple(int(v) for v in idx)
                fail.append(f"job {i}: {name}[{idx[0] if len(idx) == 1 else idx}] expected "
                            f"{want[idx].item()} got {have[idx].item()}")
    last = got["jobs"][-1] if len(got["jobs"]) == len(jobs) + 1 else None
    if last and not last["error"] and last["cycles"]:
        amount, unit = work[perf]
        if amount:
            result.cycles_per_unit = last["cycles"] / amount
            result.unit = unit
    result.wall_s = time.monotonic() - t0
    return result
