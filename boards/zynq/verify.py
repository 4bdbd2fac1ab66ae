"""Verification of the AXI-wrapped kernel in cocotb (cocotbext-axi) against the golden model."""

import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from ...hw.errors import HetflowError
from ...hw.job import pack_beats, unpack_beats
from ...hw.registry import get_kernel
from ...hw.shell import Shell
from .constants import AXI_OKAY, AXI_SLVERR
from .wrapper import AxiKernel


class AxiSimulationError(HetflowError, RuntimeError):
    """The AXI bench did not run or produced no results."""


@dataclass
class AxiVerifyResult:
    """Outcome of :func:`verify_axi`.

    Attributes
    ----------
    passed : bool
    cases : int
        Jobs compared with the golden model (the back-pressure runs).
    failures : list of str
        Everything that went wrong (register checks, responses, TLAST, values).
    register_checks : int
        AXI-Lite transactions whose response and data were checked.
    coverage : dict
        How often each AXI-Lite write ordering occurred (``aw_first``,
        ``w_first``, ``same_cycle``) and the cycles B and R were held by a
        master not ready (``b_stalled``, ``r_stalled``).
    cycles_per_unit : float or None
        Kernel cycles per unit of work on the largest job without pauses.
    build_s, sim_s, wall_s : float
        Verilator build (0 when cached), simulation, total seconds.
    """

    kernel: str
    params: dict
    seed: int
    cases: int = 0
    failures: list = field(default_factory=list)
    register_checks: int = 0
    cycles_per_unit: float = None
    unit: str = "element"
    build_s: float = 0.0
    sim_s: float = 0.0
    wall_s: float = 0.0
    build_cached: bool = False
    log: Path = None
    coverage: dict = field(default_factory=dict)

    @property
    def passed(self):
        return self.cases > 0 and not self.failures

    def summary(self):
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        perf = (f", {self.cycles_per_unit:.3f} cycles/{self.unit} without pauses"
                if self.cycles_per_unit is not None else "")
        return (f"{'PASS' if self.passed else 'FAIL'} {self.kernel} {params} (AXI): "
                f"{self.cases} jobs, {self.register_checks} AXI-Lite checks, "
                f"{len(self.failures)} failures, seed {self.seed}{perf}, "
                f"build {self.build_s:.1f} s, sim {self.sim_s:.1f} s")


def build_axi_model(name, top, text, simulator, status, what):
    """Compile the Verilog of AXI IPs, ``text`` (top module ``top``), with Verilator.

    Cached by content hash under ``axi``; a failed build raises
    :class:`AxiSimulationError`.  Returns the :func:`~hetflow.sim.build.build_verilog`
    result (``directory``, ``cached``).
    """
    from ...sim.build import BuildError, build_verilog

    try:
        return build_verilog(name, top, text, simulator, status=status, cache="axi", what=what)
    except BuildError as exc:
        raise AxiSimulationError(str(exc)) from None


def run_axi_bench(simulator, test_module, top, build_dir, plan, workdir, what):
    """Run the cocotb bench ``test_module`` on the built ``top`` with ``plan``.

    ``workdir`` (a fresh directory, emptied if it exists) receives the plan,
    the result and ``sim.log``.  Returns ``(result, log, seconds)``: what the
    bench wrote to ``HETFLOW_AXI_RESULT``, the log's path and the simulation's
    wall time.  A bench that fails or writes nothing raises
    :class:`AxiSimulationError` naming ``what`` and the log.
    """
    from cocotb_tools.runner import get_runner

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    plan_path, result_path = workdir / "plan.pkl", workdir / "result.pkl"
    log = workdir / "sim.log"
    plan_path.write_bytes(pickle.dumps(plan))
    ts = time.monotonic()
    simulator.apply()
    try:
        get_runner("verilator").test(
            test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
            build_dir=build_dir, test_dir=workdir, results_xml=str(workdir / "results.xml"),
            log_file=log, extra_env={"HETFLOW_AXI_PLAN": str(plan_path),
                                     "HETFLOW_AXI_RESULT": str(result_path),
                                     "COCOTB_LOG_LEVEL": "WARNING"})
    except (RuntimeError, SystemExit) as exc:
        raise AxiSimulationError(f"the {what} failed ({exc}); log: {log}") from None
    seconds = time.monotonic() - ts
    if not result_path.exists():
        raise AxiSimulationError(f"the {what} produced no results; log: {log}")
    return pickle.loads(result_path.read_bytes()), log, seconds


def packet_beats(packets, size, beat_bytes):
    """The beats (ints) of ``packets``, a sink's TLAST-terminated packets, when they are one
    packet of ``size`` bytes as a job's output must be; else None."""
    if [len(p) for p in packets] != [size]:
        return None
    data = packets[0]
    return [int.from_bytes(data[j:j + beat_bytes], "little") for j in range(0, size, beat_bytes)]


