"""An overlay's AXI IPs verified in cocotb (cocotbext-axi) against the composed golden models.

:class:`AxiOverlayTop` is what the block design holds of an overlay, as RTL:
every instance's AXI wrapper (:class:`~.wrapper.AxiKernel` with its
:class:`~.layout.AxiLayout` from :class:`~.overlay.OverlayLayout`), each
chained ``m_axis_<port>`` wired to its consumer's ``s_axis_<port>`` as
``build_overlay.tcl`` connects them, and everything else on its own ports,
prefixed with the instance's name (``fir0_s_axi_control_awaddr``,
``gemm0_m_axis_c_tdata``).  :func:`verify_overlay_axi` drives it with
:mod:`.overlay_bench`: every unit of the overlay (a chain, an instance alone)
runs one case per job, all at once, programmed and started over AXI-Lite,
fed and drained over AXI-Stream with random pauses, and compared with the
composed golden models (:func:`hetflow.hw.overlay.compose`).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ...hw.errors import HetflowError
from ...hw.job import pack_beats, unpack_beats
from ...sim.overlay_verify import unit_calls
from .overlay import OverlayLayout
from .verify import build_axi_model, packet_beats, run_axi_bench
from .wrapper import AxiKernel

__all__ = ["AxiOverlayTop", "verify_overlay_axi", "OverlayAxiResult"]

_SIGNALS = ("tdata", "tvalid", "tready", "tlast")


class AxiOverlayTop(wiring.Component):
    """Every instance's AXI wrapper, chained streams wired inside (see the module doc).

    Parameters
    ----------
    layout : OverlayLayout
    """

    def __init__(self, layout):
        self.layout = layout
        self.wrappers = {name: AxiKernel(shell, layout.layouts[name])
                         for name, shell in layout.shells().items()}
        self._chained = {(name, s.axis) for name, lay in layout.layouts.items()
                         for s in lay.streams if s.chained}
        members = {"ap_clk": In(1), "ap_rst_n": In(1)}
        for name, wrapper in self.wrappers.items():
            for member_name, member in wrapper.signature.members.items():
                if member_name not in ("ap_clk", "ap_rst_n") \
                        and not self._is_chained(name, member_name):
                    members[f"{name}_{member_name}"] = member
        super().__init__(members)

    def _is_chained(self, name, member):
        return any(member.startswith(axis + "_") and member[len(axis) + 1:] in _SIGNALS
                   for inst, axis in self._chained if inst == name)

    def elaborate(self, platform):
        m = Module()
        for name, wrapper in self.wrappers.items():
            m.submodules[name] = wrapper
            m.d.comb += [wrapper.ap_clk.eq(self.ap_clk), wrapper.ap_rst_n.eq(self.ap_rst_n)]
            for member_name, member in wrapper.signature.members.items():
                if member_name in ("ap_clk", "ap_rst_n") or self._is_chained(name, member_name):
                    continue
                outer, inner = getattr(self, f"{name}_{member_name}"), getattr(wrapper,
                                                                               member_name)
                m.d.comb += inner.eq(outer) if member.flow == wiring.In else outer.eq(inner)
        for s in self.layout.overlay.streams:
            src = self.wrappers[s.source[0]]
            dst = self.wrappers[s.sink[0]]
            out, into = f"m_axis_{s.source[1]}", f"s_axis_{s.sink[1]}"
            m.d.comb += [getattr(dst, f"{into}_tdata").eq(getattr(src, f"{out}_tdata")),
                         getattr(dst, f"{into}_tvalid").eq(getattr(src, f"{out}_tvalid")),
                         getattr(dst, f"{into}_tlast").eq(getattr(src, f"{out}_tlast")),
                         getattr(src, f"{out}_tready").eq(getattr(dst, f"{into}_tready"))]
        return m


@dataclass
class OverlayAxiResult:
    """Outcome of :func:`verify_overlay_axi`: cases compared per unit, failures."""

    overlay: str
    seed: int
    cases: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    build_s: float = 0.0
    sim_s: float = 0.0
    log: Path = None

    @property
    def passed(self):
        return bool(self.cases) and all(self.cases.values()) and not self.failures

    def summary(self):
        units = ", ".join(f"{name} {n}" for name, n in self.cases.items())
        return (f"{'PASS' if self.passed else 'FAIL'} overlay {self.overlay} (AXI): {units} "
                f"cases compared, {len(self.failures)} failures, seed {self.seed}, "
                f"build {self.build_s:.1f} s, sim {self.sim_s:.1f} s")


def _plan(layout, units, count, seed, pause):
    plan = {"seed": seed, "instances": list(layout.layouts), "inputs": [], "outputs": [],
            "jobs": [], "ctrl": 0x00, "status": 0x04}
    for name, lay in layout.layouts.items():
        plan["inputs"] += [f"{name}_{s.axis}" for s in lay.inputs]
        plan["outputs"] += [f"{name}_{s.axis}" for s in lay.outputs]
    for k in range(count):
        job = {"writes": [], "starts": [], "frames": {}, "expect": {}, "pause": pause}
        for calls in units.values():
            jobs, _ = calls[k % len(calls)]
            for inst in reversed(list(jobs)):       # a chain's consumers start first
                lay = layout.layouts[inst]
                job["writes"] += [(inst, 4 * word, value) for word, value in
                                  lay.regmap.word_writes(jobs[inst].registers)]
                for s in lay.outputs:
                    beats = s.port.beats(jobs[inst].expect[s.port.name])
                    job["writes"].append((inst, s.out_beats_offset, beats))
                    job["expect"][f"{inst}_{s.axis}"] = beats * s.beat_bytes
                for s in lay.inputs:
                    beats = pack_beats(s.port, jobs[inst].streams[s.port.name])
                    job["frames"][f"{inst}_{s.axis}"] = b"".join(
                        b.to_bytes(s.beat_bytes, "little") for b in beats)
                job["starts"].append(inst)
        moved = sum(len(f) for f in job["frames"].values()) + sum(job["expect"].values())
        job["budget"] = 60 * moved + 20_000
        plan["jobs"].append(job)
    return plan


def verify_overlay_axi(overlay, *, seed=1, count=4, pause=0.3, workdir=None, status=None):
    """Verify an overlay's AXI IPs in cocotb (cocotbext-axi) against the composed golden models.

    Returns
    -------
    OverlayAxiResult
    """
    from ...cache import cache_dir
    from ...sim.toolchain import find_simulator

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HetflowError(f"count must be a positive integer, not {count!r}")
    if not 0 <= pause < 1:
        raise HetflowError(f"pause must be a probability in [0, 1), not {pause!r}")
    layout = OverlayLayout(overlay)
    top = AxiOverlayTop(layout)
    text = verilog.convert(top, name=f"{layout.name}_top", emit_src=False)
    rng = np.random.default_rng(seed)
    units = unit_calls(layout.overlay, rng, count)
    plan = _plan(layout, units, count, seed, pause)
    result = OverlayAxiResult(overlay.name, seed)
    simulator = find_simulator("verilator")
    t0 = time.monotonic()
    built = build_axi_model(layout.name, f"{layout.name}_top", text, simulator, status,
                            f"the AXI IPs of overlay {overlay.name}")
    result.build_s = 0.0 if built.cached else time.monotonic() - t0
    workdir = Path(workdir) if workdir else cache_dir() / "axi-verify" / \
        f"overlay-{overlay.name}-seed{seed}"
    got, result.log, result.sim_s = run_axi_bench(
        simulator, "hetflow.boards.zynq.overlay_bench", f"{layout.name}_top", built.directory,
        plan, workdir, "overlay AXI bench")
    got = got["jobs"]
    result.cases = {name: 0 for name in units}
    for k in range(count):
        if k >= len(got):
            result.failures.append(f"job {k}: did not run")
            continue
        if got[k]["error"]:
            result.failures.append(f"job {k}: {got[k]['error']}")
            continue
        for unit, calls in units.items():
            jobs, expected = calls[k % len(calls)]
            bad = _compare(layout, jobs, expected, got[k]["frames"], f"job {k}: {unit}")
            result.failures += bad
            result.cases[unit] += not bad
    return result


def _compare(layout, jobs, expected, frames, where):
    failures = []
    for (inst, port), want in expected.items():
        lay = layout.layouts[inst]
        s = lay.stream(port)
        packets = frames[f"{inst}_{s.axis}"]
        size = s.port.beats(jobs[inst].expect[port]) * s.beat_bytes
        beats = packet_beats(packets, size, s.beat_bytes)
        if beats is None:
            failures.append(f"{where}: {inst}.{port} gave packets of "
                            f"{[len(p) for p in packets]} bytes; expected one of {size}")
            continue
        stream = unpack_beats(s.port, beats, jobs[inst].expect[port])
        have = np.asarray(lay.kernel_cls.collect(lay.params, jobs[inst], {port: stream})[port])
        want = np.asarray(want)
        if have.shape != want.shape or not np.array_equal(have, want):
            idx = np.argwhere(have.reshape(-1)[:want.size] != want.reshape(-1)[:have.size])
            first = int(idx[0][0]) if len(idx) else None
            failures.append(f"{where}: {inst}.{port} differs from the composed golden model"
                            + (f" at {first}: expected {want.reshape(-1)[first]} got "
                               f"{have.reshape(-1)[first]}" if first is not None else
                               f" (shape {have.shape}, expected {want.shape})"))
    return failures
