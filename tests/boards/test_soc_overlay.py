"""The overlay SoC in amaranth.sim: instance windows, manifest words, RUN's done bit, a chain.

Every access is a host-bus transaction at the offsets the host uses
(:class:`~hetflow.link.boardmap.BoardMap`), and every result is compared
with the golden models (:func:`~hetflow.hw.overlay.chain.compose`).
"""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hetflow.boards.soc import OVERLAY_SOC_MAP, SOC_MAP, SoC
from hetflow.boards.socsim import HostBus
from hetflow.hw.errors import ParamError
from hetflow.hw.job import from_memory_image, memory_image
from hetflow.hw.overlay import Overlay, parse_overlay
from hetflow.hw.overlay.manifest import decode_manifest
from hetflow.hw.regmap import kernel_id
from hetflow.link.boardmap import INSTANCE_STRIDE, MANIFEST_BASE

from ..conftest import SMALL_PIPELINE_TOML, small_pipeline_call


def pipeline():
    return parse_overlay(SMALL_PIPELINE_TOML)


def simulate(soc, bench):
    """Run ``bench(bus)`` (an async function) on ``soc``; return what it returns."""
    out = {}

    async def testbench(ctx):
        out["value"] = await bench(HostBus(ctx, soc.bus, soc.map))

    sim = Simulator(soc)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return out["value"]


