"""An overlay export on the PYNQ device: the same host script as on the cpu.

``hetflow.open("pynq", bitfile="hetflow_pipeline.bit")`` of the export of
``pipeline.toml`` (FIR -> CRC-32 chained, GEMM alone), on the simulated Zynq
(its virtual board's build is the one the other overlay tests share).  Runs in
the PYNQ venv (pynq pins numpy<2).
"""

import re
import shutil
import time
import zlib

import numpy as np
import pytest

import hetflow
from hetflow.boards.zynq.overlay_export import export_overlay_pynq_ip
from hetflow.hw.errors import HetflowError
from hetflow.hw.overlay import Overlay, as_overlay
from hetflow.overlays import compute_units, start_together

from ..conftest import PIPELINE_TOML, refuses_what_the_pipeline_does_not_offer
from .test_sim_overlays import A, B, H, X, fir, script

pynq = pytest.importorskip("pynq", reason="pynq needs numpy<2: run in the PYNQ venv "
                                          "(pip install -e '.[test,pynq]')")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """``pipeline.toml`` and its Zynq export (made once: its three IPs take seconds), on
    the simulated Zynq."""
    import hetflow.pynq_sim            # registers the simulated Zynq with PYNQ
    root = tmp_path_factory.mktemp("pipeline")
    toml = root / "pipeline.toml"
    toml.write_text(PIPELINE_TOML)
    export_overlay_pynq_ip(as_overlay(toml), root / "ov", board="pynq-z2", freq_mhz=100)
    yield toml, root / "ov" / "hetflow_pipeline.bit"
    hetflow.pynq_sim.device().close()


def _expected():
    return zlib.crc32(fir(X, H).tobytes()), A.astype(np.int32) @ B.astype(np.int32)


def test_one_script_on_cpu_and_pynq(pipeline):
    toml, bit = pipeline
    with hetflow.open("cpu", overlay=toml) as dev:
        cpu = script(dev)
    with hetflow.open("pynq", bitfile=str(bit)) as dev:
        assert dev.design.describe() == as_overlay(toml).describe()
        pl = script(dev)
        chain = dev.fir0_crc0
        assert chain.last_cycles >= len(X) and chain.last_link is None
    with hetflow.open("pynq", bitfile=str(bit), overlay=toml) as dev:    # the design it carries
        pl2 = script(dev)
    crc, c = _expected()
    for result in (cpu, pl, pl2):
        assert result["kernels"] == ["fir0", "crc0", "gemm0"]
        assert result["chains"] == ["fir0_crc0"]
        assert result["crc"][0] == result["crc2"][0] == crc
        np.testing.assert_array_equal(result["c"], c)
        np.testing.assert_array_equal(result["c2"], c)


def test_calls_started_together_run_at_once_and_the_chain_in_the_pl(pipeline):
    _, bit = pipeline
    ol = pynq.Overlay(str(bit))
    with hetflow.open("pynq", overlay=ol) as dev:
        batches = []
        run_jobs = dev._design.run_jobs

        def recorded(jobs, order=None, **kwargs):
            batches.append((sorted(jobs), order))
            return run_jobs(jobs, order, **kwargs)
        dev._design.run_jobs = recorded
        runs = start_together(dev, [(dev.gemm0, (A, B), {}), (dev.fir0_crc0, (X,), {"h": H})])
        c, crc = (run.wait(timeout=30) for run in runs)
        assert (int(crc[0]), c.tolist()) == (_expected()[0], _expected()[1].tolist())
        # The GEMM's first tile (of 4 x 2 tiles: 7 x 6 on a 2 x 4 array) and the chain in
        # one batch: every instance started, the chain's last first, then one wait.
        assert batches == [(["crc0", "fir0", "gemm0"], ["gemm0", "crc0", "fir0"])] \
            + [(["gemm0"], ["gemm0"])] * 7
        # The FIR's output went from its FIFO to the CRC in the PL: the chain's DMA
        # moved x (int16) in and the CRC's one word back, no int32 signal.
        assert ol.axi_dma_0.recvchannel.transferred == 4
        assert dev.gemm0.last_cycles > 0 and dev.fir0_crc0.last_cycles >= len(X)
        # To a scheduler, the lone instance and the chain are units of their own.
        assert [u.label for u in compute_units("pynq", dev)] == ["pynq:gemm0",
                                                                 "pynq:fir0_crc0"]


def test_what_the_design_does_not_carry_is_one_line(pipeline):
    _, bit = pipeline
    with hetflow.open("pynq", bitfile=str(bit)) as dev:
        refuses_what_the_pipeline_does_not_offer(dev, X, H)
        assert dev.kernel("gemm", rows=2, cols=4) is dev.gemm0
    other = Overlay("other")
    other.add("fir0", "fir", taps=8)
    with pytest.raises(HetflowError) as info:
        hetflow.open("pynq", bitfile=str(bit), overlay=other)
    assert str(info.value) == (
        f"device 'pynq': {bit} carries the overlay pipeline (fir0, crc0, gemm0), not the "
        f"overlay other (fir0); open it without overlay= to use what the design carries")


def test_a_kernel_design_asked_for_an_overlay_names_its_kernel_ip(pipeline):
    toml, _ = pipeline
    import hetflow.pynq_sim
    from hetflow.overlays import attach
    with hetflow.open("pynq", overlay=hetflow.pynq_sim.overlay("crc32")) as dev:
        assert dev.design is None and dev.kernels == {}        # a kernel's device, as before
        with pytest.raises(HetflowError) as info:
            attach(dev, toml)           # what hetflow.open("pynq", ..., overlay=FILE) does
    assert str(info.value) == (
        "device 'pynq': <hetflow simulated crc32> carries the kernel IP(s) hetflow_crc32_0, "
        "not the overlay pipeline (fir0, crc0, gemm0); open it without overlay= to use what "
        "the design carries")


