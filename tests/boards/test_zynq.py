"""The Zynq / PYNQ export: generated files, the AXI wrapper in cocotb, the CLI.

Vivado is proprietary and does not run here.  What is tested instead:

* the AXI-wrapped kernel, in Verilator through cocotb and cocotbext-axi,
  against the golden models (``verify_axi``);
* the generated Tcl, run by a real Tcl interpreter (tkinter's) against a
  model of the Vivado commands it uses (``VIVADO_MODEL`` below): every
  block-design cell it references must have been created, every pin must
  exist on its cell (pin names from the Xilinx product guides: PG082 PS7,
  PG021 AXI DMA, PG164 proc_sys_reset, PG059 AXI Interconnect, PG247
  SmartConnect; the kernel's from its generated Verilog), interface
  connections must join a master and a slave of the same kind and stream
  width, and "validate" fails on anything left unconnected.  The model
  checks names and wiring, not Vivado's semantics.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.boards import zynq
from hetflow.boards.zynq import AxiLayout, export_pynq_ip, verify_axi
from hetflow.hw.registry import get_kernel

from ..conftest import ROOT, one_line_error

try:
    import tkinter      # a real Tcl interpreter, no display needed for tkinter.Tcl()
    TCL_ERROR = None
except ImportError as exc:
    tkinter = None
    TCL_ERROR = str(exc)
needs_tcl = pytest.mark.skipif(tkinter is None, reason=f"no Tcl for Python ({TCL_ERROR})")

#: Kernels and parameters whose exports are checked (cheap: no simulation).
EXPORTS = [("saxpy", {"lanes": 2}), ("crc32", {}), ("gemm", {}), ("gemm", {"rows": 3}),
           ("fir", {"taps": 4}), ("conv2d", {}), ("dot", {"lanes": 8})]


def export(tmp_path, kernel, params, board="pynq-z2", **kw):
    out = tmp_path / f"{kernel}-export"
    files = export_pynq_ip(kernel, params, out, board=board, **kw)
    return out, files


def verilog_ports(text, top):
    """``{port: (direction, width)}`` of module ``top`` in Amaranth's Verilog."""
    body = text[text.index(f"module {top}("):]
    body = body[:body.index("endmodule")]
    ports = {}
    for direction, width, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);",
                                             body, re.M):
        ports[name] = (direction, int(width) + 1 if width else 1)
    return ports


# ---- generated files -------------------------------------------------------------------


@pytest.mark.parametrize("kernel,params", EXPORTS)
def test_export_files_and_register_map(tmp_path, kernel, params):
    out, files = export(tmp_path, kernel, params)
    cls = get_kernel(kernel)
    p = cls.bind(**params)
    top = f"hetflow_{kernel}_axi"
    assert sorted(f.name for f in files) == sorted(
        [f"{top}.v", "package_ip.tcl", "build_overlay.tcl", "hetflow_driver.json", "README.md",
         f"hetflow_{kernel}.hwh", f"hetflow_{kernel}.bit"])
    assert sorted(os.listdir(out)) == sorted(f.name for f in files)

    meta = json.loads((out / "hetflow_driver.json").read_text())
    regmap = cls.regmap(p)
    assert meta["regmap"] == regmap.to_dict()
    assert meta["kernel"] == kernel and meta["params"] == dict(p)
    assert meta["part"] == "xc7z020clg400-1" and meta["board"] == "pynq-z2"
    assert meta["vivado"]["ran"] is False
    assert meta["ip"]["vlnv"] == f"hetflow:hetflow:{top}:1.0"

    # The out_beats registers sit above the kernel window, inside the AXI-Lite window.
    outs = [s for s in meta["streams"] if s["direction"] == "out"]
    assert [s["port"] for s in outs] == [port.name for port in cls.outputs(p)]
    for j, s in enumerate(outs):
        assert s["out_beats_offset"] == regmap.size + 4 * j < meta["ip"]["window"]
        assert s["out_beats_register"] == f"out_beats_{s['port']}"
        assert {"name": s["out_beats_register"], "offset": s["out_beats_offset"]}.items() <= \
            next(r for r in meta["wrapper_registers"] if r["port"] == s["port"]).items()
    # Streams: widths, DMA channels (one per stream, each engine used once per direction).
    ports = {port.name: port for port in cls.inputs(p) + cls.outputs(p)}
    assert [s["port"] for s in meta["streams"]] == list(ports)
    channels = set()
    for s in meta["streams"]:
        port = ports[s["port"]]
        assert s["payload_width"] == port.width
        assert s["tdata_width"] in zynq.DMA_STREAM_WIDTHS and s["tdata_width"] >= port.width
        assert s["tdata_width"] < 2 * port.width or s["tdata_width"] == 8
        assert s["beat_bytes"] * 8 == s["tdata_width"]
        assert s["channel"] == ("sendchannel" if s["direction"] == "in" else "recvchannel")
        channels.add((s["dma"], s["channel"]))
    assert len(channels) == len(meta["streams"])
    assert {d["name"] for d in meta["dmas"]} == {s["dma"] for s in meta["streams"]}
    assert all(d["length_width"] >= 23 for d in meta["dmas"])

    # The Verilog: Vivado's interface names, widths as the metadata says.
    vports = verilog_ports((out / f"{top}.v").read_text(), top)
    assert vports["ap_clk"] == ("input", 1) and vports["ap_rst_n"] == ("input", 1)
    addr_width = (meta["ip"]["window"] - 1).bit_length()
    assert vports["s_axi_control_awaddr"] == ("input", addr_width)
    assert vports["s_axi_control_rdata"] == ("output", 32)
    assert vports["s_axi_control_bresp"] == ("output", 2)
    for s in meta["streams"]:
        io = ("input", "output") if s["direction"] == "in" else ("output", "input")
        assert vports[f"{s['interface']}_tdata"] == (io[0], s["tdata_width"])
        assert vports[f"{s['interface']}_tvalid"] == (io[0], 1)
        assert vports[f"{s['interface']}_tready"] == (io[1], 1)
        assert vports[f"{s['interface']}_tlast"] == (io[0], 1)
    assert not [n for n in vports if "__" in n or n in ("clk", "rst")]

    # Every generated file says Vivado did not run.
    for name in ("package_ip.tcl", "build_overlay.tcl", "README.md"):
        assert "does not run where hetflow is developed" in (out / name).read_text()


