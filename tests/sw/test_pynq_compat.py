"""PYNQ compatibility: the real ``pynq`` package against the simulated Zynq.

``pynq`` pins numpy<2, so these tests run in a second environment
(``pip install -e ".[test,pynq]"``); where ``import pynq`` fails they are
skipped, and only the check that ``open("pynq")`` names the install runs.
"""

import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import hetflow
from hetflow.hw.errors import HetflowError
from hetflow.hw.registry import get_kernel

try:
    import pynq
    PYNQ_ERROR = None
except ImportError as exc:      # not installed, or broken by numpy 2
    pynq = None
    PYNQ_ERROR = str(exc)

needs_pynq = pytest.mark.skipif(
    pynq is None, reason=f"pynq is not importable ({PYNQ_ERROR}); it needs numpy<2, so run "
                         f"these in a second venv: pip install -e '.[test,pynq]'")

ROOT = Path(__file__).parents[2]
RNG = np.random.default_rng(5)


def ints(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.fixture
def sim():
    """The hetflow.pynq_sim module; closes the simulated board after the test."""
    import hetflow.pynq_sim as ps
    yield ps
    ps.device().close()


@pytest.fixture(scope="module")
def cpu():
    with hetflow.open("cpu") as dev:
        yield dev


def golden(name, inputs, scalars, **params):
    cls = get_kernel(name)
    return cls.golden(cls.bind(**params), inputs, scalars)


# ---- without pynq -------------------------------------------------------------------------

@pytest.mark.skipif(pynq is not None, reason="pynq is installed")
def test_open_pynq_without_pynq_names_the_install():
    from hetflow.tools import install_command
    with pytest.raises(HetflowError, match=r"^device 'pynq' needs the pynq package \(.*pynq.*\); "
                                           r"install it with: (.*)$") as exc:
        hetflow.open("pynq", bitfile="design.bit")
    assert str(exc.value).endswith(install_command("pynq"))


def test_dma_plan_gives_each_input_an_engine_and_outputs_the_last():
    from hetflow.backends.pynq import dma_plan

    def plan(name):
        cls = get_kernel(name)
        p = cls.bind()
        return [(src and src.name, dst and dst.name)
                for src, dst in dma_plan(cls.inputs(p), cls.outputs(p))]
    assert plan("saxpy") == [("x", None), ("y", "z")]
    assert plan("crc32") == [("data", "crc")]
    assert plan("gemm") == [("a", None), ("b", "c")]


# ---- the device in PYNQ's registry ---------------------------------------------------------

@needs_pynq
def test_simulated_device_is_registered_and_probed_last(sim):
    from pynq.pl_server.device import DeviceMeta
    assert DeviceMeta._subclasses[sim.PROBE_PRIORITY] is sim.SimulatedPynqDevice
    assert sim.PROBE_PRIORITY == max(DeviceMeta._subclasses)
    assert sim.device() in pynq.Device.devices
    sim.overlay("saxpy")
    assert pynq.Device.active_device is sim.device()
    assert sim.device().has_capability("REGISTER_RW")
    assert not sim.device().has_capability("MEMORY_MAPPED")


@needs_pynq
def test_mmio_reads_the_id_register(sim):
    ol = sim.overlay("saxpy")
    desc = ol.ip_dict["hetflow_saxpy_0"]
    assert desc["phys_addr"] == sim.KERNEL_BASE and desc["addr_range"] == 0x1000
    assert desc["type"] == "hetflow:hetflow:hetflow_saxpy_axi:1.0"
    mmio = pynq.MMIO(desc["phys_addr"], desc["addr_range"])   # default device: the active one
    assert mmio.read(0x14) == zlib.crc32(b"saxpy")
    assert ol.hetflow_saxpy_0.read(0x14) == zlib.crc32(b"saxpy")
    assert ol.hetflow_saxpy_0.kernel_id == zlib.crc32(b"saxpy")


@needs_pynq
def test_register_map_write_and_read(sim):
    ol = sim.overlay("saxpy")
    rm = ol.hetflow_saxpy_0.register_map
    rm.a = 7
    rm.len = 1234
    assert int(rm.a) == 7 and int(rm.len) == 1234
    mmio = pynq.MMIO(sim.KERNEL_BASE, ol.ip_dict["hetflow_saxpy_0"]["addr_range"])
    assert mmio.read(ol.kernel.map["a"].offset) == 7
    mmio.write(ol.kernel.map["a"].offset, (-3) & 0xFFFFFFFF)
    assert int(rm.a) == 0xFFFFFFFD
    assert rm.status.busy == 0 and rm.status.done == 0
    assert int(rm.id) == zlib.crc32(b"saxpy")
    with pytest.raises(AttributeError):      # PYNQ gives read-only registers no setter
        rm.status = 1
    rm.out_beats_z = 250                     # the AXI wrapper's register, above the kernel's
    assert int(rm.out_beats_z) == 250 and mmio.read(ol.kernel.map.size) == 250


def test_wrapper_contract_matches_the_zynq_export():
    from hetflow.backends.pynq import dma_plan, out_beats_offsets, wrapper_window
    zynq = pytest.importorskip("hetflow.boards.zynq")
    for name in ("saxpy", "crc32", "gemm", "conv2d"):
        cls = get_kernel(name)
        p = cls.bind()
        layout = zynq.AxiLayout(cls, p)
        outs = cls.outputs(p)
        assert out_beats_offsets(cls.regmap(p), outs) == \
            {s.port.name: s.out_beats_offset for s in layout.outputs}
        assert wrapper_window(cls.regmap(p), outs) == layout.window
        engines = {}
        for i, (src, dst) in enumerate(dma_plan(cls.inputs(p), outs)):
            engines.update({port.name: f"axi_dma_{i}" for port in (src, dst) if port})
        assert engines == {s.port.name: s.dma for s in layout.streams}


@needs_pynq
def test_register_map_has_array_registers_as_words(sim):
    ol = sim.overlay("fir", taps=4)
    rm = ol.hetflow_fir_0.register_map
    names = [n for n in ol.ip_dict["hetflow_fir_0"]["registers"] if n.startswith("h_")]
    assert names == ["h_0", "h_1", "h_2", "h_3"]
    rm.h_2 = 0x1234
    assert ol.hetflow_fir_0.read(ol.kernel.map.offset("h", 2)) == 0x1234


@needs_pynq
def test_allocate_flush_and_invalidate(sim):
    sim.overlay("saxpy")
    buf = pynq.allocate((3, 100), np.int32)
    assert isinstance(buf, pynq.buffer.PynqBuffer)
    assert buf.physical_address >= sim.DDR_BASE and buf.physical_address % 4096 == 0
    buf[:] = np.arange(300).reshape(3, 100)
    buf.flush()
    ddr = pynq.MMIO(buf.physical_address, buf.nbytes)        # host access to the buffer
    assert [ddr.read(4 * i) for i in (0, 1, 299)] == [0, 1, 299]
    ddr.write(4 * 150, 0xABCD)                                # "the device" writes DDR
    assert buf[1, 50] == 150                                  # not visible before invalidate
    buf.invalidate()
    assert buf[1, 50] == 0xABCD
    row = buf[2]                                              # a view flushes its own range
    row[:] = -1
    row.flush()
    assert ddr.read(4 * 200) == 0xFFFFFFFF and ddr.read(4 * 199) == 199
    other = pynq.allocate(10, np.uint8)
    assert other.physical_address >= buf.physical_address + 4096


@needs_pynq
def test_buffers_survive_loading_another_overlay(sim):
    first = sim.overlay("saxpy")
    buf = pynq.allocate(1000, np.int32)
    buf[:] = np.arange(1000)
    buf.flush()
    second = sim.overlay("crc32")
    buf[:] = 0
    buf.invalidate()
    assert np.array_equal(buf, np.arange(1000))
    assert second.is_loaded() and not first.is_loaded()
    with pytest.raises(RuntimeError, match=r"^Overlay not currently loaded$"):
        first.axi_dma_1
    with pytest.raises(AttributeError, match=r"^Could not find IP or hierarchy axi_dma_1 in "
                                             r"overlay$"):
        second.axi_dma_1


@needs_pynq
def test_freed_buffers_give_their_ddr_back(sim):
    sim.overlay("saxpy")
    a = pynq.allocate(5000, np.uint8)
    address = a.physical_address
    del a
    b = pynq.allocate(5000, np.uint8)
    assert b.physical_address == address
    assert not np.asarray(b).any()


@needs_pynq
def test_memory_size_sets_the_ddr(sim):
    sim.overlay("crc32", memory_size=32 << 20)
    assert sim.device().memory_size == 32 << 20
    assert pynq.Device.active_device is sim.device()
    if sim.SimulatedPynqDevice in [type(d) for d in pynq.Device.devices]:
        assert sim.device() in pynq.Device.devices
    big = pynq.allocate(20 << 20, np.uint8)
    big[-1] = 7
    big.flush()
    assert pynq.MMIO(big.physical_address + (20 << 20) - 4, 4).read(0) == 7 << 24
    with pytest.raises(sim.WindowError, match=r"^pynq.allocate of 16777216 bytes does not fit "
                                              r"in the simulated DDR \(20971520 of 33554432 "
                                              r"bytes in use\); free buffers or pass a larger "
                                              r"memory_size to hetflow.pynq_sim.overlay$"):
        pynq.allocate(16 << 20, np.uint8)


@needs_pynq
@pytest.mark.parametrize("lanes, n", [(1, 3000), (4, 1001)])
def test_dma_transfer_saxpy_equals_golden(sim, lanes, n):
    ol = sim.overlay("saxpy", lanes=lanes)
    x, y, z = (pynq.allocate(n, np.int32) for _ in range(3))
    x[:], y[:] = ints(np.int32, n), ints(np.int32, n)
    ol.hetflow_saxpy_0.register_map.len = n
    ol.hetflow_saxpy_0.register_map.a = -5 & 0xFFFFFFFF
    ol.hetflow_saxpy_0.register_map.out_beats_z = -(-n // lanes)
    ol.axi_dma_1.recvchannel.transfer(z)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_1.sendchannel.transfer(y)
    ol.hetflow_saxpy_0.write(0x00, 1)
    ol.axi_dma_0.sendchannel.wait()
    ol.axi_dma_1.sendchannel.wait()
    ol.axi_dma_1.recvchannel.wait()
    expected = golden("saxpy", {"x": np.asarray(x), "y": np.asarray(y)}, {"a": -5}, lanes=lanes)
    assert np.array_equal(z, expected["z"])
    assert ol.axi_dma_1.recvchannel.transferred == 4 * n
    assert ol.hetflow_saxpy_0.done
    # A second job on the same engines (idle now, not first transfer).
    x[:] = 1
    ol.axi_dma_1.recvchannel.transfer(z)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_1.sendchannel.transfer(y)
    ol.hetflow_saxpy_0.start()
    ol.axi_dma_1.recvchannel.wait()
    assert np.array_equal(z, (-5 + np.asarray(y, np.int64)).astype(np.int32))


@needs_pynq
def test_tlast_ends_the_s2mm_transfer_early(sim):
    ol = sim.overlay("saxpy")
    n = 100
    x, y = pynq.allocate(n, np.int32), pynq.allocate(n, np.int32)
    z = pynq.allocate(256, np.int32)                 # larger than the job's output
    x[:], y[:] = np.arange(n), 1
    rm = ol.hetflow_saxpy_0.register_map
    rm.len, rm.a, rm.out_beats_z = n, 2, n
    ol.axi_dma_1.recvchannel.transfer(z)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_1.sendchannel.transfer(y)
    ol.hetflow_saxpy_0.start()
    ol.axi_dma_1.recvchannel.wait()
    assert ol.axi_dma_1.recvchannel.transferred == 4 * n    # S2MM_LENGTH: bytes received
    assert np.array_equal(z[:n], 2 * np.arange(n) + 1) and not z[n:].any()


@needs_pynq
def test_out_beats_not_written_stalls_the_kernel(sim):
    from hetflow.backends.pynq import wait_channel
    ol = sim.overlay("saxpy")
    n = 64
    x, y, z = (pynq.allocate(n, np.int32) for _ in range(3))
    ol.hetflow_saxpy_0.register_map.len = n                  # out_beats_z left at 0: TLAST every beat
    ol.axi_dma_1.recvchannel.transfer(z)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_1.sendchannel.transfer(y)
    ol.hetflow_saxpy_0.start()
    with pytest.raises(TimeoutError, match=r"^kernel 'saxpy': axi_dma_1 S2MM did not finish"):
        wait_channel(ol.axi_dma_1.recvchannel, 0.3, "saxpy", "axi_dma_1 S2MM")
    assert ol.hetflow_saxpy_0.register_map.status.busy == 1


@needs_pynq
def test_dma_transfer_crc32_equals_golden(sim):
    ol = sim.overlay("crc32", lanes=4)
    data = pynq.allocate(4099, np.uint8)
    crc = pynq.allocate(1, np.uint32)
    data[:] = RNG.integers(0, 256, 4099, dtype=np.uint8)
    ol.hetflow_crc32_0.register_map.len = 4099
    ol.hetflow_crc32_0.register_map.out_beats_crc = 1
    dma = ol.axi_dma_0                       # one input, one output: one engine
    dma.recvchannel.transfer(crc)
    dma.sendchannel.transfer(data)
    ol.hetflow_crc32_0.start()
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    assert crc[0] == zlib.crc32(np.asarray(data).tobytes())
    assert crc[0] == golden("crc32", {"data": np.asarray(data)}, {}, lanes=4)["crc"][0]


@needs_pynq
def test_dma_errors_halt_the_engine_and_are_named(sim):
    from hetflow.backends.pynq import wait_channel
    ol = sim.overlay("crc32")
    send = ol.axi_dma_0.sendchannel
    empty = pynq.allocate(0, np.uint8)
    send.transfer(empty)                     # LENGTH = 0: DMAIntErr, the engine halts
    assert send.error and not send.running
    with pytest.raises(RuntimeError, match=r"^DMA channel not started$"):   # PYNQ's wording
        send.wait()
    with pytest.raises(HetflowError, match=r"^kernel 'crc32': axi_dma_0 MM2S: DMA Internal "
                                           r"Error \(transfer length 0\?\) \(DMASR=0x11\)$"):
        wait_channel(send, 1.0, "crc32", "axi_dma_0 MM2S")
    mmio = ol.axi_dma_0.mmio
    mmio.write(0x00, 0x4)                    # soft reset, then run again
    assert mmio.read(0x04) == 0x1            # halted, errors cleared
    send.start()
    mmio.write(0x18, 0x0800_0000)            # below DDR: DMADecErr
    mmio.write(0x28, 64)
    with pytest.raises(HetflowError, match=r"^kernel 'crc32': axi_dma_0 MM2S: DMA Decode Error "
                                           r"\(invalid address\) \(DMASR=0x41\)$"):
        wait_channel(send, 1.0, "crc32", "axi_dma_0 MM2S")


@needs_pynq
def test_example_script_passes():
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "pynq_style.py"),
                           "--n", "2000", "--lanes", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("PASS saxpy n=2000 a=-7 lanes=2: 2000 elements equal the "
                                  "golden model")


# ---- host access confined to the design's windows ----------------------------------------

@needs_pynq
def test_access_outside_the_windows_is_refused(sim):
    ol = sim.overlay("saxpy", memory_size=16 << 20)
    windows = ("hetflow_saxpy_0 0x40000000+0x1000, axi_dma_0 0x40400000+0x10000, "
               "axi_dma_1 0x40410000+0x10000, slcr 0xf8000000+0x200, and DDR buffers from "
               "pynq.allocate in "
               "0x10000000+0x1000000")
    with pytest.raises(sim.WindowError) as info:
        pynq.MMIO(0x5000_0000, 4).read(0)
    assert str(info.value) == ("address 0x50000000 (4 bytes) is outside the simulated "
                               f"design's windows: {windows}")
    with pytest.raises(sim.WindowError, match=r"^address 0x40001000 \(4 bytes\) is outside"):
        pynq.MMIO(sim.KERNEL_BASE, 0x2000).read(0x1000)     # past the kernel's window
    with pytest.raises(sim.WindowError) as info:
        pynq.MMIO(sim.KERNEL_BASE, 0x1000).read(0x18)       # a hole in the register map
    assert str(info.value) == (
        "address 0x40000018 (offset 0x18 of hetflow_saxpy_0) is no register of the kernel's AXI "
        "wrapper, which answers SLVERR there; registers: ctrl, status, len, cycles_lo, "
        "cycles_hi, id, a, out_beats_z")
    with pytest.raises(sim.WindowError, match=r"^address 0x10f00000 \(4 bytes\) is outside"):
        pynq.MMIO(0x10F0_0000, 4).write(0, 1)               # DDR nobody allocated
    with pytest.raises(sim.WindowError, match=r"^address 0x40420000 \(4 bytes\) is outside"):
        pynq.MMIO(0x4042_0000, 4).read(0)                   # no third DMA engine
    assert ol.hetflow_saxpy_0.read(0x14) == zlib.crc32(b"saxpy")   # the device is still fine


@needs_pynq
def test_no_overlay_and_no_handoff_are_refused(sim, tmp_path):
    blank = sim.SimulatedPynqDevice()
    with pytest.raises(sim.WindowError, match=r"^pynq.allocate: no overlay is loaded on the "
                                              r"simulated Zynq; call hetflow.pynq_sim."
                                              r"overlay\(kernel\) first$"):
        pynq.allocate(16, np.uint8, target=blank)
    bit = tmp_path / "design.bit"
    bit.write_bytes(b"\0" * 64)
    with pytest.raises(HetflowError) as info:
        pynq.Overlay(str(bit), device=blank)
    assert str(info.value) == (f"pynq.Overlay('{bit}') needs the hardware handoff "
                               f"{tmp_path / 'design.hwh'} beside it; hetflow export KERNEL "
                               f"--format pynq-ip writes one (Vivado's build replaces it with "
                               f"its own)")


# ---- the pynq backend, on the simulated Zynq -----------------------------------------------

@needs_pynq
@pytest.mark.parametrize("name, params, make, scalars", [
    ("saxpy", {"lanes": 4}, lambda: (ints(np.int32, 2501), ints(np.int32, 2501)), {"a": -7}),
    ("crc32", {}, lambda: (ints(np.uint8, 3001),), {}),
    ("fir", {"taps": 16}, lambda: (ints(np.int16, 700),), {"h": ints(np.int16, 16)}),
    ("dot", {}, lambda: (ints(np.int16, 999), ints(np.int16, 999)), {}),
    ("gemm", {}, lambda: (ints(np.int8, (5, 40)), ints(np.int8, (40, 9))), {}),
    ("conv2d", {}, lambda: (RNG.integers(0, 256, (12, 20), dtype=np.uint8),),
     {"w": ints(np.int8, (3, 3))}),
])
def test_pynq_device_equals_cpu(sim, cpu, name, params, make, scalars):
    args = make()
    expected = cpu.kernel(name, **params)(*args, **scalars)
    with hetflow.open("pynq", overlay=sim.overlay(name, **params)) as dev:
        handle = dev.kernel(name, **params)
        got = handle(*args, **scalars)
        assert handle.last_cycles > 0
        again = handle(*args, **scalars)         # buffers and engines reused
    for result in (got, again):
        if isinstance(expected, dict):
            assert expected.keys() == result.keys()
            for key in expected:
                assert np.array_equal(expected[key], result[key])
        else:
            assert result.dtype == expected.dtype and np.array_equal(result, expected)


@needs_pynq
def test_pynq_device_empty_inputs(sim, cpu):
    empty = np.zeros(0, np.uint8)
    with hetflow.open("pynq", overlay=sim.overlay("crc32")) as dev:
        assert np.array_equal(dev.kernel("crc32")(empty), cpu.kernel("crc32")(empty))
    nothing = np.zeros(0, np.int32)
    with hetflow.open("pynq", overlay=sim.overlay("saxpy")) as dev:
        z = dev.kernel("saxpy")(nothing, nothing, a=3)
        assert z.dtype == np.int32 and z.shape == (0,)


@needs_pynq
def test_kernel_never_started_times_out(sim):
    from hetflow.backends.pynq import wait_channel
    ol = sim.overlay("saxpy")
    n = 64
    x, y, z = (pynq.allocate(n, np.int32) for _ in range(3))
    ol.hetflow_saxpy_0.register_map.len = n
    ol.axi_dma_1.recvchannel.transfer(z)
    ol.axi_dma_0.sendchannel.transfer(x)
    ol.axi_dma_1.sendchannel.transfer(y)     # ... and ctrl.start is never written
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^kernel 'saxpy': axi_dma_1 S2MM did not finish "
                                           r"within 0\.3 s \(waited 0\.3\d s\)$"):
        wait_channel(ol.axi_dma_1.recvchannel, 0.3, "saxpy", "axi_dma_1 S2MM")
    assert time.monotonic() - t0 < 2
    # The backend resets the engines left mid-transfer and runs normally.
    with hetflow.open("pynq", overlay=ol) as dev:
        xs = np.arange(n, dtype=np.int32)
        assert np.array_equal(dev.kernel("saxpy")(xs, xs, a=2), 3 * xs)


