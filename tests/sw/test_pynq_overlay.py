"""``pynq.Overlay("design.bit")`` on the simulated Zynq, from what ``hetflow export`` writes.

The export writes the design's hardware handoff (``.hwh``) and a placeholder
``.bit``; PYNQ's own ``Overlay`` class and hwh parser load them, and a PYNQ
script (allocate, DMA transfers, register map) runs against the golden
models: a kernel's export, and an overlay's (the demo's ``pipeline``, FIR ->
CRC-32 chained and GEMM alone, so the virtual board's build is shared with
the other overlay tests).  Runs in the PYNQ venv (pynq pins numpy<2).
"""

import shutil
import sys
import zlib

import numpy as np
import pytest

import hetflow
from hetflow.boards.zynq import export_pynq_ip
from hetflow.boards.zynq.overlay_export import export_overlay_pynq_ip
from hetflow.demo import demo_overlay
from hetflow.hw.errors import HetflowError
from hetflow.hw.overlay import compose
from hetflow.hw.registry import get_kernel

pynq = pytest.importorskip("pynq", reason="pynq needs numpy<2: run in the PYNQ venv "
                                          "(pip install -e '.[test,pynq]')")


@pytest.fixture
def sim():
    import hetflow.pynq_sim as ps
    yield ps
    ps.device().close()


def export(tmp_path, kernel, freq_mhz=100, **params):
    out = tmp_path / f"{kernel}-export"
    export_pynq_ip(kernel, params, out, board="pynq-z2", freq_mhz=freq_mhz)
    return out / f"hetflow_{kernel}.bit"


