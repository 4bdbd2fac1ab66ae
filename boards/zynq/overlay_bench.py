"""The cocotb bench of an overlay's AXI IPs (the Zynq export), with cocotbext-axi.

This module runs inside the simulator (cocotb imports it as the test
module) on :class:`~hetflow.boards.zynq.overlay_verify.AxiOverlayTop`: every
instance's AXI wrapper, chained instances wired as the block design wires
them.  The plan (``HETFLOW_AXI_PLAN``, written by
:func:`~hetflow.boards.zynq.overlay_verify.verify_overlay_axi`) gives, per
job, each instance's register writes (its ``out_beats`` registers
included), the instances to start (last of a chain first), one frame of
bytes per unchained input (an :class:`~cocotbext.axi.AxiStreamSource`) and
the bytes expected per unchained output (an
:class:`~cocotbext.axi.AxiStreamSink`, TLAST-terminated packets).  Each
instance's AXI-Lite slave has its own :class:`~cocotbext.axi.AxiLiteMaster`;
every channel gets seeded random pauses.  Results go to ``HETFLOW_AXI_RESULT``.
"""

import os
import pickle
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from hetflow.sim.axi_bench import AXIL_TIMEOUT_NS, CLOCK_NS, pauses


class OverlayBench:
    def __init__(self, dut, plan):
        self.dut = dut
        self.plan = plan
        self.cycle = 0
        clk, rst = dut.ap_clk, dut.ap_rst_n
        self.axil = {name: AxiLiteMaster(AxiLiteBus.from_prefix(dut, f"{name}_s_axi_control"),
                                         clk, rst, reset_active_level=False)
                     for name in plan["instances"]}
        self.sources = {name: AxiStreamSource(AxiStreamBus.from_prefix(dut, name), clk, rst,
                                              reset_active_level=False)
                        for name in plan["inputs"]}
        self.sinks = {name: AxiStreamSink(AxiStreamBus.from_prefix(dut, name), clk, rst,
                                          reset_active_level=False)
                      for name in plan["outputs"]}

    def set_pauses(self, seed, probability):
        channels = []
        for master in self.axil.values():
            w, r = master.write_if, master.read_if
            channels += [w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel]
        channels += list(self.sources.values()) + list(self.sinks.values())
        for i, channel in enumerate(channels):
            if probability > 0:
                channel.set_pause_generator(pauses(random.Random(seed * 7919 + i), probability))
            else:
                channel.clear_pause_generator()
                channel.pause = False

    async def count_cycles(self):
        while True:
            await RisingEdge(self.dut.ap_clk)
            self.cycle += 1

    async def reset(self):
        self.dut.ap_rst_n.value = 0
        for _ in range(5):
            await RisingEdge(self.dut.ap_clk)
        self.dut.ap_rst_n.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.ap_clk)

    async def write(self, name, offset, value):
        r = await with_timeout(self.axil[name].write(offset, (value & 0xFFFFFFFF).to_bytes(
            4, "little")), AXIL_TIMEOUT_NS, "ns")
        if int(r.resp) != 0:
            raise RuntimeError(f"{name}: write of 0x{value:x} to 0x{offset:x} answered "
                               f"{int(r.resp)}")

    async def read(self, name, offset):
        r = await with_timeout(self.axil[name].read(offset, 4), AXIL_TIMEOUT_NS, "ns")
        return int(r.resp), int.from_bytes(bytes(r.data), "little")

    async def run_job(self, index, job):
        plan = self.plan
        self.set_pauses(plan["seed"] * 1000003 + index, job["pause"])
        for name, offset, value in job["writes"]:
            await self.write(name, offset, value)
        for name in job["starts"]:
            await self.write(name, plan["ctrl"], 1)
        start = self.cycle
        for name, data in job["frames"].items():
            if data:
                await self.sources[name].send(AxiStreamFrame(data))
        packets = {name: [] for name in self.sinks}

        def drain():
            for name, sink in self.sinks.items():
                while not sink.empty():
                    packets[name].append(bytes(sink.recv_nowait().tdata))

        def received(name):
            return sum(len(p) for p in packets[name])

        while True:
            statuses = {name: (await self.read(name, plan["status"]))[1]
                        for name in job["starts"]}
            drain()
            sent = all(source.idle() for source in self.sources.values())
            complete = all(received(n) >= job["expect"].get(n, 0) for n in self.sinks)
            if all(s & 2 for s in statuses.values()) and sent and complete:
                break
            if self.cycle - start > job["budget"]:
                busy = [n for n, s in statuses.items() if not s & 2]
                short = [f"{n}: {received(n)} of {job['expect'].get(n, 0)} bytes"
                         for n in self.sinks if received(n) < job["expect"].get(n, 0)]
                return {"frames": packets, "error": (
                    f"not finished after {job['budget']} cycles"
                    + (f"; not done: {', '.join(busy)}" if busy else "")
                    + (f"; output short: {'; '.join(short)}" if short else "")
                    + ("" if sent else "; input not all taken"))}
            for _ in range(8):
                await RisingEdge(self.dut.ap_clk)
        for _ in range(16):
            await RisingEdge(self.dut.ap_clk)
        drain()
        extra = [n for n in self.sinks if int(getattr(self.dut, f"{n}_tvalid").value)]
        return {"frames": packets,
                "error": f"output beyond the job on {', '.join(extra)}" if extra else None}


@cocotb.test()
async def run_plan(dut):
    """Run the plan's jobs and record what the IPs answered."""
    with open(os.environ["HETFLOW_AXI_PLAN"], "rb") as f:
        plan = pickle.load(f)
    cocotb.start_soon(Clock(dut.ap_clk, CLOCK_NS, unit="ns").start())
    bench = OverlayBench(dut, plan)
    cocotb.start_soon(bench.count_cycles())
    await bench.reset()
    jobs = []
    for index, job in enumerate(plan["jobs"]):
        result = await bench.run_job(index, job)
        jobs.append(result)
        if result["error"]:
            break
    tmp = os.environ["HETFLOW_AXI_RESULT"] + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"jobs": jobs}, f)
    os.replace(tmp, os.environ["HETFLOW_AXI_RESULT"])
