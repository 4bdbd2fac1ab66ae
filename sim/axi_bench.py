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

The overlay's bench (:mod:`hetflow.boards.zynq.overlay_bench`) shares all
but the AXI-Lite side: :class:`StreamBench` (streams, pauses, reset, the loop
that feeds a job and collects its packets) and the plan and result files.
"""

import os
import pickle
import random
from dataclasses import dataclass, field

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


@dataclass
class StreamRun:
    """What a job's streams did (:meth:`StreamBench.stream_job`).

    Attributes
    ----------
    packets : dict of str to list of bytes
        Per output interface, the TLAST-terminated packets received.
    expect : dict of str to int
        Per output interface, the bytes the job expects.
    state : object
        What the last poll of the IPs' status returned.
    finished : bool
        Whether the job finished within its cycle budget.
    sent : bool
        Whether every input frame was taken.
    extra : list of str
        Output interfaces still offering data after the job's last packet.
    """

    packets: dict
    expect: dict
    state: object
    finished: bool
    sent: bool
    extra: list = field(default_factory=list)

    def received(self, name):
        """Bytes received on output interface ``name``."""
        return sum(len(p) for p in self.packets[name])

    def shortfall(self, describe):
        """The end of a timeout's message: the outputs short (each told by
        ``describe(name)``) and whether input was left untaken."""
        short = [describe(n) for n in self.packets if self.received(n) < self.expect.get(n, 0)]
        return ((f"; output short: {'; '.join(short)}" if short else "")
                + ("" if self.sent else "; input not all taken"))

    @property
    def beyond(self):
        """The error of a finished job that offered output beyond its end, or None."""
        return f"output beyond the job on {', '.join(self.extra)}" if self.extra else None


class StreamBench:
    """The AXI-Stream side of an AXI bench: sources, sinks, pauses, reset and the job loop.

    Subclasses add their AXI-Lite masters (:meth:`lite_master`) and say
    which they have (:meth:`lite_masters`), and poll their IPs' status.
    """

    def __init__(self, dut, plan):
        self.dut = dut
        self.plan = plan
        self.cycle = 0
        clk, rst = dut.ap_clk, dut.ap_rst_n
        self.sources = {name: AxiStreamSource(AxiStreamBus.from_prefix(dut, name), clk, rst,
                                              reset_active_level=False)
                        for name in plan["inputs"]}
        self.sinks = {name: AxiStreamSink(AxiStreamBus.from_prefix(dut, name), clk, rst,
                                          reset_active_level=False)
                      for name in plan["outputs"]}

    def lite_master(self, prefix):
        """An :class:`~cocotbext.axi.AxiLiteMaster` on the slave of ports ``prefix_*``."""
        return AxiLiteMaster(AxiLiteBus.from_prefix(self.dut, prefix), self.dut.ap_clk,
                             self.dut.ap_rst_n, reset_active_level=False)

    @staticmethod
    async def lite_read(master, offset):
        """``(response, word)`` of a read at ``offset``, within :data:`AXIL_TIMEOUT_NS`."""
        r = await with_timeout(master.read(offset, 4), AXIL_TIMEOUT_NS, "ns")
        return int(r.resp), int.from_bytes(bytes(r.data), "little")

    @staticmethod
    async def lite_write(master, offset, data):
        """The response to a write of ``data`` at ``offset``, within :data:`AXIL_TIMEOUT_NS`."""
        r = await with_timeout(master.write(offset, data), AXIL_TIMEOUT_NS, "ns")
        return int(r.resp)

    def lite_masters(self):
        """The bench's AXI-Lite masters, in a fixed order (it seeds their pauses)."""
        raise NotImplementedError

    def set_pauses(self, seed, probability):
        channels = []
        for master in self.lite_masters():
            w, r = master.write_if, master.read_if
            channels += [w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel]
        channels += list(self.sources.values()) + list(self.sinks.values())
        for i, channel in enumerate(channels):
            if probability > 0:
                # A different pattern per channel, so that AW and W (and B) arrive in
                # every order relative to each other.
                channel.set_pause_generator(pauses(random.Random(seed * 7919 + i), probability))
            else:
                # clear_pause_generator() leaves pause at the generator's last value.
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

    async def stream_job(self, job, poll):
        """Send the job's input frames and collect its output until it is done.

        ``poll`` (an async function) reads the IPs' status and returns
        ``(done, state)``.  The job is finished when it says done, every
        input frame was taken and every output has the bytes ``job["expect"]``
        gives; it is not when ``job["budget"]`` cycles pass first.  After a
        finished job the outputs are watched 16 cycles more: nothing may come.

        Returns
        -------
        StreamRun
        """
        start = self.cycle
        for name, data in job["frames"].items():
            if data:
                await self.sources[name].send(AxiStreamFrame(data))
        run = StreamRun({name: [] for name in self.sinks}, job["expect"], None, False, False)

        def drain():
            for name, sink in self.sinks.items():
                while not sink.empty():
                    run.packets[name].append(bytes(sink.recv_nowait().tdata))

        while True:
            done, run.state = await poll()
            drain()
            run.sent = all(source.idle() for source in self.sources.values())
            complete = all(run.received(n) >= job["expect"].get(n, 0) for n in self.sinks)
            if done and run.sent and complete:
                break
            if self.cycle - start > job["budget"]:
                return run
            for _ in range(8):
                await RisingEdge(self.dut.ap_clk)
        run.finished = True
        # Nothing more may come out after the job's last packet.
        for _ in range(16):
            await RisingEdge(self.dut.ap_clk)
        drain()
        run.extra = [n for n in self.sinks if int(getattr(self.dut, f"{n}_tvalid").value)]
        return run