def test_dma_assignment_matches_the_pynq_backend():
    """The overlay wires DMA engines the way the pynq backend expects to find them."""
    pynq_backend = pytest.importorskip("hetflow.backends.pynq")
    for kernel, params in EXPORTS:
        cls = get_kernel(kernel)
        p = cls.bind(**params)
        layout = AxiLayout(cls, p)
        plan = pynq_backend.dma_plan(cls.inputs(p), cls.outputs(p))
        assert len(plan) == len(layout.dmas)
        for dma, (src, dst) in zip(layout.dmas, plan):
            mm2s, s2mm = layout.dma_channels(dma)
            assert (mm2s.port.name if mm2s else None) == (src.name if src else None)
            assert (s2mm.port.name if s2mm else None) == (dst.name if dst else None)
        from hetflow.link.protocol import beat_stride
        for s in layout.streams:
            assert s.beat_bytes == beat_stride(s.port.width)


def test_tdata_width_padding():
    assert [zynq.tdata_width(w) for w in (8, 16, 24, 32, 40, 64, 128, 512)] == \
        [8, 16, 32, 32, 64, 64, 128, 512]
    with pytest.raises(zynq.ExportError, match="wider than the AXI DMA allows"):
        zynq.tdata_width(1025)


@pytest.mark.parametrize("kernel,params", [("saxpy", {"lanes": 2}), ("crc32", {})])
def test_handoff_describes_the_block_design(tmp_path, kernel, params):
    """The .hwh: address map, registers, parameters, stream wiring, FCLK (what PYNQ reads)."""
    from xml.etree import ElementTree
    out, _ = export(tmp_path, kernel, params, freq_mhz=125)
    root = ElementTree.parse(out / f"hetflow_{kernel}.hwh").getroot()
    meta = json.loads((out / "hetflow_driver.json").read_text())
    modules = {m.get("INSTANCE"): m for m in root.iter("MODULE")}
    ip = meta["ip"]["instance"]
    assert set(modules) == {"processing_system7_0", ip, *(d["name"] for d in meta["dmas"])}
    assert root.find("SYSTEMINFO").attrib == {"ARCH": "zynq", "DEVICE": "7z020",
                                              "NAME": f"hetflow_{kernel}",
                                              "PACKAGE": "clg400", "SPEEDGRADE": "-1"}
    ps_params = {p.get("NAME"): p.get("VALUE") for p in modules["processing_system7_0"]
                 .iter("PARAMETER")}
    assert ps_params["PCW_FPGA_FCLK0_ENABLE"] == "1"
    assert ps_params["PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "125"
    assert ps_params["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"] == "123.076923"     # 1600 MHz / 13
    ranges = {(r.get("INSTANCE"), r.get("SLAVEBUSINTERFACE")): (r.get("BASEVALUE"),
                                                                 r.get("HIGHVALUE"))
              for r in modules["processing_system7_0"].iter("MEMRANGE")}
    assert ranges[(ip, "s_axi_control")] == ("0x40000000", f"0x{0x40000000 + 0xFFF:08X}")
    for i, d in enumerate(meta["dmas"]):
        base = 0x40400000 + 0x10000 * i
        assert ranges[(d["name"], "S_AXI_LITE")] == (f"0x{base:08X}", f"0x{base + 0xFFFF:08X}")
    params_ = {p.get("NAME"): p.get("VALUE") for p in modules[ip].iter("PARAMETER")}
    p = get_kernel(kernel).bind(**params)
    assert params_["HETFLOW_KERNEL"] == kernel
    assert all(params_[f"HETFLOW_{k.upper()}"] == str(v) for k, v in p.items())
    offsets = {r.get("NAME"): int(next(q.get("VALUE") for q in r.iter("PROPERTY")
                                       if q.get("NAME") == "ADDRESS_OFFSET"), 16)
               for r in modules[ip].iter("REGISTER")}
    regmap = get_kernel(kernel).regmap(p)
    assert offsets["id"] == regmap.offset("id") and offsets["ctrl"] == 0
    for s in meta["streams"]:
        if s["direction"] == "out":
            assert offsets[s["out_beats_register"]] == s["out_beats_offset"]
    # Each stream's two ends carry one BUSNAME: the kernel's port and its DMA channel.
    buses = {}
    for m in root.iter("MODULE"):
        for b in m.iter("BUSINTERFACE"):
            if b.get("VLNV") == "xilinx.com:interface:axis:1.0":
                buses.setdefault(b.get("BUSNAME"), set()).add((m.get("INSTANCE"), b.get("NAME")))
    for s in meta["streams"]:
        end = "M_AXIS_MM2S" if s["direction"] == "in" else "S_AXIS_S2MM"
        assert {(ip, s["interface"]), (s["dma"], end)} in buses.values()


# ---- the Tcl, in a real Tcl interpreter against a model of Vivado's commands -----------

VIVADO_MODEL = r"""
namespace eval vm {
    variable cells [dict create]
    variable pin_net [dict create]
    variable intf_peer [dict create]
    variable props [dict create]
    variable proj_name ""
    variable proj_dir ""
    variable bd ""
    variable validated 0
    variable saved 0
    variable top ""
    variable wrapper ""
    variable files {}
    variable core_ports {}
    # Ports by IP top (several IPs, an overlay's); core_ports for any other.
    variable ip_ports [dict create]
    variable core_vlnv ""
    variable core_props [dict create]
    variable user_params [dict create]
    variable registers {}
    variable board_parts {tul.com.tw:pynq-z2:part0:1.0 www.digilentinc.com:pynq-z1:part0:1.0}
    variable log {}
    # Set by the test: kernel IP ports {name {dir width}}, and its component.xml path.
}
namespace eval ipx {}

proc vm::fail {msg} { error "vivado model: $msg" }
proc vm::opts {argv} {
    # Split Vivado-style arguments into a dict of -flags and a list of positionals.
    set flags [dict create]; set pos {}
    for {set i 0} {$i < [llength $argv]} {incr i} {
        set a [lindex $argv $i]
        if {[string match -* $a] && ![string is double $a]} {
            if {$a in {-force -norecurse -quiet -import_files -top -setup}} {
                dict set flags $a 1
            } else {
                incr i
                dict set flags $a [lindex $argv $i]
            }
        } else { lappend pos $a }
    }
    return [list $flags $pos]
}

# ---- projects and files
proc create_project {args} {
    lassign [vm::opts $args] f pos
    lassign $pos name dir
    if {![dict exists $f -part]} { vm::fail "create_project without -part" }
    set vm::proj_name $name; set vm::proj_dir $dir
    file mkdir $dir
    return $name
}
proc current_project {args} { return $vm::proj_name }
proc current_fileset {args} { return sources_1 }
proc close_project {args} { set vm::proj_name "" }
proc update_compile_order {args} {}
proc update_ip_catalog {args} {}
proc set_param {args} {}
proc add_files {args} {
    lassign [vm::opts $args] f pos
    foreach p $pos {
        if {![file exists $p]} { vm::fail "add_files: $p does not exist" }
        lappend vm::files $p
    }
}
proc get_board_parts {args} {
    lassign [vm::opts $args] f pos
    set out {}
    foreach b $vm::board_parts { if {[string match [lindex $pos 0] $b]} { lappend out $b } }
    return $out
}

# ---- generic properties
proc set_property {args} {
    lassign [vm::opts $args] f pos
    if {[dict exists $f -dict]} {
        set kv [dict get $f -dict]; set obj [lindex $pos 0]
    } else {
        lassign $pos name value obj; set kv [list $name $value]
    }
    if {$obj eq ""} { vm::fail "set_property without an object: $args" }
    if {[string index $obj 0] eq "/"} {
        set cell [string range $obj 1 end]
        if {![dict exists $vm::cells $cell]} { vm::fail "set_property on unknown cell $obj" }
        foreach {k v} $kv {
            if {![string match CONFIG.* $k]} { vm::fail "cell property $k is not CONFIG.*" }
            dict set vm::cells $cell config [string range $k 7 end] $v
        }
        return
    }
    foreach {k v} $kv {
        if {$obj eq "sources_1" && $k eq "top"} { set vm::top $v }
        if {$k eq "board_part" && $v ni $vm::board_parts} { vm::fail "unknown board part $v" }
        dict set vm::props $obj $k $v
    }
}
proc get_property {name obj} {
    switch -glob -- $name {
        PROGRESS { return "100%" }
        SLACK { return 0.25 }
        CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ {
            return [vm::cfg processing_system7_0 PCW_FPGA0_PERIPHERAL_FREQMHZ 50]
        }
        default { vm::fail "get_property $name not modelled" }
    }
}

# ---- IP packaging
proc ipx::package_project {args} {
    lassign [vm::opts $args] f pos
    foreach k {-root_dir -vendor -library} {
        if {![dict exists $f $k]} { vm::fail "ipx::package_project without $k" }
    }
    if {$vm::top eq ""} { vm::fail "package_project before set_property top" }
    set vm::core_props [dict create vendor [dict get $f -vendor] library [dict get $f -library] \
        name $vm::top version 1.0 root_dir [dict get $f -root_dir]]
    file mkdir [dict get $f -root_dir]
    return core
}
proc ipx::current_core {} { return core }
proc vm::ports_of {top} {
    if {[dict exists $vm::ip_ports $top]} { return [dict get $vm::ip_ports $top] }
    return $vm::core_ports
}
proc vm::core_busifs {{top ""}} {
    # What the packager infers from the port names of the top module.
    if {$top eq ""} { set top $vm::top }
    set out [dict create]
    foreach {name dw} [vm::ports_of $top] {
        if {[regexp {^(s_axi_control)_[a-z]+$} $name -> busif]
            || [regexp {^([sm]_axis_.+)_(tdata|tvalid|tready|tlast)$} $name -> busif]} {
            dict set out $busif 1
        } elseif {$name in {ap_clk ap_rst_n}} { dict set out $name 1 }
    }
    return [dict keys $out]
}
proc ipx::infer_bus_interfaces {vlnv core} {}
proc ipx::get_bus_interfaces {name args} {
    if {$name in [vm::core_busifs]} { return $name }
    return ""
}
proc ipx::associate_bus_interfaces {args} {
    lassign [vm::opts $args] f pos
    set busif [dict get $f -busif]
    if {$busif ni [vm::core_busifs]} { vm::fail "associate: no interface $busif" }
    if {[dict get $f -clock] ni [vm::core_busifs]} { vm::fail "associate: no clock" }
}
proc ipx::get_bus_parameters {name args} { return "" }
proc ipx::add_bus_parameter {name busif} {
    if {$busif eq ""} { vm::fail "add_bus_parameter on no interface" }
    return "$busif/$name"
}
proc ipx::add_user_parameter {name core} { dict set vm::user_params $name 1; return "param/$name" }
proc ipx::get_memory_maps {args} { return "" }
proc ipx::add_memory_map {name core} { return "mmap/$name" }
proc ipx::get_address_blocks {args} { return "" }
proc ipx::add_address_block {name mmap} {
    if {$mmap eq ""} { vm::fail "address block on no memory map" }
    return "$mmap/$name"
}
proc ipx::add_register {name block} {
    if {$block eq ""} { vm::fail "register $name on no address block" }
    lappend vm::registers $name
    return "$block/register/$name"
}
proc ipx::add_field {name reg} {
    if {[string first /register/ $reg] < 0} { vm::fail "field $name on no register" }
    return "$reg/field/$name"
}
proc ipx::create_xgui_files {core} {}
proc ipx::update_checksums {core} {}
proc ipx::check_integrity {core} {}
proc ipx::save_core {core} {
    set p $vm::core_props
    foreach obj {core} {
        if {[dict exists $vm::props core name]} { dict set p name [dict get $vm::props core name] }
        if {[dict exists $vm::props core version]} { dict set p version [dict get $vm::props core version] }
    }
    set vlnv "[dict get $p vendor]:[dict get $p library]:[dict get $p name]:[dict get $p version]"
    set fh [open [file join [dict get $p root_dir] component.xml] w]
    puts $fh $vlnv
    close $fh
}

# ---- block design
proc create_bd_design {name} { set vm::bd $name }
proc vm::cfg {cell key default} {
    set c [dict get $vm::cells $cell config]
    if {[dict exists $c $key]} { return [dict get $c $key] }
    return $default
}
proc create_bd_cell {args} {
    lassign [vm::opts $args] f pos
    set name [lindex $pos 0]
    if {$vm::bd eq ""} { vm::fail "create_bd_cell before create_bd_design" }
    if {[dict exists $vm::cells $name]} { vm::fail "cell $name created twice" }
    set vlnv [dict get $f -vlnv]
    if {![string match xilinx.com:* $vlnv]} {
        # A user IP must come from the repository package_ip.tcl filled.
        set found 0
        foreach repo [dict get $vm::props $vm::proj_name ip_repo_paths] {
            set xml [file join $repo component.xml]
            if {[file exists $xml]} {
                set fh [open $xml]; set have [string trim [read $fh]]; close $fh
                if {$have eq $vlnv} { set found 1 }
            }
        }
        if {!$found} { vm::fail "IP $vlnv is not in the IP repository" }
    }
    dict set vm::cells $name [dict create vlnv $vlnv config [dict create]]
    return "/$name"
}
proc vm::indexed {prefix n suffix} {
    set out {}
    for {set i 0} {$i < $n} {incr i} { lappend out [format "%s%02d%s" $prefix $i $suffix] }
    return $out
}
# {pins intf_pins}; each intf pin is {name mode kind width}.
proc vm::cell_pins {cell} {
    set vlnv [dict get $vm::cells $cell vlnv]
    set pins {}; set intf {}
    switch -glob -- $vlnv {
        xilinx.com:ip:processing_system7:* {
            lappend pins FCLK_CLK0 FCLK_RESET0_N
            lappend intf {DDR other ddr 0} {FIXED_IO other fixed_io 0}
            if {[vm::cfg $cell PCW_USE_M_AXI_GP0 0] == 1} {
                lappend pins M_AXI_GP0_ACLK; lappend intf {M_AXI_GP0 master aximm 32}
            }
            if {[vm::cfg $cell PCW_USE_S_AXI_HP0 0] == 1} {
                lappend pins S_AXI_HP0_ACLK
                lappend intf [list S_AXI_HP0 slave aximm [vm::cfg $cell PCW_S_AXI_HP0_DATA_WIDTH 64]]
            }
        }
        xilinx.com:ip:axi_dma:* {
            lappend pins s_axi_lite_aclk axi_resetn
            lappend intf {S_AXI_LITE slave aximm 32}
            if {[vm::cfg $cell c_include_sg 1] == 1} {
                lappend pins m_axi_sg_aclk; lappend intf {M_AXI_SG master aximm 32}
            }
            if {[vm::cfg $cell c_include_mm2s 1] == 1} {
                lappend pins m_axi_mm2s_aclk mm2s_introut
                lappend intf [list M_AXI_MM2S master aximm [vm::cfg $cell c_m_axi_mm2s_data_width 32]]
                lappend intf [list M_AXIS_MM2S master axis [vm::cfg $cell c_m_axis_mm2s_tdata_width 32]]
            }
            if {[vm::cfg $cell c_include_s2mm 1] == 1} {
                lappend pins m_axi_s2mm_aclk s2mm_introut
                lappend intf [list M_AXI_S2MM master aximm [vm::cfg $cell c_m_axi_s2mm_data_width 32]]
                lappend intf [list S_AXIS_S2MM slave axis [vm::cfg $cell c_s_axis_s2mm_tdata_width 32]]
            }
        }
        xilinx.com:ip:proc_sys_reset:* {
            lappend pins slowest_sync_clk ext_reset_in aux_reset_in mb_debug_sys_rst dcm_locked \
                mb_reset bus_struct_reset peripheral_reset interconnect_aresetn peripheral_aresetn
        }
        xilinx.com:ip:axi_interconnect:* {
            set si [vm::cfg $cell NUM_SI 1]; set mi [vm::cfg $cell NUM_MI 2]
            lappend pins ACLK ARESETN
            foreach p [concat [vm::indexed S $si _ACLK] [vm::indexed M $mi _ACLK] \
                              [vm::indexed S $si _ARESETN] [vm::indexed M $mi _ARESETN]] {
                lappend pins $p
            }
            foreach p [vm::indexed S $si _AXI] { lappend intf [list $p slave aximm 0] }
            foreach p [vm::indexed M $mi _AXI] { lappend intf [list $p master aximm 0] }
        }
        xilinx.com:ip:smartconnect:* {
            lappend pins aclk aresetn
            foreach p [vm::indexed S [vm::cfg $cell NUM_SI 1] _AXI] { lappend intf [list $p slave aximm 0] }
            foreach p [vm::indexed M [vm::cfg $cell NUM_MI 1] _AXI] { lappend intf [list $p master aximm 0] }
        }
        default {
            # A kernel IP: interfaces from its port names.
            set top [lindex [split $vlnv :] 2]
            set widths [dict create]
            foreach {name dw} [vm::ports_of $top] { dict set widths $name [lindex $dw 1] }
            foreach b [vm::core_busifs $top] {
                if {$b in {ap_clk ap_rst_n}} { lappend pins $b; continue }
                if {$b eq "s_axi_control"} { lappend intf {s_axi_control slave aximm 0}; continue }
                set mode [expr {[string match s_* $b] ? "slave" : "master"}]
                lappend intf [list $b $mode axis [dict get $widths ${b}_tdata]]
            }
        }
    }
    return [list $pins $intf]
}
proc vm::split_path {path} {
    set path [string trimleft $path /]
    set i [string first / $path]
    if {$i < 0} { vm::fail "pin path $path has no cell" }
    return [list [string range $path 0 [expr {$i - 1}]] [string range $path [expr {$i + 1}] end]]
}
proc get_bd_pins {path} {
    lassign [vm::split_path $path] cell pin
    if {![dict exists $vm::cells $cell]} { vm::fail "get_bd_pins $path: no cell $cell" }
    if {$pin ni [lindex [vm::cell_pins $cell] 0]} {
        vm::fail "get_bd_pins $path: $cell ([dict get $vm::cells $cell vlnv]) has no pin $pin"
    }
    return "/$cell/$pin"
}
proc vm::intf {path} {
    lassign [vm::split_path $path] cell pin
    foreach i [lindex [vm::cell_pins $cell] 1] { if {[lindex $i 0] eq $pin} { return $i } }
    vm::fail "$path: $cell has no interface pin $pin"
}
proc get_bd_intf_pins {path} {
    lassign [vm::split_path $path] cell pin
    if {![dict exists $vm::cells $cell]} { vm::fail "get_bd_intf_pins $path: no cell $cell" }
    vm::intf $path
    return "/$cell/$pin"
}
proc get_bd_cells {path} {
    if {![dict exists $vm::cells [string trimleft $path /]]} { vm::fail "no cell $path" }
    return "/[string trimleft $path /]"
}
proc apply_bd_automation {args} {
    lassign [vm::opts $args] f pos
    set cell [string trimleft [lindex $pos 0] /]
    if {![dict exists $vm::cells $cell]} { vm::fail "apply_bd_automation on unknown $cell" }
    if {[dict get $f -rule] ne "xilinx.com:bd_rule:processing_system7"} { vm::fail "unknown rule" }
    # make_external "FIXED_IO, DDR": the board's DDR and MIO become ports.
    dict set vm::intf_peer /$cell/DDR external
    dict set vm::intf_peer /$cell/FIXED_IO external
}
proc connect_bd_net {args} {
    if {[llength $args] < 2} { vm::fail "connect_bd_net needs at least two pins: $args" }
    set net [lindex $args 0]
    foreach p $args {
        if {[dict exists $vm::pin_net $p]} { vm::fail "pin $p connected twice" }
        dict set vm::pin_net $p $net
    }
}
proc connect_bd_intf_net {a b} {
    set ia [vm::intf $a]; set ib [vm::intf $b]
    foreach p [list $a $b] {
        if {[dict exists $vm::intf_peer $p]} { vm::fail "interface pin $p connected twice" }
    }
    if {[lsort [list [lindex $ia 1] [lindex $ib 1]]] ne {master slave}} {
        vm::fail "$a ([lindex $ia 1]) and $b ([lindex $ib 1]) are not a master and a slave"
    }
    if {[lindex $ia 2] ne [lindex $ib 2]} {
        vm::fail "$a is [lindex $ia 2] but $b is [lindex $ib 2]"
    }
    if {[lindex $ia 2] eq "axis" && [lindex $ia 3] != [lindex $ib 3]} {
        vm::fail "stream width mismatch: $a [lindex $ia 3] bits, $b [lindex $ib 3] bits"
    }
    dict set vm::intf_peer $a $b
    dict set vm::intf_peer $b $a
}
proc vm::unconnected {} {
    set out {}
    dict for {cell info} $vm::cells {
        lassign [vm::cell_pins $cell] pins intf
        foreach i $intf {
            if {![dict exists $vm::intf_peer /$cell/[lindex $i 0]]} { lappend out /$cell/[lindex $i 0] }
        }
        foreach p $pins {
            # Clocks and resets every AXI cell needs; interrupts and spare resets may float.
            if {[regexp {(?i)(aclk|clk0?|_aresetn|^aresetn$|^ARESETN$|axi_resetn|ap_rst_n|slowest_sync_clk|ext_reset_in)$} $p]
                && ![dict exists $vm::pin_net /$cell/$p]} { lappend out /$cell/$p }
        }
    }
    return $out
}
proc assign_bd_address {args} {}
proc validate_bd_design {args} {
    set missing [vm::unconnected]
    if {[llength $missing]} { vm::fail "validate_bd_design: unconnected: $missing" }
    set vm::validated 1
}
proc save_bd_design {args} { set vm::saved 1 }
proc get_files {pattern} {
    if {$pattern ne "$vm::bd.bd"} { vm::fail "get_files $pattern: no such file" }
    return [file join $vm::proj_dir $vm::proj_name.srcs sources_1 bd $vm::bd $vm::bd.bd]
}
proc generate_target {what file} {}
proc make_wrapper {args} {
    set vm::wrapper ${vm::bd}_wrapper
    set dir [file join $vm::proj_dir $vm::proj_name.gen sources_1 bd $vm::bd hdl]
    file mkdir $dir
    set path [file join $dir $vm::wrapper.v]
    close [open $path w]
    return $path
}
proc launch_runs {args} {
    lassign [vm::opts $args] f pos
    if {!$vm::validated || !$vm::saved} { vm::fail "launch_runs before validate/save" }
    if {$vm::top ne $vm::wrapper} { vm::fail "top is '$vm::top', not the wrapper '$vm::wrapper'" }
    # Where Vivado 2020.2+ writes the bitstream and the hardware handoff.
    set runs [file join $vm::proj_dir $vm::proj_name.runs impl_1]
    file mkdir $runs
    close [open [file join $runs $vm::top.bit] w]
    set hh [file join $vm::proj_dir $vm::proj_name.gen sources_1 bd $vm::bd hw_handoff]
    file mkdir $hh
    close [open [file join $hh $vm::bd.hwh] w]
}
proc wait_on_run {args} {}
proc get_runs {name} { return $name }
proc open_run {args} {}
proc report_utilization {args} {}
proc report_timing_summary {args} {}
proc get_timing_paths {args} { return path }

# Anything else the scripts call is not modelled: fail loudly rather than pass silently.
rename unknown vm::tcl_unknown
proc unknown {args} { vm::fail "command not modelled: [lindex $args 0]" }
"""


def run_tcl(script, ports, env=None, ip_ports=None):
    """Source ``script`` in a fresh Tcl interpreter with the Vivado model loaded.

    ``ports`` are the kernel IP's; ``ip_ports`` ({top: ports}) those of several IPs.
    """
    tcl = tkinter.Tcl()
    tcl.eval(VIVADO_MODEL)

    def flat(ports):
        return " ".join(f"{name} {{{d} {w}}}" for name, (d, w) in ports.items())
    tcl.eval(f"set vm::core_ports {{{flat(ports)}}}")
    for top, tports in (ip_ports or {}).items():
        tcl.eval(f"dict set vm::ip_ports {top} {{{flat(tports)}}}")
    for k, v in (env or {}).items():
        tcl.eval(f"set ::env({k}) {{{v}}}")
    tcl.eval(f"source {{{script}}}")
    return tcl


def tcl_words_complete(text):
    tcl = tkinter.Tcl()
    tcl.call("set", "script", text)
    return tcl.eval("info complete $script") == "1"


@needs_tcl
@pytest.mark.parametrize("kernel,params", EXPORTS)
def test_tcl_runs_against_the_vivado_model(tmp_path, kernel, params):
    out, _ = export(tmp_path, kernel, params, freq_mhz=125)
    top = f"hetflow_{kernel}_axi"
    ports = verilog_ports((out / f"{top}.v").read_text(), top)
    for name in ("package_ip.tcl", "build_overlay.tcl"):
        text = (out / name).read_text()
        assert tcl_words_complete(text), f"{name}: unbalanced braces, brackets or quotes"
        code = re.sub(r"\\.", "", text)
        assert code.count("{") == code.count("}") and code.count("[") == code.count("]")

    tcl = run_tcl(out / "package_ip.tcl", ports)
    assert (out / "ip" / "component.xml").read_text().strip() == f"hetflow:hetflow:{top}:1.0"
    p = get_kernel(kernel).bind(**params)
    # Every register the .hwh describes is declared on the IP, at the same offset.
    layout = AxiLayout(get_kernel(kernel), get_kernel(kernel).bind(**params))
    regs = layout.register_descriptions()
    assert tcl.eval("set vm::registers").split() == list(regs)
    for name, reg in regs.items():
        assert int(tcl.eval(f"dict get $vm::props mmap/s_axi_control/reg0/register/{name} "
                            f"address_offset"), 16) == reg["address_offset"]
    assert tcl.eval("lsort [dict keys $vm::user_params]").split() == \
        sorted(["HETFLOW_KERNEL", "HETFLOW_ID", *(f"HETFLOW_{k.upper()}" for k in p)])

    tcl = run_tcl(out / "build_overlay.tcl", ports)
    # Vivado's .bit and .hwh (the model writes them empty) replace the export's own.
    assert (out / f"hetflow_{kernel}.bit").read_bytes() == b""
    assert (out / f"hetflow_{kernel}.hwh").read_bytes() == b""
    # The block design: the cells the metadata names, and FCLK_CLK0 as asked.
    meta = json.loads((out / "hetflow_driver.json").read_text())
    cells = set(tcl.eval("dict keys $vm::cells").split())
    assert {meta["ip"]["instance"], *(d["name"] for d in meta["dmas"])} <= cells
    assert tcl.eval("vm::cfg processing_system7_0 PCW_FPGA0_PERIPHERAL_FREQMHZ 0") == "125"
    for d in meta["dmas"]:
        assert tcl.eval(f"vm::cfg {d['name']} c_include_sg 1") == "0"
        assert int(tcl.eval(f"vm::cfg {d['name']} c_sg_length_width 14")) == d["length_width"]
    for s in meta["streams"]:
        peer = tcl.eval(f"dict get $vm::intf_peer /{meta['ip']['instance']}/{s['interface']}")
        assert peer == f"/{s['dma']}/" + ("M_AXIS_MM2S" if s["direction"] == "in" else "S_AXIS_S2MM")


@needs_tcl
def test_tcl_model_catches_mistakes(tmp_path):
    """The model is not a rubber stamp: broken scripts fail with a reason."""
    out, _ = export(tmp_path, "saxpy", {"lanes": 2})
    ports = verilog_ports((out / "hetflow_saxpy_axi.v").read_text(), "hetflow_saxpy_axi")
    run_tcl(out / "package_ip.tcl", ports)
    good = (out / "build_overlay.tcl").read_text()
    mistakes = {
        "no pin FCLK_CLK1": good.replace("processing_system7_0/FCLK_CLK0]",
                                         "processing_system7_0/FCLK_CLK1]", 1),
        "no cell axi_dma_7": good.replace("axi_dma_1/S_AXI_LITE", "axi_dma_7/S_AXI_LITE"),
        "stream width mismatch": good.replace("c_m_axis_mm2s_tdata_width {64}",
                                              "c_m_axis_mm2s_tdata_width {32}", 1),
        "unconnected: /axi_dma_0/M_AXI_SG": good.replace("CONFIG.c_include_sg {0} ", "", 1),
        "unconnected: /hetflow_saxpy_0/s_axis_y": "\n".join(
            line for line in good.splitlines() if "hetflow_saxpy_0/s_axis_y" not in line),
        "not in the IP repository": good.replace("hetflow_saxpy_axi:1.0", "hetflow_saxpy_axi:2.0"),
    }
    for reason, text in mistakes.items():
        assert text != good, reason
        bad = out / "bad.tcl"
        bad.write_text(text)
        with pytest.raises(tkinter.TclError, match=re.escape(reason)):
            run_tcl(bad, ports)


@needs_tcl
def test_build_overlay_needs_packaged_ip_and_board_files(tmp_path):
    out, _ = export(tmp_path, "crc32", {}, board="pynq-z1")
    ports = verilog_ports((out / "hetflow_crc32_axi.v").read_text(), "hetflow_crc32_axi")
    with pytest.raises(tkinter.TclError, match="run package_ip.tcl first"):
        run_tcl(out / "build_overlay.tcl", ports)
    run_tcl(out / "package_ip.tcl", ports)
    script = (out / "build_overlay.tcl").read_text()
    assert "*:pynq-z1:part0:*" in script
    (out / "other.tcl").write_text(script.replace("*:pynq-z1:part0:*", "*:zedboard:part0:*"))
    with pytest.raises(tkinter.TclError, match="no Vivado board files for pynq-z1"):
        run_tcl(out / "other.tcl", ports)


# ---- the AXI wrapper in cocotb ----------------------------------------------------------

# saxpy lanes=2 (several lanes) and gemm (a 256-bit stream) run by default; the others
# add little coverage for a Verilator build each, so they run with -m slow.
AXI_CASES = [pytest.param("saxpy", {"lanes": 1}, marks=pytest.mark.slow),
             ("saxpy", {"lanes": 2}),
             pytest.param("crc32", {}, marks=pytest.mark.slow),
             ("gemm", {})]


@pytest.mark.parametrize("kernel,params", AXI_CASES)
def test_axi_wrapper_matches_golden_model(tmp_path, kernel, params):
    result = verify_axi(kernel, params, seed=3, count=6, workdir=tmp_path / "sim")
    print(result.summary())
    assert result.passed, "\n".join(result.failures[:20])
    assert result.cases == 6 and result.register_checks >= 15
    # AW before W, W before AW, both at once; B and R held by a master not ready.
    assert all(result.coverage[k] > 0 for k in
               ("aw_first", "w_first", "same_cycle", "b_stalled", "r_stalled")), result.coverage
    # The wrapper costs no throughput: the kernel's own rate without pauses.
    lanes = params.get("lanes", 1)
    expect = {"saxpy": 1 / lanes, "crc32": 1 / 4, "gemm": 1 / 8}[kernel]
    assert result.cycles_per_unit == pytest.approx(expect, rel=0.05)


def test_axi_wrapper_with_padded_stream(tmp_path):
    """gemm rows=3: a 24-bit input stream in 32-bit TDATA (pad byte per beat)."""
    result = verify_axi("gemm", {"rows": 3, "cols": 2}, seed=5, count=4, pause=0.5,
                        workdir=tmp_path / "sim")
    assert result.passed, "\n".join(result.failures[:20])


# ---- the CLI ------------------------------------------------------------------------------


def hetflow(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True,
                          cwd=cwd, text=True, timeout=300)


def leftovers(directory):
    return [p.name for p in Path(directory).iterdir() if p.name.startswith(".")]


def test_cli_pynq_ip(tmp_path):
    out = tmp_path / "ip"
    proc = hetflow("export", "saxpy", "--format", "pynq-ip", "--board", "pynq-z2",
                   "--param", "lanes=2", "--freq", "142.5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == sorted(["hetflow_saxpy_axi.v", "package_ip.tcl",
                                              "build_overlay.tcl", "hetflow_driver.json",
                                              "README.md", "hetflow_saxpy.hwh",
                                              "hetflow_saxpy.bit"])
    assert "Vivado does not run here" in proc.stdout
    meta = json.loads((out / "hetflow_driver.json").read_text())
    assert meta["params"] == {"lanes": 2} and meta["fclk0_mhz"] == 142.5
    assert "set fclk_mhz 142.5" in (out / "build_overlay.tcl").read_text()

    # Again into the same directory: refused without --force, replaced with it.
    one_line_error(hetflow("export", "saxpy", "--format", "pynq-ip", "--board", "pynq-z2",
                           "--out", str(out)),
                   f"cannot write {out}: directory is not empty (use --force to replace")
    (out / "ip").mkdir()         # what package_ip.tcl leaves behind
    proc = hetflow("export", "crc32", "--format", "pynq-ip", "--board", "pynq-z1",
                   "--out", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    assert "hetflow_crc32_axi.v" in os.listdir(out) and "ip" not in os.listdir(out)
    assert json.loads((out / "hetflow_driver.json").read_text())["board"] == "pynq-z1"
    assert leftovers(tmp_path) == []


def test_cli_other_formats_still_work():
    proc = hetflow("export", "saxpy", "--format", "regmap-json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["kernel"] == "saxpy"
    proc = hetflow("export", "crc32", "-f", "verilog")
    assert proc.returncode == 0 and "module hetflow_crc32" in proc.stdout


def unwritable_dir(tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere chmod allows; sysfs refuses everyone.
        return Path("/sys")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d


@pytest.mark.parametrize("args,message", [
    (["--board", "zedboard", "--out", "{tmp}/x"],
     "unknown Zynq board 'zedboard'; choose one of: pynq-z1, pynq-z2"),
    (["--out", "{tmp}/x"], "--format pynq-ip needs --board (pynq-z1 or pynq-z2)"),
    (["--board", "pynq-z2"], "--format pynq-ip needs --out DIR (it writes several files)"),
    (["--board", "pynq-z2", "--out", "{tmp}/x", "--freq", "400"],
     "--freq 400 MHz is out of range; allowed 10..250 MHz"),
    (["--board", "pynq-z2", "--out", "{tmp}/x", "--freq", "fast"],
     "--freq 'fast' is not a number; allowed 10..250 MHz"),
    (["--board", "pynq-z2", "--out", "{tmp}/missing/x"],
     "cannot write {tmp}/missing/x: directory {tmp}/missing does not exist"),
    (["--board", "pynq-z2", "--out", "{tmp}/file"],
     "cannot write {tmp}/file: it exists and is not a directory"),
    (["--board", "pynq-z2", "--out", "{tmp}/mine", "--force"],
     "cannot replace {tmp}/mine: it is not a hetflow export (no hetflow_driver.json); "
     "refusing to delete it"),
    (["--board", "pynq-z2", "--out", "{tmp}/x", "--param", "lanes=3"],
     "saxpy: parameter 'lanes' = 3 is out of range; allowed one of 1, 2, 4, 8"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    one_line_error(hetflow("export", "saxpy", "--format", "pynq-ip", *args),
                   message.replace("{tmp}", str(tmp_path)))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "x").exists() and leftovers(tmp_path) == []


def test_cli_unknown_kernel(tmp_path):
    one_line_error(hetflow("export", "nope", "--format", "pynq-ip", "--board", "pynq-z2",
                           "--out", str(tmp_path / "x")),
                   "unknown kernel 'nope'; known kernels: ")
    assert not (tmp_path / "x").exists()


def test_verify_axi_rejects_bad_arguments():
    with pytest.raises(zynq.HetflowError, match="count must be a positive integer, not 0"):
        verify_axi("saxpy", count=0)
    with pytest.raises(zynq.HetflowError, match="pause must be a probability in \\[0, 1\\), "
                                                "not 1.5"):
        verify_axi("saxpy", pause=1.5)


def test_cli_unwritable_directory(tmp_path):
    parent = unwritable_dir(tmp_path)
    proc = hetflow("export", "saxpy", "--format", "pynq-ip", "--board", "pynq-z2",
                   "--out", str(parent / "hetflow-ip"))
    one_line_error(proc, f"cannot write {parent / 'hetflow-ip'}: directory {parent} "
                         f"is not writable")


@pytest.mark.parametrize("option", [["--board", "pynq-z2"], ["--freq", "100"], ["--force"]])
def test_cli_pynq_options_need_pynq_format(option):
    one_line_error(hetflow("export", "saxpy", "-f", "c-header", *option),
                   f"{option[0]} applies only to --format pynq-ip, not c-header")