def _expected_readback(reg, value):
    """What a register of ``reg.bits`` bits reads back after ``value`` was written."""
    v = value & ((1 << reg.bits) - 1)
    if reg.signed and v >> (reg.bits - 1):
        v -= 1 << reg.bits
    return v & 0xFFFFFFFF


def _register_checks(layout, rng):
    """AXI-Lite transactions and what each must answer: ``(ops, expectations)``."""
    regmap = layout.regmap
    ops, expect = [], []

    def read(offset, data, resp, what):
        ops.append(("read", offset, None))
        expect.append((resp, data, what))

    def write(offset, value, resp, what, nbytes=4):
        ops.append(("write", offset, (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes,
                                                                                   "little")))
        expect.append((resp, None, what))

    read(regmap.offset("id"), regmap.kernel_id, AXI_OKAY, "id register")
    read(regmap.offset("status"), 0, AXI_OKAY, "status after reset")
    for reg in regmap:
        if reg.name in ("ctrl", "status", "cycles_lo", "cycles_hi", "id"):
            continue
        for i in range(reg.count):
            value = int(rng.integers(0, 1 << 32))
            write(reg.offset + 4 * i, value, AXI_OKAY, f"write {reg.name}[{i}]")
            read(reg.offset + 4 * i, _expected_readback(reg, value), AXI_OKAY,
                 f"read back {reg.name}[{i}]")
    # A partial-strobe write answers SLVERR and leaves the register as it was.
    target = regmap.registers[-1] if regmap.registers[-1].access == "rw" else regmap["len"]
    write(target.offset, 0x12345678, AXI_OKAY, f"write {target.name}")
    write(target.offset + 1, 0xAB, AXI_SLVERR, f"one-byte write to {target.name}", nbytes=1)
    read(target.offset, _expected_readback(target, 0x12345678), AXI_OKAY,
         f"{target.name} unchanged by the rejected byte write")
    for s in layout.outputs:
        write(s.out_beats_offset, 0x00C0FFEE, AXI_OKAY, f"write {s.out_beats_register}")
        read(s.out_beats_offset, 0x00C0FFEE, AXI_OKAY, f"read back {s.out_beats_register}")
    used = {(r.offset >> 2) + i for r in regmap for i in range(r.count)}
    used |= {s.out_beats_offset >> 2 for s in layout.outputs}
    holes = [w * 4 for w in range(regmap.size // 4) if w not in used][:2]
    holes += [regmap.size + 4 * len(layout.outputs), layout.window - 4]
    for offset in holes:
        read(offset, 0, AXI_SLVERR, f"read of unmapped 0x{offset:x}")
        write(offset, 0xFFFFFFFF, AXI_SLVERR, f"write to unmapped 0x{offset:x}")
    read(regmap.offset("id"), regmap.kernel_id, AXI_OKAY, "id register after the errors")
    return ops, expect


def _job_plan(layout, job, pause):
    regmap = layout.regmap
    writes = []
    for name, value in job.registers.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for i, v in enumerate(values):
            writes.append((regmap.offset(name, i), int(v) & 0xFFFFFFFF))
    frames, expect = {}, {}
    for s in layout.inputs:
        beats = pack_beats(s.port, job.streams[s.port.name])
        frames[s.axis] = b"".join(b.to_bytes(s.beat_bytes, "little") for b in beats)
    for s in layout.outputs:
        beats = s.port.beats(job.expect[s.port.name])
        writes.append((s.out_beats_offset, beats))
        expect[s.axis] = beats * s.beat_bytes
    moved = sum(len(f) // s.beat_bytes for s, f in zip(layout.inputs, frames.values()))
    moved += sum(n // s.beat_bytes for s, n in zip(layout.outputs, expect.values()))
    return {"writes": writes, "frames": frames, "expect": expect, "pause": pause,
            "budget": 60 * moved + 4000}


def verify_axi(kernel, params=None, *, seed=1, count=6, pause=0.3, workdir=None, status=None):
    """Verify the AXI-wrapped kernel in cocotb (cocotbext-axi) against the golden model.

    Runs ``hetflow.sim.axi_bench`` on the wrapper's Verilog in Verilator:
    AXI-Lite checks (id, every writable register read back, partial-strobe
    and unmapped accesses answering SLVERR), then ``count`` jobs from the
    kernel's :meth:`~hetflow.hw.Kernel.cases` through AXI-Stream with random
    pauses on every channel (``pause``: probability per cycle), each started
    and polled through AXI-Lite, each output checked for exactly one TLAST-
    terminated packet and compared with the golden model, and one more run
    of the largest job without pauses for throughput.

    Returns
    -------
    AxiVerifyResult
    """
    from ...cache import cache_dir
    from ...sim.toolchain import find_simulator

    t0 = time.monotonic()
    kernel_cls = get_kernel(kernel)
    p = kernel_cls.bind(**(params or {}))
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HetflowError(f"count must be a positive integer, not {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HetflowError(f"seed must be a non-negative integer, not {seed!r}")
    if not 0 <= pause < 1:
        raise HetflowError(f"pause must be a probability in [0, 1), not {pause!r}")
    instance = Shell(kernel_cls, **p)
    wrapper = AxiKernel(instance)
    layout = wrapper.layout
    simulator = find_simulator("verilator")
    text = verilog.convert(wrapper, name=layout.top, emit_src=False)

    rng = np.random.default_rng(seed)
    ops, op_expect = _register_checks(layout, rng)
    cases = kernel_cls.cases(p, rng, count)
    jobs = [kernel_cls.prepare(p, dict(i), dict(s)) for i, s in cases]
    golden = [kernel_cls.golden(p, dict(i), dict(s)) for i, s in cases]
    planned = [_job_plan(layout, job, pause) for job in jobs]
    work = [kernel_cls.work(p, job) for job in jobs]
    perf = max(range(len(jobs)), key=lambda i: work[i][0])
    planned.append(dict(planned[perf], pause=0.0))
    plan = {"seed": seed, "ops": ops, "jobs": planned,
            "inputs": {s.axis: s.beat_bytes for s in layout.inputs},
            "outputs": {s.axis: s.beat_bytes for s in layout.outputs},
            "ctrl": layout.regmap.offset("ctrl"), "status": layout.regmap.offset("status"),
            "cycles": (layout.regmap.offset("cycles_lo"), layout.regmap.offset("cycles_hi")),
            "axil_pause": pause}

    result = AxiVerifyResult(kernel_cls.name, dict(p), seed, cases=len(jobs))
    tb = time.monotonic()
    built = build_axi_model(layout.name, layout.top, text, simulator, status,
                            f"the AXI wrapper of {layout.name}")
    result.build_cached = built.cached
    result.build_s = 0.0 if result.build_cached else time.monotonic() - tb

    tag = "-".join(f"{k}{v}" for k, v in p.items()) or "default"
    workdir = Path(workdir) if workdir else cache_dir() / "axi-verify" / \
        f"{kernel_cls.name}-{tag}-seed{seed}"
    if status:
        status(f"simulating {len(jobs)} jobs of {kernel_cls.name} through AXI")
    got, result.log, result.sim_s = run_axi_bench(
        simulator, "hetflow.sim.axi_bench", layout.top, built.directory, plan, workdir,
        "AXI bench")

    fail = result.failures
    result.coverage = got.get("coverage", {})
    for (resp, data), (want_resp, want_data, what), op in zip(got["ops"], op_expect, ops):
        result.register_checks += 1
        if resp != want_resp:
            fail.append(f"{what} (0x{op[1]:x}): response {resp}, expected {want_resp}")
        elif want_data is not None and data != want_data:
            fail.append(f"{what} (0x{op[1]:x}): read 0x{data:08x}, expected 0x{want_data:08x}")
    if len(got["ops"]) != len(ops):
        fail.append(f"only {len(got['ops'])} of {len(ops)} AXI-Lite checks ran")

    for i, job in enumerate(jobs + [jobs[perf]]):
        if i >= len(got["jobs"]):
            fail.append(f"job {i}: did not run")
            continue
        r = got["jobs"][i]
        if r["error"]:
            fail.append(f"job {i}: {r['error']}")
            continue
        streams = {}
        for s in layout.outputs:
            packets = r["frames"][s.axis]
            want = planned[i]["expect"][s.axis]
            beats = packet_beats(packets, want, s.beat_bytes)
            if beats is None:
                fail.append(f"job {i}: {s.axis} gave packets of {[len(f) for f in packets]} "
                            f"bytes; expected one TLAST-terminated packet of {want} bytes")
                continue
            if any(b >> s.port.width for b in beats):
                fail.append(f"job {i}: {s.axis} padding bits above bit {s.port.width} not zero")
            streams[s.port.name] = unpack_beats(s.port, beats, job.expect[s.port.name])
        if len(streams) != len(layout.outputs):
            continue
        out = kernel_cls.collect(p, job, streams)
        exp = golden[perf] if i == len(jobs) else golden[i]
        for name, want in exp.items():
            have = np.asarray(out[name])
            want = np.asarray(want)
            if have.shape != want.shape:
                fail.append(f"job {i}: {name} has shape {have.shape}, expected {want.shape}")
                continue
            bad = np.argwhere(have != want)
            for idx in bad[:5]:
                idx = tuple(int(v) for v in idx)
                fail.append(f"job {i}: {name}[{idx[0] if len(idx) == 1 else idx}] expected "
                            f"{want[idx].item()} got {have[idx].item()}")
    last = got["jobs"][-1] if len(got["jobs"]) == len(jobs) + 1 else None
    if last and not last["error"] and last["cycles"]:
        amount, unit = work[perf]
        if amount:
            result.cycles_per_unit = last["cycles"] / amount
            result.unit = unit
    result.wall_s = time.monotonic() - t0
    return result
