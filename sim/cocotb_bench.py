"""The generic cocotb bench: drives any kernel through its shell.

This module runs inside the simulator (cocotb imports it as the test
module).  It reads a plan written by :mod:`hetflow.sim.verify` — register
writes, input beats, expected output beat counts, back-pressure settings —
from the file named by ``HETFLOW_BENCH_PLAN``, runs every job and writes the
output beats and cycle counts to ``HETFLOW_BENCH_RESULT``.

The design under test has one or more *units*, each a register bus (a kernel's
shell: ``csr_addr`` ..., or an overlay instance's: ``fir0_csr_addr`` ...), and
stream ports named ``<stream>_valid/_ready/_data``.  A job programs and starts
every unit it names, drives and drains every stream at once, and polls each
unit's status until all are done: one kernel is the plan with one unit
(:mod:`hetflow.sim.overlay_verify` writes plans of several).

It compares nothing itself: the golden-model comparison happens in the host
process, where the kernel's Python description lives.
"""

import os
import pickle
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge


def _pause(rng, probability):
    return probability > 0 and rng.random() < probability


class Bench:
    def __init__(self, dut, plan):
        self.dut = dut
        self.plan = plan
        self.clk = dut.clk

    def sig(self, name):
        return getattr(self.dut, name)

    async def reset(self):
        dut = self.dut
        dut.rst.value = 1
        for unit in self.plan["units"]:
            for member in ("w_stb", "r_stb", "addr", "w_data"):
                self.sig(f"{unit['csr']}_{member}").value = 0
        for name in self.plan["inputs"]:
            self.sig(f"{name}_valid").value = 0
            self.sig(f"{name}_data").value = 0
        for name in self.plan["outputs"]:
            self.sig(f"{name}_ready").value = 0
        for _ in range(3):
            await RisingEdge(self.clk)
        dut.rst.value = 0
        await RisingEdge(self.clk)

    async def write(self, csr, word, value):
        self.sig(f"{csr}_addr").value = word
        self.sig(f"{csr}_w_data").value = value & 0xFFFFFFFF
        self.sig(f"{csr}_w_stb").value = 1
        await RisingEdge(self.clk)
        self.sig(f"{csr}_w_stb").value = 0

    async def read(self, csr, word):
        self.sig(f"{csr}_addr").value = word
        self.sig(f"{csr}_r_stb").value = 1
        await RisingEdge(self.clk)
        self.sig(f"{csr}_r_stb").value = 0
        await RisingEdge(self.clk)
        return self.sig(f"{csr}_r_data").value.to_unsigned()

    async def source(self, name, beats, rng, pause):
        """Drive ``beats`` on stream ``name``; valid is held until each beat is taken."""
        valid, data, ready = (self.sig(f"{name}_{s}") for s in ("valid", "data", "ready"))
        i = 0
        pending = False
        while i < len(beats):
            await RisingEdge(self.clk)
            if pending and int(ready.value):
                i += 1
                pending = False
            if i == len(beats):
                break
            if not pending:
                if _pause(rng, pause):
                    valid.value = 0
                    continue
                data.value = beats[i]
                valid.value = 1
                pending = True
        valid.value = 0

    async def sink(self, name, count, rng, pause, out):
        """Collect ``count`` beats from stream ``name`` with random ready gaps."""
        valid, data, ready = (self.sig(f"{name}_{s}") for s in ("valid", "data", "ready"))
        was_ready = False
        while len(out) < count:
            await RisingEdge(self.clk)
            if was_ready and int(valid.value):
                out.append(data.value.to_unsigned())
                if len(out) == count:
                    break
            was_ready = not _pause(rng, pause)
            ready.value = int(was_ready)
        ready.value = 0

    async def run_job(self, index, job):
        plan = self.plan
        rng = random.Random(plan["seed"] * 1000003 + index + plan.get("index_offset", 0))
        units = [(plan["units"][u], writes) for u, writes in job["units"]]
        for unit, writes in units:
            for word, value in writes:
                await self.write(unit["csr"], word, value)
        for unit, _ in units:
            await self.write(unit["csr"], unit["ctrl_word"], 1)
        outputs = {name: [] for name in job["expect"]}
        tasks = [cocotb.start_soon(self.source(name, beats, rng, job["in_pause"]))
                 for name, beats in job["beats"].items()]
        tasks += [cocotb.start_soon(self.sink(name, job["expect"][name], rng, job["out_pause"],
                                              outputs[name]))
                  for name in job["expect"]]
        budget = job["budget"]
        cycles_waited = 0
        # Poll the status registers as a host would, within a cycle budget.
        while True:
            statuses = [await self.read(unit["csr"], unit["status_word"]) for unit, _ in units]
            cycles_waited += 2 * len(units)
            status = min(statuses, key=lambda s: s & 2)       # a unit not done, if any
            if all(s & 2 for s in statuses) and all(t.done() for t in tasks):
                break
            if cycles_waited > budget:
                for t in tasks:
                    t.cancel()
                short = [f"{name} has {len(outputs[name])} of {job['expect'][name]} beats"
                         for name in job["expect"] if len(outputs[name]) < job["expect"][name]]
                # Say why, as far as the bench can see: outputs missing, or all there and
                # the core never raised finish, or more output than the job should give.
                more = [f"{name} offers a beat beyond the {job['expect'][name]} expected"
                        for name in job["expect"]
                        if len(outputs[name]) == job["expect"][name]
                        and int(self.sig(f"{name}_valid").value)]
                if status & 2:
                    what = "done, but output short: " + "; ".join(short)
                elif short:
                    what = (f"not done after {budget} cycles (status=0x{status:x}); "
                            f"output short: {'; '.join(short)}")
                else:
                    received = ", ".join(f"{len(outputs[n])} of {job['expect'][n]} beats of {n}"
                                         for n in job["expect"])
                    what = (f"not done after {budget} cycles (status=0x{status:x}): received "
                            f"{received}, but finish never rose"
                            + (f"; {'; '.join(more)}" if more else ""))
                return {"outputs": outputs, "cycles": None, "unit_cycles": None,
                        "status": status, "error": what, "extra": {}}
            for _ in range(8):
                await RisingEdge(self.clk)
            cycles_waited += 8
        cycles = []
        for unit, _ in units:
            lo = await self.read(unit["csr"], unit["cycles_words"][0])
            hi = await self.read(unit["csr"], unit["cycles_words"][1])
            cycles.append((hi << 32) | lo)
        # A kernel that offers more output than the job should produce is wrong too.
        extra = {}
        for name in job["expect"]:
            if int(self.sig(f"{name}_valid").value):
                extra[name] = self.sig(f"{name}_data").value.to_unsigned()
        return {"outputs": outputs, "cycles": cycles[0], "unit_cycles": cycles,
                "status": status, "error": None, "extra": extra}


@cocotb.test()
async def run_plan(dut):
    """Run every job of the plan and record what the kernel produced."""
    with open(os.environ["HETFLOW_BENCH_PLAN"], "rb") as f:
        plan = pickle.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    bench = Bench(dut, plan)
    await bench.reset()
    results = []
    for index, job in enumerate(plan["jobs"]):
        result = await bench.run_job(index, job)
        results.append(result)
        if result["error"]:
            break   # a hung kernel leaves the shell busy; later jobs would not start
    tmp = os.environ["HETFLOW_BENCH_RESULT"] + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(results, f)
    os.replace(tmp, os.environ["HETFLOW_BENCH_RESULT"])