def _copy(bit, tmp_path):
    shutil.copytree(bit.parent, tmp_path / "ov")
    return tmp_path / "ov" / bit.name


def test_an_overlay_export_without_its_handoff_is_one_line(pipeline, tmp_path):
    bit = _copy(pipeline[1], tmp_path)
    ol = pynq.Overlay(str(bit))
    bit.with_suffix(".hwh").unlink()
    with pytest.raises(HetflowError) as info:
        hetflow.open("pynq", overlay=ol)
    assert str(info.value) == (
        f"device 'pynq': {bit} holds an overlay export; its streams are read from the "
        f"hardware handoff {bit.with_suffix('.hwh')}, which is not there (Vivado writes it "
        f"beside the bitstream)")


def test_an_unchained_port_without_a_dma_is_one_line(pipeline, tmp_path):
    bit = _copy(pipeline[1], tmp_path)
    hwh = bit.with_suffix(".hwh")
    old = 'BUSNAME="crc0_m_axis_crc" NAME="S_AXIS_S2MM"'
    assert old in hwh.read_text()
    hwh.write_text(hwh.read_text().replace(old, 'BUSNAME="unconnected" NAME="S_AXIS_S2MM"'))
    with pytest.raises(HetflowError) as info:
        # Not downloaded: the simulated Zynq refuses such a design itself when it loads it.
        hetflow.open("pynq", bitfile=str(bit), download=False)
    assert str(info.value) == (
        "hetflow_pipeline.hwh: no AXI DMA serves crc0's stream(s) crc; the design carries "
        "axi_dma_0, axi_dma_1, axi_dma_2 for the overlay pipeline")


def test_a_dma_of_another_width_than_its_port_is_one_line(pipeline, tmp_path):
    bit = _copy(pipeline[1], tmp_path)
    hwh = bit.with_suffix(".hwh")
    old = 'NAME="c_m_axis_mm2s_tdata_width" VALUE="16"'      # axi_dma_0's, the first
    hwh.write_text(hwh.read_text().replace(old, old.replace("16", "32"), 1))
    with pytest.raises(HetflowError) as info:
        hetflow.open("pynq", bitfile=str(bit), download=False)
    assert str(info.value) == ("hetflow_pipeline.hwh: axi_dma_0 carries fir0.x in 32-bit beats; "
                               "the port needs 16-bit beats (c_m_axis_mm2s_tdata_width)")


def test_kernel_ips_of_two_overlays_are_one_line(pipeline, tmp_path):
    bit = _copy(pipeline[1], tmp_path)
    hwh = bit.with_suffix(".hwh")
    hwh.write_text(hwh.read_text().replace("hetflow_pipeline_gemm0_axi:",
                                           "hetflow_other_gemm0_axi:"))
    with pytest.raises(HetflowError) as info:
        hetflow.open("pynq", bitfile=str(bit), download=False)
    assert str(info.value) == ("hetflow_pipeline.hwh: the kernel IPs come from 2 overlays "
                               "(pipeline: fir0, crc0; other: gemm0); device 'pynq' runs one "
                               "overlay")


def test_an_instance_that_never_finishes_times_out_then_reports_busy(pipeline):
    from hetflow.hw.overlay import derive_jobs
    _, bit = pipeline
    with hetflow.open("pynq", bitfile=str(bit), timeout=0.5) as dev:
        chain = dev.design.chains["fir0_crc0"]
        jobs = derive_jobs(dev.design, chain, {("fir0", "x"): X}, {"fir0": {"h": H}})
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            # The CRC started without its producer: it waits for a stream that never comes.
            dev._design.run_jobs(jobs, order=["crc0"])
        assert time.monotonic() - t0 < 3
        found = re.fullmatch(r"fir0 and crc0 on pynq did not finish within 0\.5 s \(waited "
                             r"(\d\.\d\d) s; fir0 status=0x0, crc0 status=0x1\)", str(info.value))
        # Waited: the deadline, plus the last poll (on the simulated Zynq a status read runs
        # the board for 100,000 cycles, longer on a loaded machine).
        assert found and 0.5 <= float(found.group(1)) < 3
        with pytest.raises(HetflowError) as info:
            dev.fir0_crc0(X, h=H)
        assert str(info.value) == ("crc0 on pynq is still busy from an earlier call that timed "
                                   "out; reload the overlay to reset the PL")
    with hetflow.open("pynq", bitfile=str(bit)) as dev:       # reloaded: the PL runs again
        assert dev.fir0_crc0(X, h=H)[0] == _expected()[0]


def test_an_abandoned_call_releases_the_device(pipeline):
    from hetflow.device import Run
    from hetflow.hw.overlay import derive_jobs
    _, bit = pipeline
    with hetflow.open("pynq", bitfile=str(bit), timeout=30) as dev:
        chain = dev.design.chains["fir0_crc0"]
        jobs = derive_jobs(dev.design, chain, {("fir0", "x"): X}, {"fir0": {"h": H}})
        hung = dev._submit(lambda: dev._design.run_jobs(jobs, order=["crc0"]))
        with pytest.raises(TimeoutError, match=r"^kernel 'fir0_crc0' on pynq did not finish "
                                               r"within 0\.3 s"):
            Run(dev.fir0_crc0, hung, time.monotonic()).wait(timeout=0.3)
        t0 = time.monotonic()           # the abandoned worker gives up at its next poll
        with pytest.raises(HetflowError, match=r"^crc0 on pynq is still busy"):
            dev.fir0_crc0(X, h=H, timeout=5)
        assert time.monotonic() - t0 < 2
