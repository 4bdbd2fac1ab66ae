"""Scheduling policies over a :class:`~hetflow.sched.costgraph.CostGraph`, and what they return.

Every policy maps a cost graph to a :class:`Schedule`: the device, start and
finish of every task, in the HEFT paper's model: a device runs one task at a
time; a task starts once every predecessor has finished and, if it ran on
another device, its result has been moved (the edge's cost); transfers
overlap with computation and with each other.

``heft``
    Heterogeneous Earliest Finish Time (Topcuoglu, Hariri and Wu, IEEE TPDS
    2002): tasks in decreasing *upward rank*, each on the device where it
    finishes earliest, allowed into an idle gap (insertion-based).
``dmda``
    Online, like StarPU's *dmdas*: a task is placed when it becomes ready;
    tasks ready together go in decreasing upward rank, each to the device of
    the smallest expected completion.  No look-ahead, no insertion.
``eager``
    Like StarPU's *eager*: an idle device takes the oldest ready task it can run.
``cpu-only`` / ``fpga-only``
    Baselines: HEFT on the CPU devices / on the FPGA devices (host steps that
    no FPGA can run still run on a CPU).

:func:`follow` times a given placement and per-device order in the same model
(a plan's predicted run, :func:`hetflow.sched.contention.predict`).

Bounds on any schedule's length are in :mod:`hetflow.bench.bounds`.
"""

import bisect
import heapq
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from .costgraph import CostGraph, GraphError

__all__ = ["Schedule", "POLICIES", "schedule", "heft", "dmda", "dmda_order", "eager",
           "cpu_only", "fpga_only", "follow", "upward_ranks"]

#: Relative slack for comparing times computed in floating point.
_EPS = 1e-9
#: The devices a baseline keeps to, in its error messages.
_A_DEVICE = {"cpu": "a cpu device", "fpga": "an fpga device"}


@dataclass
class Schedule:
    """Where and when every task runs.

    Attributes
    ----------
    policy : str
        Name of the policy that made it.
    graph : CostGraph
        The graph it schedules (costs are the policy's predictions).
    placement, start, finish : dict
        Task name to device name, start and finish time (seconds).
    """

    policy: str
    graph: CostGraph
    placement: dict = field(default_factory=dict)
    start: dict = field(default_factory=dict)
    finish: dict = field(default_factory=dict)

    @property
    def makespan(self):
        """Finish time of the last task."""
        return max(self.finish.values(), default=0.0)

    def sequence(self):
        """Task names in start order: an order in which every task follows its inputs."""
        # Zero-length tasks can share an instant with their successors: topological
        # position settles such ties the way precedence requires.
        position = {t: i for i, t in enumerate(self.graph.order)}
        return sorted(self.placement, key=lambda t: (self.start[t], self.finish[t], position[t]))

    def order(self):
        """Device name to its tasks in start order (every device listed)."""
        sequence = self.sequence()
        return {d: [t for t in sequence if self.placement[t] == d] for d in self.graph.device_names}


def upward_ranks(g):
    """HEFT's upward rank of every task (average costs; edges at their transfer cost)."""
    rank = {}
    for t in reversed(g.order):
        avg = sum(g.cost[t].values()) / len(g.cost[t])
        rank[t] = avg + max((g.transfer(t, s) + rank[s] for s in g.succ[t]), default=0.0)
    return rank


def _data_ready(g, sched, t, device):
    """When every input of ``t`` is available on ``device``."""
    return max((sched.finish[p] + (g.transfer(p, t) if sched.placement[p] != device else 0.0)
                for p in g.pred[t]), default=0.0)


def _earliest_gap(busy, ready, duration):
    """Earliest start >= ``ready`` of a ``duration`` slot between the (sorted) busy intervals."""
    end = 0.0
    for s, f in busy:
        start = max(ready, end)
        if start + duration <= s + _EPS * max(1.0, s):
            return start
        end = max(end, f)
    return max(ready, end)


def _earliest_finish(g, t, start_on):
    """``(finish, start, device)`` of ``t`` on the device where it finishes first (ties: the
    first in device order); ``start_on(device)`` is when it could start there."""
    best = None
    for d in g.feasible(t):
        start = start_on(d)
        if best is None or start + g.cost[t][d] < best[0] - _EPS * max(1.0, best[0]):
            best = (start + g.cost[t][d], start, d)
    return best


def heft(g, name="heft"):
    """HEFT: upward-rank priorities, insertion-based earliest finish time."""
    rank = upward_ranks(g)
    # A predecessor's rank is never below its successor's; equal ranks (zero costs) keep
    # their topological order (a stable sort), so every task comes after its predecessors.
    priority = sorted(g.order, key=lambda t: -rank[t])
    sched = Schedule(name, g)
    busy = {d: [] for d in g.device_names}
    for t in priority:
        finish, start, d = _earliest_finish(g, t, lambda d: _earliest_gap(
            busy[d], _data_ready(g, sched, t, d), g.cost[t][d]))
        sched.placement[t], sched.start[t], sched.finish[t] = d, start, finish
        bisect.insort(busy[d], (start, finish))
    return sched


