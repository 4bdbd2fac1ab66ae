"""``pynq.Overlay("design.bit")`` on the simulated Zynq, from what ``hetflow export`` writes.

The export writes the design's hardware handoff (``.hwh``) and a placeholder
``.bit``; PYNQ's own ``Overlay`` class and hwh parser load them, and a PYNQ
script (allocate, DMA transfers, register map) runs against the golden
models.  Runs in the PYNQ venv (pynq pins numpy<2).
"""

import sys
import zlib

import numpy as np
import pytest

import hetflow
from hetflow.boards.zynq import export_pynq_ip
from hetflow.hw.errors import HetflowError
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
    assert str(info.value) == ("hetflow_crc32.hwh: the simulated Zynq runs a design with one "
                               "hetflow kernel IP (its virtual board runs one kernel); this one "
                               "has 0 (none)")


def test_placeholder_bit_is_a_bit_file_without_configuration_data(tmp_path):
    from pynq.pl_server.embedded_device import parse_bit_header
    header = parse_bit_header(export(tmp_path, "saxpy").read_bytes())
    assert header["design"] == "hetflow_saxpy" and header["part"] == "7z020clg400"
    assert header["length"] == "0" and header["data"] == b""


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
