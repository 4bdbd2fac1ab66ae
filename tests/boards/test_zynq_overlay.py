"""The Zynq export of an overlay: one AXI IP per instance, DMAs only for unchained ports.

What is tested: the instances' AXI IPs, chained as the block design chains
them, in cocotb with cocotbext-axi against the composed golden models; the
files (driver metadata, .hwh, Tcl against the Vivado model of
``test_zynq.py``); the CLI and its one-line errors.
"""

import json
import os
from xml.etree import ElementTree

import pytest

from hetflow.boards.zynq.overlay import OverlayLayout
from hetflow.boards.zynq.overlay_export import export_overlay_pynq_ip
from hetflow.boards.zynq.overlay_verify import verify_overlay_axi
from hetflow.hw.overlay import Overlay, load_overlay

from ..conftest import PIPELINE_TOML as PIPELINE, one_line_error
from .test_zynq import hetflow, leftovers, needs_tcl, run_tcl, verilog_ports

def small():
    """A chain FIR -> CRC-32 and an independent saxpy: small enough to build in CI."""
    ov = Overlay("small")
    ov.add("fir0", "fir", taps=2)
    ov.add("crc0", "crc32", lanes=4)
    ov.add("sx0", "saxpy", lanes=1)
    ov.connect("fir0.y", "crc0.data", depth=4, reinterpret=True)
    return ov


@pytest.fixture
def pipeline(pipeline_toml):
    return pipeline_toml


# ---- the design ------------------------------------------------------------------------

def test_dmas_serve_only_unchained_ports(pipeline):
    layout = OverlayLayout(load_overlay(pipeline))
    assert layout.dmas == [("axi_dma_0", ("fir0", "x"), ("crc0", "crc")),
                           ("axi_dma_1", ("gemm0", "a"), None),
                           ("axi_dma_2", ("gemm0", "b"), ("gemm0", "c"))]
    fir, crc = layout.layouts["fir0"], layout.layouts["crc0"]
    y, data = fir.stream("y"), crc.stream("data")
    assert y.chained and y.fifo_depth == 32 and y.out_beats_register is None
    assert data.chained and data.dma is None
    assert [s.port.name for s in fir.outputs] == [] and [s.port.name for s in crc.inputs] == []
    assert crc.stream("crc").out_beats_offset == crc.regmap.size
    assert y.tdata_width == data.tdata_width == 32


def test_axi_ips_of_a_chain_and_an_instance_match_the_composed_models(tmp_path):
    result = verify_overlay_axi(small(), seed=2, count=3, workdir=tmp_path / "sim")
    print(result.summary())
    assert result.passed, "\n".join(result.failures[:20])
    assert result.cases == {"fir0_crc0": 3, "sx0": 3}


@pytest.mark.slow
def test_pipeline_axi_ips_match_the_composed_models(tmp_path, pipeline):
    result = verify_overlay_axi(load_overlay(pipeline), seed=5, count=6, pause=0.5,
                                workdir=tmp_path / "sim")
    print(result.summary())
    assert result.passed, "\n".join(result.failures[:20])
    assert result.cases == {"fir0_crc0": 6, "gemm0": 6}


# ---- the files ---------------------------------------------------------------------------

def test_export_files_driver_metadata_and_handoff(tmp_path, pipeline):
    out = tmp_path / "ov"
    files = export_overlay_pynq_ip(load_overlay(pipeline), out, board="pynq-z2", freq_mhz=100)
    tops = [f"hetflow_pipeline_{n}_axi.v" for n in ("fir0", "crc0", "gemm0")]
    assert sorted(f.name for f in files) == sorted(os.listdir(out)) == sorted(
        tops + ["package_ip.tcl", "build_overlay.tcl", "hetflow_driver.json", "README.md",
                "hetflow_pipeline.hwh", "hetflow_pipeline.bit"])
    meta = json.loads((out / "hetflow_driver.json").read_text())
    assert [i["name"] for i in meta["instances"]] == ["fir0", "crc0", "gemm0"]
    assert meta["chains"] == {"fir0_crc0": ["fir0", "crc0"]}
    fir = meta["instances"][0]
    assert fir["streams"][1] == {"port": "y", "direction": "out", "dtype": "int32", "lanes": 1,
                                 "tdata_width": 32, "beat_bytes": 4, "interface": "m_axis_y",
                                 "chained": "crc0.data", "fifo_depth": 32}
    assert fir["wrapper_registers"] == []
    assert [d["name"] for d in meta["dmas"]] == ["axi_dma_0", "axi_dma_1", "axi_dma_2"]
    assert meta["dmas"][0]["mm2s"] == "fir0.x" and meta["dmas"][0]["s2mm"] == "crc0.crc"

    root = ElementTree.parse(out / "hetflow_pipeline.hwh").getroot()
    ranges = {r.get("INSTANCE"): r.get("BASEVALUE") for r in root.iter("MEMRANGE")
              if r.get("MASTERBUSINTERFACE") == "M_AXI_GP0"}
    assert ranges == {"fir0": "0x40000000", "crc0": "0x40010000", "gemm0": "0x40020000",
                      "axi_dma_0": "0x40400000", "axi_dma_1": "0x40410000",
                      "axi_dma_2": "0x40420000"}
    buses = {}
    for m in root.iter("MODULE"):
        for b in m.iter("BUSINTERFACE"):
            if b.get("VLNV") == "xilinx.com:interface:axis:1.0":
                buses.setdefault(b.get("BUSNAME"), set()).add((m.get("INSTANCE"), b.get("NAME")))
    assert {("fir0", "m_axis_y"), ("crc0", "s_axis_data")} in buses.values()
    assert {("crc0", "m_axis_crc"), ("axi_dma_0", "S_AXIS_S2MM")} in buses.values()
    assert all(len(ends) == 2 for ends in buses.values())


