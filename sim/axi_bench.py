"""The cocotb bench of the AXI-wrapped kernel (the Zynq / PYNQ IP), with cocotbext-axi.

This module runs inside the simulator (cocotb imports it as the test
module).  It reads a plan written by :func:`hetflow.boards.zynq.verify_axi`
from the file named by ``HETFLOW_AXI_PLAN``:

* ``ops``: AXI-Lite transactions (``("read", offset, None)`` or
  ``("write", offset, bytes)``), issued one at a time by an
  :class:`~cocotbext.axi.AxiLiteMaster`; the response code and the read
  data of each are recorded;
* ``jobs``: register writes (including the wrapper's ``out_beats``
  registers), one frame of bytes per input interface sent by an
  :class:`~cocotbext.axi.AxiStreamSource` (TLAST on its last beat), the
  byte count expected per output interface, received by an
  :class:`~cocotbext.axi.AxiStreamSink` as TLAST-terminated packets; the job
  is started by writing ``ctrl`` and its end found by polling ``status``.

Every channel (AXI-Lite AW/W/B/AR/R, every stream) gets a seeded random
pause generator when the job's ``pause`` is non-zero: valid gaps on what the
bench drives, ready low on what it receives.  Results (responses, packets,
cycle counts, errors) go to ``HETFLOW_AXI_RESULT``; the comparison with the
golden model happens in the host process.
"""

import os
import pickle
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

#: Simulated time one AXI-Lite transaction may take before the bench gives up (ns).
AXIL_TIMEOUT_NS = 20_000
CLOCK_NS = 10


def pauses(rng, probability):
    """Endless booleans: pause a stream this cycle, with ``probability``."""
    while True:
        yield rng.random() < probability