async def start_plan(dut, bench_cls):
    """The plan of ``HETFLOW_AXI_PLAN`` in a ``bench_cls``, clocked, counting and reset."""
    with open(os.environ["HETFLOW_AXI_PLAN"], "rb") as f:
        plan = pickle.load(f)
    cocotb.start_soon(Clock(dut.ap_clk, CLOCK_NS, unit="ns").start())
    bench = bench_cls(dut, plan)
    cocotb.start_soon(bench.count_cycles())
    await bench.reset()
    return bench


async def run_jobs(bench):
    """Run the plan's jobs in order, up to the first that fails; their results."""
    jobs = []
    for index, job in enumerate(bench.plan["jobs"]):
        result = await bench.run_job(index, job)
        jobs.append(result)
        if result["error"]:
            break   # a hung kernel stays busy; later jobs would not start
    return jobs


def save_result(result):
    """Write ``result`` to ``HETFLOW_AXI_RESULT`` whole, or not at all."""
    tmp = os.environ["HETFLOW_AXI_RESULT"] + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(result, f)
    os.replace(tmp, os.environ["HETFLOW_AXI_RESULT"])


class AxiBench(StreamBench):
    def __init__(self, dut, plan):
        super().__init__(dut, plan)
        self.coverage = {}
        self.axil = self.lite_master("s_axi_control")

    def lite_masters(self):
        return [self.axil]

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

    async def read(self, offset):
        return await self.lite_read(self.axil, offset)

    async def write(self, offset, data):
        return await self.lite_write(self.axil, offset, data)

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

        async def poll():
            status = (await self.read(plan["status"]))[1]
            return bool(status & 2), status

        run = await self.stream_job(job, poll)
        status = run.state
        if not run.finished:
            def short(n):
                return (f"{n}: {run.received(n)} of {job['expect'][n]} bytes in "
                        f"{len(run.packets[n])} packets"
                        + (" and an unterminated packet (no TLAST)" if self.sinks[n].active
                           else ""))
            return {"frames": run.packets, "cycles": None, "status": status,
                    "error": (f"{'done' if status & 2 else 'not done'} after "
                              f"{job['budget']} cycles (status=0x{status:x})"
                              + run.shortfall(short))}
        _, lo = await self.read(plan["cycles"][0])
        _, hi = await self.read(plan["cycles"][1])
        return {"frames": run.packets, "cycles": (hi << 32) | lo, "status": status,
                "error": run.beyond}


@cocotb.test()
async def run_plan(dut):
    """Run the plan's AXI-Lite checks and jobs and record what the IP answered."""
    bench = await start_plan(dut, AxiBench)
    bench.set_pauses(bench.plan["seed"], bench.plan["axil_pause"])
    ops = await bench.run_ops()
    jobs = await run_jobs(bench)
    save_result({"ops": ops, "jobs": jobs, "coverage": dict(bench.coverage)})