def test_fifo_depth_is_an_ip_parameter_in_the_tcl_and_the_handoff(tmp_path, pipeline):
    out = tmp_path / "ov"
    export_overlay_pynq_ip(load_overlay(pipeline), out, board="pynq-z2", freq_mhz=100)
    root = ElementTree.parse(out / "hetflow_pipeline.hwh").getroot()
    params = {m.get("INSTANCE"): {p.get("NAME"): p.get("VALUE") for p in m.iter("PARAMETER")}
              for m in root.iter("MODULE")}
    assert params["fir0"]["HETFLOW_FIFO_Y"] == "32"         # the producer holds the FIFO
    assert not any(k.startswith("HETFLOW_FIFO_") for k in (*params["crc0"], *params["gemm0"]))
    tcl = (out / "package_ip.tcl").read_text()
    assert tcl.count("HETFLOW_FIFO_") == 1 and " HETFLOW_FIFO_Y 32 long}" in tcl


@needs_tcl
def test_overlay_tcl_runs_against_the_vivado_model(tmp_path, pipeline):
    out = tmp_path / "ov"
    export_overlay_pynq_ip(load_overlay(pipeline), out, board="pynq-z1", freq_mhz=125)
    layout = OverlayLayout(load_overlay(pipeline))
    ports = {lay.top: verilog_ports((out / f"{lay.top}.v").read_text(), lay.top)
             for lay in layout.layouts.values()}
    run_tcl(out / "package_ip.tcl", {}, ip_ports=ports)
    for lay in layout.layouts.values():
        assert (out / "ip" / lay.top / "component.xml").read_text().strip() == lay.vlnv
    tcl = run_tcl(out / "build_overlay.tcl", {}, ip_ports=ports)
    assert (out / "hetflow_pipeline.bit").read_bytes() == b""      # Vivado's, from the model
    cells = set(tcl.eval("dict keys $vm::cells").split())
    assert {"fir0", "crc0", "gemm0", "axi_dma_0", "axi_dma_1", "axi_dma_2"} <= cells
    assert tcl.eval("dict get $vm::intf_peer /fir0/m_axis_y") == "/crc0/s_axis_data"
    assert tcl.eval("dict get $vm::intf_peer /crc0/m_axis_crc") == "/axi_dma_0/S_AXIS_S2MM"
    assert tcl.eval("vm::cfg axi_dma_1 c_include_s2mm 1") == "0"


# ---- the CLI -----------------------------------------------------------------------------

def test_cli_exports_an_overlay(tmp_path, pipeline):
    out = tmp_path / "ov"
    proc = hetflow("export", "--overlay", str(pipeline), "--format", "pynq-ip", "--board",
                   "pynq-z2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "hetflow_pipeline.hwh" in os.listdir(out) and leftovers(tmp_path) == []


@pytest.mark.parametrize("args,message", [
    (["saxpy", "--overlay", "{ov}"],
     "--format pynq-ip exports a KERNEL or an --overlay FILE; give one of them"),
    ([], "--format pynq-ip exports a KERNEL or an --overlay FILE; give one of them"),
    (["--overlay", "{ov}", "--param", "taps=4"],
     "--overlay takes the parameters of each instance from its file; drop --param taps=4"),
    (["--overlay", "{bad}"], "{tmp}/bad.toml:9: stream from = 'fir0.z': fir has no port 'z'; "
                             "its ports are: x (input), y (output)"),
])
def test_cli_bad_overlay_input_is_one_line(tmp_path, pipeline, args, message):
    (tmp_path / "bad.toml").write_text(PIPELINE.replace('"fir0.y"', '"fir0.z"'))
    subs = {"{ov}": str(pipeline), "{bad}": str(tmp_path / "bad.toml")}
    args = [subs.get(a, a) for a in args]
    one_line_error(hetflow("export", *args, "--format", "pynq-ip", "--board", "pynq-z2",
                           "--out", str(tmp_path / "x")), message.replace("{tmp}", str(tmp_path)))
    assert not (tmp_path / "x").exists() and leftovers(tmp_path) == []


def test_cli_overlay_needs_pynq_format(pipeline):
    one_line_error(hetflow("export", "saxpy", "--overlay", str(pipeline), "-f", "c-header"),
                   "--overlay applies only to --format pynq-ip, not c-header")


def test_cli_other_formats_need_a_kernel():
    one_line_error(hetflow("export", "--format", "c-header"),
                   "--format c-header needs a KERNEL")
