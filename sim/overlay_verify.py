"""Verification of an overlay: every instance and chain against the composed golden models.

``verify_overlay("pipeline.toml")`` compiles the overlay's fabric
(:class:`~hetflow.hw.overlay.fabric.OverlayFabric`: every instance's shell,
the FIFOs of its streams) and runs it in the generic cocotb bench
(:mod:`hetflow.sim.cocotb_bench`) with random valid gaps and ready
back-pressure on every port the host sees; the FIFOs inside a chain fill
and drain as the instances stall each other.  Each job runs one case of
every chain and of every unchained instance *at the same time*, each unit
programmed and started over its own register bus, and compares

* each chain's outputs with :func:`~hetflow.hw.overlay.compose` (the golden
  models of its instances in stream order), and
* each unchained instance's outputs with its kernel's golden model.

Stimuli: a chain takes the cases of its first kernel (its edge cases first)
for that instance, and random inputs and scalars of the lengths the stream
gives for the others (:meth:`~hetflow.hw.Kernel.sample_call`).
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ..hw.errors import HetflowError
from ..hw.job import pack_beats, unpack_beats
from ..hw.overlay import as_overlay, compose, derive_jobs
from ..hw.overlay.chain import stream_length
from ..hw.overlay.fabric import OverlayFabric
from ..hw.stimuli import random_ints
from ..hw.verilog import to_verilog
from .build import build_verilog
from .toolchain import find_simulator
from .verify import DEFAULT_PAUSE, bench_unit, compare_outputs, new_run_dir, run_plan

__all__ = ["verify_overlay", "OverlayVerifyResult", "chain_cases", "unit_calls"]


@dataclass
class OverlayVerifyResult:
    """Outcome of :func:`verify_overlay`: per unit (chain or instance), cases and failures."""

    overlay: str
    simulator: str
    seed: int
    units: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    log: object = None
    wall_s: float = 0.0

    @property
    def passed(self):
        return bool(self.units) and not self.failures

    def summary(self):
        units = ", ".join(f"{name} {passed}/{cases}" for name, (passed, cases)
                          in self.units.items())
        return (f"{'PASS' if self.passed else 'FAIL'} overlay {self.overlay}: {units} cases "
                f"passed, seed {self.seed}, {self.simulator}, {self.wall_s:.1f} s")


def chain_cases(overlay, chain, rng, count):
    """``count`` calls of ``chain``: ``(inputs by (instance, port), scalars by instance)``."""
    first = overlay.instances[chain.order[0]]
    calls = []
    for inputs0, scalars0 in first.kernel_cls.cases(first.params, rng, count):
        inputs = {(first.name, k): np.asarray(v) for k, v in inputs0.items()}
        scalars = {first.name: dict(scalars0)}
        n_first = len(next(iter(inputs0.values()))) if inputs0 else 0
        produced = _produced(overlay, first, inputs0, scalars0)
        for name in chain.order[1:]:
            inst = overlay.instances[name]
            fed = {s.sink[1]: s for s in chain.streams if s.sink[0] == name}
            n = next((stream_length(overlay, s, produced[s.source]) for s in fed.values()),
                     n_first)
            scalars[name] = dict(inst.kernel_cls.sample_call(inst.params, rng, max(n, 1))[1])
            args = {}
            for port in inst.ports("in"):
                if port.name in fed:
                    args[port.name] = np.zeros(n, port.np_dtype)
                else:
                    args[port.name] = inputs[(name, port.name)] = random_ints(
                        rng, port.np_dtype, n)
            produced.update(_produced(overlay, inst, args, scalars[name]))
        calls.append((inputs, scalars))
    return calls


def _produced(overlay, inst, inputs, scalars):
    job = inst.kernel_cls.prepare(inst.params, dict(inputs), dict(scalars))
    return {(inst.name, port): n for port, n in job.expect.items()}


def unit_calls(overlay, rng, count):
    """The cases of every unit of ``overlay``: each chain, each instance outside a chain.

    Returns ``{unit name: [(jobs, expected)]}``, ``count`` cases per unit (the
    kernel's edge cases first): ``jobs`` maps each instance of the unit to its
    :class:`~hetflow.hw.job.Job` (a chain's from
    :func:`~hetflow.hw.overlay.derive_jobs`), ``expected`` maps ``(instance,
    port)`` to the golden output (a chain's from
    :func:`~hetflow.hw.overlay.compose`).  The simulation's and the AXI IPs'
    verifications run the same cases.
    """
    units = {}
    for name, chain in overlay.chains.items():
        units[name] = [(derive_jobs(overlay, chain, inputs, scalars),
                        compose(overlay, chain, inputs, scalars))
                       for inputs, scalars in chain_cases(overlay, chain, rng, count)]
    for name, inst in overlay.instances.items():
        if overlay.chained(name):
            continue
        cls, p = inst.kernel_cls, inst.params
        units[name] = []
        for inputs, scalars in cls.cases(p, rng, count):
            job = cls.prepare(p, dict(inputs), dict(scalars))
            gold = cls.golden(p, dict(inputs), dict(scalars))
            units[name].append(({name: job}, {(name, k): v for k, v in gold.items()}))
    return units


def _plan(fabric, units, count, seed, pause):
    names = list(fabric.shells)
    index = {name: i for i, name in enumerate(names)}
    plan = {"seed": seed, "inputs": [], "outputs": [], "jobs": [],
            "units": [bench_unit(f"{name}_csr", fabric.shells[name].map) for name in names]}
    for name in names:
        ins, outs = fabric.host_ports(name)
        plan["inputs"] += [f"{name}_{p.name}" for p in ins]
        plan["outputs"] += [f"{name}_{p.name}" for p in outs]
    for k in range(count):
        job = {"units": [], "beats": {}, "expect": {}, "in_pause": pause, "out_pause": pause}
        for calls in units.values():
            jobs = calls[k % len(calls)][0]
            for inst, inst_job in jobs.items():
                writes = fabric.shells[inst].map.word_writes(inst_job.registers)
                job["units"].append((index[inst], writes))
                ins, outs = fabric.host_ports(inst)
                for port in ins:
                    job["beats"][f"{inst}_{port.name}"] = pack_beats(
                        port, inst_job.streams[port.name])
                for port in outs:
                    job["expect"][f"{inst}_{port.name}"] = port.beats(inst_job.expect[port.name])
        total = sum(len(b) for b in job["beats"].values()) + sum(job["expect"].values())
        job["budget"] = 40 * total + 8000
        plan["jobs"].append(job)
    return plan


def verify_overlay(overlay, *, sim="verilator", seed=1, count=10, pause=DEFAULT_PAUSE,
                   waves=False, status=None):
    """Verify ``overlay`` (an Overlay or the path of its TOML file) in simulation.

    Returns an :class:`OverlayVerifyResult`; raises :class:`HetflowError` for
    bad arguments and :class:`~hetflow.sim.verify.SimulationError` when the
    simulator produces nothing.
    """
    t0 = time.monotonic()
    say = status or (lambda msg: None)
    overlay = as_overlay(overlay)
    if not isinstance(count, int) or count < 1:
        raise HetflowError(f"count must be a positive integer, not {count!r}")
    if not isinstance(seed, int) or seed < 0:
        raise HetflowError(f"seed must be a non-negative integer, not {seed!r}")
    rng = np.random.default_rng(seed)
    units = unit_calls(overlay, rng, count)
    simulator = find_simulator(sim)
    fabric = OverlayFabric(overlay)
    top = f"hetflow_overlay_{overlay.name}"
    say(f"building overlay {overlay.name} ({len(overlay.instances)} instances) for "
        f"{simulator.name}")
    sim_build = build_verilog(f"overlay-{overlay.name}", top, to_verilog(fabric, name=top),
                              simulator, waves=waves or simulator.name == "verilator",
                              status=say)
    plan = _plan(fabric, units, count, seed, pause)
    say(f"simulating {count} jobs of {', '.join(units)} at once")
    workdir = new_run_dir(f"overlay-{overlay.name}-{simulator.name}-seed{seed}")
    results, _, log = run_plan(sim_build, plan, workdir, waves, "all")
    result = OverlayVerifyResult(overlay.name, simulator.name, seed, log=log)
    for name, calls in units.items():
        passed = 0
        for k in range(count):
            jobs, expected = calls[k % len(calls)]
            r = results[k] if k < len(results) else None
            if r is None or r["error"]:
                result.failures.append(f"{name} case {k}: "
                                       f"{r['error'] if r else 'not run (an earlier job hung)'}")
                continue
            got = {}
            for inst, port in expected:
                out = fabric.shells[inst].out_ports
                port_spec = next(q for q in out if q.name == port)
                elements = unpack_beats(port_spec, r["outputs"][f"{inst}_{port}"],
                                        jobs[inst].expect[port])
                collected = overlay.instances[inst].kernel_cls.collect(
                    overlay.instances[inst].params, jobs[inst], {port: elements})
                got[f"{inst}.{port}"] = collected[port]
            bad, found = compare_outputs(k, {f"{i}.{p}": v for (i, p), v in expected.items()},
                                         got)
            if bad:
                result.failures += [f"{name}: {m}" for m in found]
            else:
                passed += 1
        result.units[name] = (passed, count)
    result.wall_s = time.monotonic() - t0
    return result