class AxiBench:
    def __init__(self, dut, plan):
        self.dut = dut
        self.plan = plan
        self.cycle = 0
        self.coverage = {}
        clk, rst = dut.ap_clk, dut.ap_rst_n
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), clk, rst,
                                  reset_active_level=False)
        self.sources = {name: AxiStreamSource(AxiStreamBus.from_prefix(dut, name), clk, rst,
                                              reset_active_level=False)
                        for name in plan["inputs"]}
        self.sinks = {name: AxiStreamSink(AxiStreamBus.from_prefix(dut, name), clk, rst,
                                          reset_active_level=False)
                      for name in plan["outputs"]}

    def _channels(self):
        w, r = self.axil.write_if, self.axil.read_if
        return ([w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel]
                + list(self.sources.values()) + list(self.sinks.values()))

    def set_pauses(self, seed, probability):
        for i, channel in enumerate(self._channels()):
            if probability > 0:
                # A different pattern per channel, so that AW and W (and B) arrive in
                # every order relative to each other.
                channel.set_pause_generator(pauses(random.Random(seed * 7919 + i), probability))
            else:
                # clear_pause_generator() leaves pause at the generator's last value.
                channel.clear_pause_generator()
                channel.pause = False

    async def count_cycles(self):
        """Count clock cycles, and watch the AXI-Lite handshakes.

        ``coverage`` records in which order AW and W of each write were
        accepted (``aw_first``, ``w_first``, ``same_cycle``) and the cycles
        where BVALID or RVALID waited for ready: evidence that the
        independent-channel and back-pressure paths of the slave were used.
        """
        dut = self.dut
        aw, w = [], []
        self.coverage = {"aw_first": 0, "w_first": 0, "same_cycle": 0, "b_stalled": 0,
                         "r_stalled": 0}
        cov = self.coverage
        while True:
            await RisingEdge(dut.ap_clk)
            self.cycle += 1
            if int(dut.s_axi_control_awvalid.value) and int(dut.s_axi_control_awready.value):
                aw.append(self.cycle)
            if int(dut.s_axi_control_wvalid.value) and int(dut.s_axi_control_wready.value):
                w.append(self.cycle)
            while aw and w:
                a, b = aw.pop(0), w.pop(0)
                cov["aw_first" if a < b else "w_first" if b < a else "same_cycle"] += 1
            if int(dut.s_axi_control_bvalid.value) and not int(dut.s_axi_control_bready.value):
                cov["b_stalled"] += 1
            if int(dut.s_axi_control_rvalid.value) and not int(dut.s_axi_control_rready.value):
                cov["r_stalled"] += 1

    async def reset(self):
        self.dut.ap_rst_n.value = 0
        for _ in range(5):
            await RisingEdge(self.dut.ap_clk)
        self.dut.ap_rst_n.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.ap_clk)

    async def read(self, offset):
        r = await with_timeout(self.axil.read(offset, 4), AXIL_TIMEOUT_NS, "ns")
        return int(r.resp), int.from_bytes(bytes(r.data), "little")

    async def write(self, offset, data):
        r = await with_timeout(self.axil.write(offset, data), AXIL_TIMEOUT_NS, "ns")
        return int(r.resp)

    async def write_word(self, offset, value):
        resp = await self.write(offset, (value & 0xFFFFFFFF).to_bytes(4, "little"))
        if resp != 0:
            raise RuntimeError(f"write of 0x{value:x} to 0x{offset:x} answered {resp}")

    async def run_ops(self):
        results = []
        for op, offset, data in self.plan["ops"]:
            if op == "read":
                results.append(await self.read(offset))
            else:
                results.append((await self.write(offset, data), None))
        return results

    async def run_job(self, index, job):
        plan = self.plan
        self.set_pauses(plan["seed"] * 1000003 + index, job["pause"])
        for offset, value in job["writes"]:
            await self.write_word(offset, value)
        await self.write_word(plan["ctrl"], 1)
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

        status = 0
        while True:
            resp, status = await self.read(plan["status"])
            drain()
            sent = all(source.idle() for source in self.sources.values())
            complete = all(received(n) >= job["expect"][n] for n in self.sinks)
            if status & 2 and sent and complete:
                break
            if self.cycle - start > job["budget"]:
                short = [f"{n}: {received(n)} of {job['expect'][n]} bytes in "
                         f"{len(packets[n])} packets"
                         + (" and an unterminated packet (no TLAST)" if self.sinks[n].active
                            else "")
                         for n in self.sinks if received(n) < job["expect"][n]]
                return {"frames": packets, "cycles": None, "status": status,
                        "error": (f"{'done' if status & 2 else 'not done'} after "
                                  f"{job['budget']} cycles (status=0x{status:x})"
                                  + (f"; output short: {'; '.join(short)}" if short else "")
                                  + ("" if sent else "; input not all taken"))}
            for _ in range(8):
                await RisingEdge(self.dut.ap_clk)
        # Nothing more may come out after the job's last packet.
        for _ in range(16):
            await RisingEdge(self.dut.ap_clk)
        drain()
        extra = [n for n in self.sinks if int(getattr(self.dut, f"{n}_tvalid").value)]
        _, lo = await self.read(plan["cycles"][0])
        _, hi = await self.read(plan["cycles"][1])
        return {"frames": packets, "cycles": (hi << 32) | lo, "status": status,
                "error": f"output beyond the job on {', '.join(extra)}" if extra else None}


@cocotb.test()
async def run_plan(dut):
    """Run the plan's AXI-Lite checks and jobs and record what the IP answered."""
    with open(os.environ["HETFLOW_AXI_PLAN"], "rb") as f:
        plan = pickle.load(f)
    cocotb.start_soon(Clock(dut.ap_clk, CLOCK_NS, unit="ns").start())
    bench = AxiBench(dut, plan)
    cocotb.start_soon(bench.count_cycles())
    await bench.reset()
    bench.set_pauses(plan["seed"], plan["axil_pause"])
    ops = await bench.run_ops()
    jobs = []
    for index, job in enumerate(plan["jobs"]):
        result = await bench.run_job(index, job)
        jobs.append(result)
        if result["error"]:
            break   # a hung kernel stays busy; later jobs would not start
    tmp = os.environ["HETFLOW_AXI_RESULT"] + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"ops": ops, "jobs": jobs, "coverage": dict(bench.coverage)}, f)
    os.replace(tmp, os.environ["HETFLOW_AXI_RESULT"])