def _online(g, name, pick):
    """Place tasks as they become ready, from time 0 and after every finish.

    ``pick(now, ready, available, sched)`` yields ``(task, device)`` pairs to
    place at ``now``; ``ready`` maps each task whose inputs are finished, not
    yet placed, to when they were; ``available`` each device to when it is
    free.  A placed task starts once its device is free and its inputs are there.
    """
    sched = Schedule(name, g)
    available = {d: 0.0 for d in g.device_names}
    sorter = TopologicalSorter(g.pred)
    sorter.prepare()
    ready = dict.fromkeys(sorter.get_ready(), 0.0)
    events, now = [], 0.0
    while True:
        for t, d in pick(now, ready, available, sched):
            del ready[t]
            start = max(now, available[d], _data_ready(g, sched, t, d))
            sched.placement[t], sched.start[t], sched.finish[t] = d, start, start + g.cost[t][d]
            available[d] = sched.finish[t]
            heapq.heappush(events, (sched.finish[t], g.index(t), t))
        if not events:
            break
        # Every task finishing at the same instant frees its successors at once.
        now = events[0][0]
        while events and events[0][0] <= now:
            sorter.done(heapq.heappop(events)[2])
        ready.update(dict.fromkeys(sorter.get_ready(), now))
    return sched


def dmda(g, name="dmda"):
    """Online dmda: place each task when it becomes ready, at its minimum expected completion.

    Tasks that become ready together are placed in :func:`dmda_order`.
    """
    order = dmda_order(g)

    def pick(now, ready, available, sched):
        for t in order(list(ready)):
            yield t, _earliest_finish(g, t, lambda d: max(
                now, available[d], _data_ready(g, sched, t, d)))[2]
    return _online(g, name, pick)


def dmda_order(g):
    """dmda's order of tasks ready together: a function of a list of tasks to a sorted list.

    Decreasing upward rank (:func:`upward_ranks`), as priorities in StarPU's
    *dmdas*: of two tasks ready at once, the one with more work behind it
    picks its device first.  Ties go to the listing order.
    """
    rank = upward_ranks(g)
    return lambda tasks: sorted(tasks, key=lambda t: (-rank[t], g.index(t)))


def eager(g, name="eager"):
    """Eager: the first idle device takes the oldest ready task it can run."""
    def pick(now, ready, available, sched):
        for d in g.device_names:
            runs = [t for t in ready if d in g.cost[t]]
            if available[d] <= now and runs:
                yield min(runs, key=lambda t: (ready[t], g.index(t))), d
    return _online(g, name, pick)


def follow(sched, g=None):
    """``sched``'s placement and per-device order, timed on cost graph ``g``.

    Each device runs its tasks in ``sched``'s order, each one as soon as the
    device is free and its inputs are there (the model above); ``g``
    (default: ``sched``'s graph, with the same devices) gives the durations.
    Returns a :class:`Schedule` of ``g`` named after ``sched``'s policy.
    """
    g = g or sched.graph
    out = Schedule(sched.policy, g, dict(sched.placement))
    free = {d: 0.0 for d in g.device_names}
    for t in sched.sequence():
        d = sched.placement[t]
        out.start[t] = max(free[d], _data_ready(g, out, t, d))
        out.finish[t] = free[d] = out.start[t] + g.cost[t][d]
    return out


def _only(g, kind, policy, fallback=None):
    devices = [d.name for d in g.devices if d.kind == kind]
    if not devices:
        raise GraphError(f"{g.source}: {policy}: the graph has no {kind} device (devices: "
                         f"{', '.join(f'{d.name} ({d.kind})' for d in g.devices)})")
    allowed = {}
    for t in g.tasks:
        allowed[t] = [d for d in devices if d in g.cost[t]]
        if not allowed[t] and fallback:
            allowed[t] = [d.name for d in g.devices if d.kind == fallback and d.name in g.cost[t]]
        if not allowed[t]:
            where = _A_DEVICE[kind] + (f" nor on {_A_DEVICE[fallback]}" if fallback else "")
            raise GraphError(f"{g.source}: {policy}: task '{t}' has no cost on {where} "
                             f"({', '.join(devices)}); it cannot run there")
    sched = heft(g.with_costs({t: {d: c for d, c in g.cost[t].items() if d in allowed[t]}
                               for t in g.tasks}), name=policy)
    sched.graph = g         # a schedule of the whole graph, bounds and ratios too
    return sched


def cpu_only(g, name="cpu-only"):
    """Every task on the CPU device(s) (HEFT among them)."""
    return _only(g, "cpu", name)


def fpga_only(g, name="fpga-only"):
    """Every task that an FPGA can run on the FPGA device(s); host steps on the CPU."""
    return _only(g, "fpga", name, fallback="cpu")


POLICIES = {"heft": heft, "dmda": dmda, "eager": eager, "cpu-only": cpu_only,
            "fpga-only": fpga_only}


def schedule(g, policy="heft"):
    """Schedule cost graph ``g`` with the named policy; returns a :class:`Schedule`."""
    if policy not in POLICIES:
        raise GraphError(f"unknown policy '{policy}'; choose one of: {', '.join(POLICIES)}")
    return POLICIES[policy](g)