def test_instance_windows_manifest_and_holes():
    soc = SoC(pipeline(), memory_size=16 * 1024)
    bmap = soc.boardmap
    assert soc.map == OVERLAY_SOC_MAP
    assert soc.register_space == MANIFEST_BASE + 4 * len(bmap.manifest)
    assert [(ch.unit, ch.port.name) for ch in soc.chans] == \
        [("fir0", "x"), ("crc0", "crc"), ("gemm0", "a"), ("gemm0", "b"), ("gemm0", "c")]
    smap = soc.map

    async def bench(bus):
        got = {"ids": {}, "len": {}}
        for name, unit in bmap.units.items():
            got["ids"][name] = await bus.read(unit.offset("id"))
            await bus.write(unit.offset("len"), 100 + unit.base // INSTANCE_STRIDE)
        for name, unit in bmap.units.items():
            got["len"][name] = await bus.read(unit.offset("len"))
        got["manifest"] = [await bus.read(MANIFEST_BASE + 4 * i)
                           for i in range(len(bmap.manifest))]
        gemm = bmap.unit("gemm0")
        await bus.write(3 * INSTANCE_STRIDE, 0x1234)              # no instance 3
        await bus.write(MANIFEST_BASE, 0x1234)                    # the ROM takes no writes
        got["holes"] = [await bus.read(3 * INSTANCE_STRIDE),
                        await bus.read(gemm.base + INSTANCE_STRIDE - 4),
                        await bus.read(MANIFEST_BASE - 4),
                        await bus.read(MANIFEST_BASE)]
        got["soc"] = {name: await bus.read(smap.soc_base + getattr(smap, name))
                      for name in ("ID", "INFO", "REGSIZE", "STATUS")}
        return got

    got = simulate(soc, bench)
    assert got["ids"] == {name: kernel_id(unit.kernel.name) for name, unit in bmap.units.items()}
    assert got["len"] == {"fir0": 100, "crc0": 101, "gemm0": 102}
    assert got["manifest"] == bmap.manifest
    assert decode_manifest(got["manifest"]) == bmap.describe()
    assert got["holes"] == [0, 0, 0, bmap.manifest[0]]
    assert got["soc"]["REGSIZE"] == soc.register_space
    assert got["soc"]["INFO"] & 0xFF == 5
    assert got["soc"]["STATUS"] == 0b01          # DMA idle, nothing started: not done


def test_chain_and_an_instance_run_at_once_and_run_waits_for_both():
    soc = SoC(pipeline(), memory_size=32 * 1024)
    bmap, smap = soc.boardmap, soc.map
    jobs, regions, size, expected = small_pipeline_call(bmap, np.random.default_rng(3), 24, 3)
    assert [ch for ch, _, _ in regions] == soc.chans and size <= soc.memory_size

    async def bench(bus):
        await bus.write(smap.soc_base + smap.CTRL, 1)
        for ch, address, beats in regions:
            if not ch.output:
                data = jobs[ch.unit].streams[ch.port.name]
                await bus.write_bytes(address, memory_image(ch.port, data, ch.stride))
            await bus.write(smap.dma_reg(ch.index, "ADDR"), address)
            await bus.write(smap.dma_reg(ch.index, "BEATS"), beats)
        for name in ("gemm0", "crc0", "fir0"):
            unit = bmap.unit(name)
            for word, value in unit.kernel.map.word_writes(jobs[name].registers):
                await bus.write(unit.base + 4 * word, value)
        status = smap.soc_base + smap.STATUS
        seen = []
        ctrl = {name: bmap.unit(name).offset("ctrl") for name in bmap.units}
        # The chain's last instance first: it waits for beats that do not come yet.
        await bus.write(ctrl["crc0"], 1)
        seen.append(await bus.read(status) >> 1)
        await bus.write(ctrl["gemm0"], 1)
        for _ in range(400):
            if await bus.read(bmap.unit("gemm0").offset("status")) & 2:
                break
        seen.append(await bus.read(status) >> 1)         # gemm0 done, crc0 still busy
        await bus.write(ctrl["fir0"], 1)
        for cycle in range(4000):
            value = await bus.read(status)
            if value == 0b11:
                break
        else:
            raise AssertionError(f"STATUS still {value:#x}")
        dones = [await bus.read(bmap.unit(n).offset("status")) & 2 for n in bmap.units]
        outputs = {}
        for ch, address, beats in regions:
            if ch.output:
                raw = await bus.read_bytes(address, beats * ch.stride)
                outputs[(ch.unit, ch.port.name)] = from_memory_image(
                    ch.port, raw, ch.stride, jobs[ch.unit].expect[ch.port.name])
        await bus.write(smap.soc_base + smap.CTRL, 1)
        await bus.read(smap.soc_base + smap.ID)         # the reset pulse is the next cycle
        after_reset = await bus.read(status)
        return seen, dones, outputs, after_reset

    seen, dones, outputs, after_reset = simulate(soc, bench)
    assert seen == [0, 0]
    assert dones == [2, 2, 2]
    assert set(outputs) == set(expected)
    for key, want in expected.items():
        np.testing.assert_array_equal(outputs[key], want)
    assert after_reset == 0b01                           # a reset forgets what was started


def test_single_kernel_soc_keeps_its_map():
    from hetflow.hw.shell import Shell
    from hetflow.hw.kernels.crc32 import Crc32
    soc = SoC(Shell(Crc32), memory_size=4096)
    assert soc.map == SOC_MAP
    assert soc.register_space == soc.kernel.map.size
    assert soc.done_address == soc.kernel.map["status"].offset
    Fragment.get(soc, None)


def test_bad_memory_is_refused_before_the_fabric_is_made():
    with pytest.raises(ParamError, match=r"^SoC memory_size = 1000 is out of range; allowed a "
                                         r"power of two from 1024 to 1048576 bytes$"):
        SoC(pipeline(), memory_size=1000)


def test_every_overlay_dma_channel_is_its_base_ored_with_the_channel():
    # The bridge forms a channel's register address as base | channel << 2 (no adder).
    smap = OVERLAY_SOC_MAP
    most = (smap.dma_limit - smap.dma_base) // 16
    assert most == 128
    for c in range(most):
        assert (smap.dma_base >> 2 | c << 2) == smap.dma_reg(c, "ADDR") >> 2


def test_more_streams_than_dma_channels_are_refused():
    overlay = Overlay("wide")
    for i in range(43):                       # three streams each: 129 channels
        overlay.add(f"s{i}", "saxpy")
    with pytest.raises(ParamError, match=r"^wide: 129 streams; the SoC has room for 128 DMA "
                                         r"channels$"):
        SoC(overlay)
