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

import cocotb

from hetflow.sim.axi_bench import StreamBench, run_jobs, save_result, start_plan


class OverlayBench(StreamBench):
    def __init__(self, dut, plan):
        super().__init__(dut, plan)
        self.axil = {name: self.lite_master(f"{name}_s_axi_control")
                     for name in plan["instances"]}

    def lite_masters(self):
        return list(self.axil.values())

    async def write(self, name, offset, value):
        resp = await self.lite_write(self.axil[name], offset,
                                     (value & 0xFFFFFFFF).to_bytes(4, "little"))
        if resp != 0:
            raise RuntimeError(f"{name}: write of 0x{value:x} to 0x{offset:x} answered {resp}")

    async def read(self, name, offset):
        return await self.lite_read(self.axil[name], offset)

    async def run_job(self, index, job):
        plan = self.plan
        self.set_pauses(plan["seed"] * 1000003 + index, job["pause"])
        for name, offset, value in job["writes"]:
            await self.write(name, offset, value)
        for name in job["starts"]:
            await self.write(name, plan["ctrl"], 1)

        async def poll():
            statuses = {name: (await self.read(name, plan["status"]))[1]
                        for name in job["starts"]}
            return all(s & 2 for s in statuses.values()), statuses

        run = await self.stream_job(job, poll)
        if run.finished:
            return {"frames": run.packets, "error": run.beyond}
        busy = [n for n, s in run.state.items() if not s & 2]
        return {"frames": run.packets, "error": (
            f"not finished after {job['budget']} cycles"
            + (f"; not done: {', '.join(busy)}" if busy else "")
            + run.shortfall(lambda n: f"{n}: {run.received(n)} of {job['expect'].get(n, 0)} "
                                      f"bytes"))}


@cocotb.test()
async def run_plan(dut):
    """Run the plan's jobs and record what the IPs answered."""
    bench = await start_plan(dut, OverlayBench)
    save_result({"jobs": await run_jobs(bench)})
