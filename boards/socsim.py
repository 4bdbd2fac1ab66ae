"""Run a kernel job on the board SoC in ``amaranth.sim``, through its host bus.

This is the SoC-level twin of :meth:`hetflow.sim.board.virtual.VirtualBoard.run_job`:
the same memory layout (one region per stream, inputs first, 4 KiB aligned,
beats of :func:`~hetflow.boards.dma.beat_stride` bytes) and the same sequence
of register writes, but every step is a host-bus transaction on the real SoC
gateware (memory, DMA, kernel), as a host bridge would issue it.  It is slow
(Python per cycle, ~10k cycles/s) and meant for tests of the gateware.
"""

import numpy as np
from amaranth.sim import Simulator

from ..hw.errors import HetflowError
from ..hw.job import from_memory_image, memory_image
from ..link.job_layout import REGION_ALIGN, job_layout
from .soc import SOC_ID, SOC_MAP, SoC

__all__ = ["SocSimulation", "HostBus", "run_job", "REGION_ALIGN", "SocSimError"]



class SocSimError(HetflowError, RuntimeError):
    """The simulated SoC did not finish a job within its cycle budget."""


class HostBus:
    """Host-bus transactions inside an ``amaranth.sim`` testbench.

    ``soc_map`` says where memory is (``SoC.map``); addresses of :meth:`read`
    and :meth:`write` are byte addresses on the bus, those of
    :meth:`write_bytes` and :meth:`read_bytes` memory-relative.
    """

    def __init__(self, ctx, bus, soc_map=SOC_MAP):
        self.ctx = ctx
        self.bus = bus
        self.map = soc_map

    async def write(self, byte_addr, value, sel=0xF):
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.addr, byte_addr >> 2)
        ctx.set(bus.w_data, value & 0xFFFFFFFF)
        ctx.set(bus.w_sel, sel)
        ctx.set(bus.w_stb, 1)
        await ctx.tick()
        ctx.set(bus.w_stb, 0)

    async def read(self, byte_addr):
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.addr, byte_addr >> 2)
        ctx.set(bus.r_stb, 1)
        await ctx.tick()
        ctx.set(bus.r_stb, 0)
        return ctx.get(bus.r_data)

    async def write_bytes(self, byte_addr, data):
        """Write ``data`` to memory at ``byte_addr`` (memory-relative), using byte enables."""
        data = bytes(data)
        pos = 0
        while pos < len(data):
            addr = byte_addr + pos
            lane = addr & 3
            chunk = data[pos:pos + 4 - lane]
            word = int.from_bytes(chunk, "little") << (8 * lane)
            sel = ((1 << len(chunk)) - 1) << lane
            await self.write(self.map.mem_base + (addr & ~3), word, sel)
            pos += len(chunk)

    async def read_bytes(self, byte_addr, length):
        out = bytearray()
        start = byte_addr & ~3
        end = byte_addr + length
        for addr in range(start, end, 4):
            out += (await self.read(self.map.mem_base + addr)).to_bytes(4, "little")
        skip = byte_addr - start
        return bytes(out[skip:skip + length])


class SocSimulation:
    """An SoC around ``kernel`` in ``amaranth.sim``.

    Parameters
    ----------
    kernel : Kernel
    memory : str
        ``"bram"`` or ``"spram"`` (the SPRAM wrapper with behavioural models).
    memory_size : int
    """

    def __init__(self, kernel, memory="bram", memory_size=64 * 1024):
        self.kernel = kernel
        self.soc = SoC(kernel, memory=memory, memory_size=memory_size)
        self.chans = self.soc.chans

    def layout(self, job):
        """``{port: (channel, address, beats)}``, as the virtual board lays a job out."""
        out, address = job_layout(self.chans, job)
        if address > self.soc.memory_size:
            raise SocSimError(f"{self.kernel.name}: the job needs {address} bytes of SoC memory "
                              f"but it has {self.soc.memory_size}")
        return out

    def run(self, job, max_cycles=None, vcd=None, host_noise=False):
        """Run ``job``; return ``(outputs, kernel_cycles, info)``.

        ``info`` holds what the testbench read back from the SoC registers
        (``id``, ``channels``, ``memory_size``) and ``bus_cycles``, the
        simulated cycles of the whole run.  ``host_noise`` makes the host read
        memory while the DMA runs, to exercise the memory arbitration.
        """
        layout = self.layout(job)
        regmap = self.kernel.map
        total_beats = sum(beats for _, _, beats in layout.values())
        budget = max_cycles if max_cycles is not None else 64 * total_beats + 2000
        result = {}

        async def bench(ctx):
            bus = HostBus(ctx, self.soc.bus)
            info = {
                "id": await bus.read(SOC_MAP.soc_base + SOC_MAP.ID),
                "channels": (await bus.read(SOC_MAP.soc_base + SOC_MAP.INFO)) & 0xFF,
                "memory_size": await bus.read(SOC_MAP.soc_base + SOC_MAP.MEM_SIZE),
                "kernel_id": await bus.read(regmap["id"].offset),
            }
            await bus.write(SOC_MAP.soc_base + SOC_MAP.CTRL, 1)   # soft reset
            for name, (ch, address, beats) in layout.items():
                if not ch.output and beats:
                    await bus.write_bytes(address, memory_image(ch.port, job.streams[name], ch.stride))
                await bus.write(SOC_MAP.dma_reg(ch.index, "ADDR"), address)
                await bus.write(SOC_MAP.dma_reg(ch.index, "BEATS"), beats)
            for name, value in job.registers.items():
                reg = regmap[name]
                values = list(np.asarray(value).reshape(-1)) if reg.array or np.ndim(value) \
                    else [value]
                for i, v in enumerate(values):
                    await bus.write(reg.offset + 4 * i, int(v))
            await bus.write(regmap["ctrl"].offset, 1)
            cycles = 0
            done = False
            while cycles < budget:
                if host_noise:
                    await bus.read(SOC_MAP.mem_base + 4 * (cycles % 64))
                status = await bus.read(regmap["status"].offset)
                idle = await bus.read(SOC_MAP.soc_base + SOC_MAP.STATUS)
                cycles += 2 + host_noise
                if status & 2 and idle & 1:
                    done = True
                    break
            info["done"] = done
            outputs = {}
            if done:
                for name, (ch, address, beats) in layout.items():
                    if ch.output:
                        raw = await bus.read_bytes(address, beats * ch.stride) if beats else b""
                        outputs[name] = from_memory_image(ch.port, raw, ch.stride, job.expect[name])
            lo = await bus.read(regmap["cycles_lo"].offset)
            hi = await bus.read(regmap["cycles_hi"].offset)
            result["outputs"] = outputs
            result["cycles"] = (hi << 32) | lo
            result["info"] = info

        sim = Simulator(self.soc)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        if vcd:
            with sim.write_vcd(str(vcd)):
                sim.run()
        else:
            sim.run()
        info = result["info"]
        if info["id"] != SOC_ID:
            raise SocSimError(f"SoC ID register reads {info['id']:#x}, expected {SOC_ID:#x}")
        if not info["done"]:
            raise SocSimError(f"{self.kernel.name} on the simulated SoC is not done after "
                              f"{budget} polling cycles")
        return result["outputs"], result["cycles"], info


def run_job(kernel, job, **kwargs):
    """Shorthand: ``SocSimulation(kernel, ...).run(job)``."""
    run_kw = {k: kwargs.pop(k) for k in ("max_cycles", "vcd", "host_noise") if k in kwargs}
    return SocSimulation(kernel, **kwargs).run(job, **run_kw)