@needs_pynq
def test_hung_kernel_times_out_then_reports_busy(sim, fixtures_on_path):
    ol = sim.overlay("faulty_kernels:HungSaxpy")
    x = np.arange(32, dtype=np.int32)
    with hetflow.open("pynq", overlay=ol, timeout=0.5) as dev:
        hung = dev.kernel("faulty_kernels:HungSaxpy")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^kernel 'hung_saxpy' on pynq did not finish "
                                               r"within 0\.5 s \(waited 0\.5\d s; "
                                               r"status=0x1, busy\)$"):
            hung(x, x, a=1)
        assert time.monotonic() - t0 < 3
        with pytest.raises(HetflowError, match=r"^kernel 'hung_saxpy' on pynq is still busy "
                                               r"from an earlier call that timed out; reload "
                                               r"the overlay to reset the PL$"):
            hung(x, x, a=1)


@needs_pynq
def test_abandoned_call_releases_the_device(sim, fixtures_on_path):
    ol = sim.overlay("faulty_kernels:HungSaxpy")
    x = np.arange(32, dtype=np.int32)
    with hetflow.open("pynq", overlay=ol, timeout=30) as dev:
        hung = dev.kernel("faulty_kernels:HungSaxpy")
        with pytest.raises(TimeoutError, match=r"^kernel 'hung_saxpy' on pynq did not finish "
                                               r"within 0\.3 s"):
            hung.start(x, x, a=1).wait(timeout=0.3)
        t0 = time.monotonic()     # the abandoned worker gives up at its next poll
        with pytest.raises(HetflowError, match=r"still busy"):
            hung(x, x, a=1, timeout=5)
        assert time.monotonic() - t0 < 2