def saxpy_script(bitfile, n, a, lanes):
    """A PYNQ board script for saxpy, unchanged from what a PYNQ-Z2 would run."""
    ol = pynq.Overlay(str(bitfile))
    ip = ol.hetflow_saxpy_0
    x = pynq.allocate(shape=(n,), dtype=np.int32)
    y = pynq.allocate(shape=(n,), dtype=np.int32)
    z = pynq.allocate(shape=(n,), dtype=np.int32)
    rng = np.random.default_rng(1)
    x[:] = rng.integers(-2**31, 2**31, n, dtype=np.int64)
    y[:] = rng.integers(-2**31, 2**31, n, dtype=np.int64)
    ip.register_map.len = n
    ip.register_map.a = a & 0xFFFFFFFF
    ip.register_map.out_beats_z = -(-n // lanes)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_1.sendchannel.transfer(y)
    ol.axi_dma_1.recvchannel.transfer(z)
    ip.write(0x00, 1)
    ol.axi_dma_0.sendchannel.wait()
    ol.axi_dma_1.sendchannel.wait()
    ol.axi_dma_1.recvchannel.wait()
    return ol, np.asarray(x).copy(), np.asarray(y).copy(), np.asarray(z).copy()


def test_overlay_from_the_export_runs_a_pynq_script(sim, tmp_path):
    bit = export(tmp_path, "saxpy", lanes=2)
    n, a = 1001, -7
    ol, x, y, z = saxpy_script(bit, n, a, lanes=2)
    assert type(ol) is pynq.Overlay and ol.is_loaded()
    cls = get_kernel("saxpy")
    golden = cls.golden(cls.bind(lanes=2), {"x": x, "y": y}, {"a": a})["z"]
    assert np.array_equal(z, golden)
    assert ol.hetflow_saxpy_0.register_map.status.done == 1
    assert ol.axi_dma_1.recvchannel.transferred == 4 * n       # the buffer, filled to TLAST
    assert isinstance(ol.hetflow_saxpy_0, sim.HetflowIP)
    assert ol.hetflow_saxpy_0.kernel_id == zlib.crc32(b"saxpy")
    assert sim.device().kernel.p == {"lanes": 2}               # the parameters the .hwh gives


def test_overlay_and_pynq_sim_overlay_describe_the_same_design(sim, tmp_path):
    bit = export(tmp_path, "crc32", lanes=4)
    loaded = pynq.Overlay(str(bit)).ip_dict
    built = sim.overlay("crc32", lanes=4).ip_dict
    assert set(built) <= set(loaded) and set(loaded) - set(built) == {"processing_system7_0"}
    for name, want in built.items():
        have = loaded[name]
        for key in ("type", "phys_addr", "addr_range", "mem_id"):
            assert have[key] == want[key], (name, key)
        assert have["registers"] == want["registers"], name
        for key, value in want["parameters"].items():
            # HETFLOW_MM2S_PORT / _S2MM_PORT say which stream an engine carries; a
            # handoff says it with its stream connections instead.
            if key.startswith(("HETFLOW_", "c_include_", "c_m_axis", "c_s_axis", "c_sg_")) \
                    and not key.endswith("_PORT"):
                assert have["parameters"][key] == value, (name, key)


def test_crc32_through_one_dma_engine_both_ways(sim, tmp_path):
    ol = pynq.Overlay(str(export(tmp_path, "crc32")))
    data = pynq.allocate(3001, np.uint8)
    crc = pynq.allocate(1, np.uint32)
    data[:] = np.random.default_rng(2).integers(0, 256, 3001, dtype=np.uint8)
    ol.hetflow_crc32_0.register_map.len = 3001
    ol.hetflow_crc32_0.register_map.out_beats_crc = 1
    ol.axi_dma_0.recvchannel.transfer(crc)
    ol.axi_dma_0.sendchannel.transfer(data)
    ol.hetflow_crc32_0.start()
    ol.axi_dma_0.recvchannel.wait()
    assert int(crc[0]) == zlib.crc32(np.asarray(data).tobytes())


def test_overlay_sets_fclk0_as_the_handoff_says(sim, tmp_path):
    # 125 MHz asked: the PS7 makes 1600 / 13 = 123.08 MHz, the .hwh's achieved rate,
    # and PYNQ's Clocks programs the simulated SLCR to it.
    pynq.Overlay(str(export(tmp_path, "dot", freq_mhz=125)))
    assert pynq.Clocks.fclk0_mhz == pytest.approx(1600 / 13, rel=1e-6)
    pynq.Overlay(str(export(tmp_path, "crc32")))
    assert pynq.Clocks.fclk0_mhz == pytest.approx(100.0)


def test_hetflow_open_pynq_with_the_exported_bitfile(sim, tmp_path):
    bit = export(tmp_path, "fir", taps=8)
    x = np.arange(-300, 300, dtype=np.int16)
    h = np.arange(8, dtype=np.int16)
    with hetflow.open("cpu") as cpu:
        want = cpu.kernel("fir", taps=8)(x, h=h)
    with hetflow.open("pynq", bitfile=str(bit)) as dev:
        assert np.array_equal(dev.kernel("fir", taps=8)(x, h=h), want)


def test_unreadable_handoff_is_one_line(sim, tmp_path):
    bit = export(tmp_path, "crc32")
    hwh = bit.with_suffix(".hwh")
    hwh.write_text("<EDKSYSTEM><MODULES>")
    with pytest.raises(HetflowError) as info:
        pynq.Overlay(str(bit))
    assert str(info.value).startswith(f"{hwh}: PYNQ's hwh parser cannot read it: ")
    assert "\n" not in str(info.value)


def test_handoff_without_a_hetflow_kernel_is_refused(sim, tmp_path):
    bit = export(tmp_path, "crc32")
    hwh = bit.with_suffix(".hwh")
    hwh.write_text(hwh.read_text().replace("hetflow:hetflow:hetflow_crc32_axi:1.0",
                                           "acme.com:ip:mystery:1.0"))
    with pytest.raises(HetflowError) as info:
        pynq.Overlay(str(bit))
    assert str(info.value) == ("hetflow_crc32.hwh: the simulated Zynq runs designs of hetflow "
                               "kernel IPs; this one has none")


def test_placeholder_bit_is_a_bit_file_without_configuration_data(tmp_path):
    from pynq.pl_server.embedded_device import parse_bit_header
    header = parse_bit_header(export(tmp_path, "saxpy").read_bytes())
    assert header["design"] == "hetflow_saxpy" and header["part"] == "7z020clg400"
    assert header["length"] == "0" and header["data"] == b""


# ---- an overlay export: one IP per instance, DMAs for the unchained ports --------------

RNG = np.random.default_rng(11)
X = RNG.integers(-2**15, 2**15, 301, dtype=np.int16)
H = RNG.integers(-2**15, 2**15, 16, dtype=np.int16)
A = RNG.integers(-128, 128, (2, 9), dtype=np.int8)
B = RNG.integers(-128, 128, (9, 4), dtype=np.int8)


@pytest.fixture(scope="module")
def pipeline_export(tmp_path_factory):
    """The export of the pipeline, made once (its three IPs take seconds); tests that
    edit it edit a copy."""
    out = tmp_path_factory.mktemp("pipeline") / "ov"
    export_overlay_pynq_ip(demo_overlay(), out, board="pynq-z2", freq_mhz=100)
    return out


def pipeline_script(bitfile):
    """A PYNQ board script for the pipeline overlay, as a PYNQ-Z2 would run it."""
    ol = pynq.Overlay(str(bitfile))
    n, k = len(X), A.shape[1]
    x = pynq.allocate(shape=(n,), dtype=np.int16)
    crc = pynq.allocate(shape=(1,), dtype=np.uint32)
    a = pynq.allocate(shape=(k, 2), dtype=np.int8)           # gemm streams A by columns
    b = pynq.allocate(shape=(k, 4), dtype=np.int8)
    c = pynq.allocate(shape=(2, 4), dtype=np.int32)
    x[:], a[:], b[:] = X, A.T, B
    # The chain: FIR's taps and length, CRC-32 of the FIR's int32 output bytes.
    ol.fir0.register_map.len = n
    for i, tap in enumerate(H):
        ol.fir0.write(0x20 + 4 * i, int(tap) & 0xFFFFFFFF)
    ol.crc0.register_map.len = 4 * n
    ol.crc0.register_map.out_beats_crc = 1
    ol.gemm0.register_map.len = k
    ol.gemm0.register_map.out_beats_c = 2
    ol.axi_dma_0.recvchannel.transfer(crc)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_2.recvchannel.transfer(c)
    ol.axi_dma_1.sendchannel.transfer(a)
    ol.axi_dma_2.sendchannel.transfer(b)
    ol.gemm0.write(0x00, 1)                  # the GEMM first, alone
    for channel in (ol.axi_dma_1.sendchannel, ol.axi_dma_2.sendchannel,
                    ol.axi_dma_2.recvchannel):
        channel.wait()
    queued = not ol.axi_dma_0.sendchannel.idle and not ol.axi_dma_0.recvchannel.idle
    ol.crc0.write(0x00, 1)                   # then the chain, its last instance first
    ol.fir0.write(0x00, 1)
    ol.axi_dma_0.sendchannel.wait()
    ol.axi_dma_0.recvchannel.wait()
    return ol, int(crc[0]), np.asarray(c).copy(), queued


def test_pynq_script_drives_the_chain_and_gemm_of_an_overlay_export(sim, pipeline_export):
    ol, crc, c, queued = pipeline_script(pipeline_export / "hetflow_pipeline.bit")
    assert type(ol) is pynq.Overlay and ol.is_loaded()
    assert queued                   # the chain's transfers waited for the chain's start
    overlay = demo_overlay()
    chain = overlay.chains["fir0_crc0"]
    golden = compose(overlay, chain, {("fir0", "x"): X}, {"fir0": {"h": H}})
    y = (np.convolve(X.astype(np.int64), H.astype(np.int64))[:len(X)]
         & 0xFFFFFFFF).astype("<u4")
    assert crc == int(golden[("crc0", "crc")][0]) == zlib.crc32(y.tobytes())
    assert np.array_equal(c, A.astype(np.int32) @ B.astype(np.int32))
    for ip in ("fir0", "crc0", "gemm0"):
        assert getattr(ol, ip).register_map.status.done == 1
        assert isinstance(getattr(ol, ip), sim.HetflowIP)
    assert ol.crc0.kernel_id == zlib.crc32(b"crc32")
    assert ol.axi_dma_0.recvchannel.transferred == 4 and ol.axi_dma_2.recvchannel.transferred == 32
    dev = sim.device()
    assert dev.kernel is None and dev.design.design.describe() == overlay.describe()
    assert dev.board.boardmap.name == "pipeline"


def test_the_overlay_is_rebuilt_from_the_handoff(sim, pipeline_export):
    from hetflow.pynq_sim_handoff import handoff_design, read_handoff
    bit = pipeline_export / "hetflow_pipeline.bit"
    design = handoff_design(bit, read_handoff(bit))
    assert design.design.describe() == demo_overlay().describe()    # depth 32, reinterpret
    assert [(w.ip, w.base, w.offset, w.outputs) for w in design.windows] == [
        ("fir0", 0x4000_0000, 0x0000, ()), ("crc0", 0x4001_0000, 0x1000, ("crc",)),
        ("gemm0", 0x4002_0000, 0x2000, ("c",))]
    assert [(e.name, e.mm2s, e.s2mm) for e in design.engines] == [
        ("axi_dma_0", ("fir0", "x"), ("crc0", "crc")), ("axi_dma_1", ("gemm0", "a"), None),
        ("axi_dma_2", ("gemm0", "b"), ("gemm0", "c"))]


def _edit_handoff(export, tmp_path, old, new):
    """A copy of ``export`` in ``tmp_path`` with ``old`` replaced by ``new`` in its .hwh."""
    copy = tmp_path / "ov"
    shutil.copytree(export, copy)
    hwh = copy / "hetflow_pipeline.hwh"
    text = hwh.read_text()
    assert old in text
    hwh.write_text(text.replace(old, new))
    return copy / "hetflow_pipeline.bit"


def test_chained_stream_without_its_fifo_depth_is_one_line(sim, pipeline_export, tmp_path):
    bit = _edit_handoff(pipeline_export, tmp_path, 'NAME="HETFLOW_FIFO_Y"', 'NAME="HETFLOW_FIFO_Z"')
    with pytest.raises(HetflowError) as info:
        pynq.Overlay(str(bit))
    assert str(info.value) == (
        "hetflow_pipeline.hwh: fir0/m_axis_y streams to crc0/s_axis_data, but fir0 has no IP "
        "parameter HETFLOW_FIFO_Y (the stream's FIFO depth); export the overlay again with "
        "hetflow export --overlay")


def test_kernel_ips_of_two_overlays_are_one_line(sim, pipeline_export, tmp_path):
    bit = _edit_handoff(pipeline_export, tmp_path, "hetflow_pipeline_gemm0_axi:",
                        "hetflow_other_gemm0_axi:")
    with pytest.raises(HetflowError) as info:
        pynq.Overlay(str(bit))
    assert str(info.value) == ("hetflow_pipeline.hwh: the kernel IPs come from 2 overlays "
                               "(pipeline: fir0, crc0; other: gemm0); the simulated Zynq runs "
                               "one overlay")



@pytest.mark.parametrize("old,new,message", [
    ("hetflow_pipeline_gemm0_axi:", "hetflow_pipeline_gemm1_axi:",
     "IP gemm0 is of type hetflow:hetflow:hetflow_pipeline_gemm1_axi:1.0, not "
     "hetflow:hetflow:hetflow_<overlay>_gemm0_axi:...; the simulated Zynq runs several kernel "
     "IPs as one overlay exported by hetflow export --overlay, each cell named after its "
     "instance"),
    ('NAME="HETFLOW_TAPS" VALUE="16"', 'NAME="HETFLOW_TAPS" VALUE="sixteen"',
     "fir0's IP parameter HETFLOW_TAPS = 'sixteen' is no whole number"),
    ('NAME="HETFLOW_FIFO_Y" VALUE="32"', 'NAME="HETFLOW_FIFO_Y" VALUE="0"',
     "stream fir0.y -> crc0.data: depth = 0 must be a whole number of beats from 1 to 4096"),
    ('NAME="s_axis_data"', 'NAME="s_axis_date"',
     "fir0/m_axis_y is wired to crc0/s_axis_date, which is no stream input of crc0"),
    ('HIGHVALUE="0x40010FFF"', 'HIGHVALUE="0x4001003F"',
     "crc0 has a 64-byte window; the AXI wrapper of crc32 needs 4096"),
])
def test_handoff_the_overlay_cannot_be_rebuilt_from_is_one_line(sim, pipeline_export, tmp_path,
                                                                old, new, message):
    bit = _edit_handoff(pipeline_export, tmp_path, old, new)
    with pytest.raises(HetflowError) as info:
        pynq.Overlay(str(bit))
    assert str(info.value) == f"hetflow_pipeline.hwh: {message}"

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