@needs_pynq
def test_pynq_device_rejects_bad_setups(sim, tmp_path):
    ol = sim.overlay("saxpy")
    with pytest.raises(HetflowError, match=r"^device 'pynq' needs a bitstream: "
                                           r"hetflow.open\('pynq', bitfile='design.bit'\)"):
        hetflow.open("pynq")
    with pytest.raises(HetflowError, match=r"^device 'pynq': pass bitfile or overlay, not both$"):
        hetflow.open("pynq", bitfile="design.bit", overlay=ol)
    with pytest.raises(HetflowError, match=r"^timeout must be a positive number of seconds, "
                                           r"not 0$"):
        hetflow.open("pynq", overlay=ol, timeout=0)
    missing = tmp_path / "missing.bit"
    with pytest.raises(HetflowError, match=r"^device 'pynq': pynq.Overlay\('.*missing.bit'\) "
                                           r"failed: Bitstream file .*missing.bit does not exist"):
        hetflow.open("pynq", bitfile=str(missing))
    with hetflow.open("pynq", overlay=ol) as dev:
        with pytest.raises(HetflowError, match=r"^kernel 'crc32' \(id 0xafabd35e\) is not in the "
                                               r"overlay <hetflow simulated saxpy>; ids found "
                                               r"there: 0xa7ce74e2 at hetflow_saxpy_0$"):
            dev.kernel("crc32")
        with pytest.raises(HetflowError, match=r"^kernel 'saxpy' in the overlay was built with "
                                               r"lanes=1, not lanes=4; ask for lanes=1$"):
            dev.kernel("saxpy", lanes=4)
    del ol.ip_dict["axi_dma_1"]
    with hetflow.open("pynq", overlay=ol) as dev:
        with pytest.raises(HetflowError, match=r"^kernel 'saxpy' needs 2 AXI DMA engine\(s\) "
                                               r"\(axi_dma_0..axi_dma_1\); the overlay has: "
                                               r"axi_dma_0$"):
            dev.kernel("saxpy")
