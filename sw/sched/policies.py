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

:func:`lower_bounds` gives the classic bounds on any schedule's length.
"""

import heapq
from dataclasses import dataclass, field

from .costgraph import CostGraph, GraphError

__all__ = ["Schedule", "POLICIES", "schedule", "heft", "dmda", "dmda_order", "eager",
           "cpu_only", "fpga_only", "lower_bounds", "upward_ranks"]

#: Relative slack for comparing times computed in floating point.
_EPS = 1e-9


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

    def order(self):
        """Device name to its tasks in start order (every device listed)."""
        out = {d: [] for d in self.graph.device_names}
        # Zero-length tasks can share an instant with their successors: topological
        # position settles such ties the way precedence requires.
        position = {t: i for i, t in enumerate(self.graph.order)}
        for t in sorted(self.placement, key=lambda t: (self.start[t], self.finish[t],
                                                      position[t])):
            out[self.placement[t]].append(t)
        return out

    def bounds(self):
        """:func:`lower_bounds` of the graph."""
        return lower_bounds(self.graph)

    def slr(self):
        """Schedule length ratio: makespan / CP_MIN (1.0 is the best possible)."""
        cp = self.bounds()["critical_path"]
        return self.makespan / cp if cp > 0 else 1.0

    def to_dict(self):
        """JSON-able: makespan, placement, start, finish, per-device order and bounds."""
        bounds = self.bounds()
        return {"policy": self.policy,
                "makespan": self.makespan,
                "placement": dict(self.placement),
                "start": dict(self.start),
                "finish": dict(self.finish),
                "order": self.order(),
                "lower_bound": bounds["lower_bound"],
                "critical_path": bounds["critical_path"],
                "work_bound": bounds["work"],
                "area_bound": bounds["area"],
                "slr": self.slr()}


def lower_bounds(g):
    """Lower bounds on the makespan of any schedule of ``g``.

    Returns
    -------
    dict
        ``critical_path``: the longest path with every task at its minimum
        cost and no transfer (CP_MIN); ``work``: the sum of minimum costs
        over the number of devices; ``area``: with two devices, the least
        time in which they can do every task's work when a task may be split
        between them, each part at that device's cost (the optimum of that
        linear program, found by taking tasks onto the first device in order
        of their cost ratio); with other device counts, ``work``;
        ``lower_bound``: the largest of these.
    """
    longest = {}
    for t in g.order:
        longest[t] = g.min_cost(t) + max((longest[p] for p in g.pred[t]), default=0.0)
    cp = max(longest.values(), default=0.0)
    work = sum(g.min_cost(t) for t in g.tasks) / len(g.devices)
    area = _area_two(g) if len(g.devices) == 2 else work
    return {"critical_path": cp, "work": work, "area": area,
            "lower_bound": max(cp, work, area)}


def _area_two(g):
    """The area bound of a two-device graph (see :func:`lower_bounds`)."""
    a, b = g.device_names
    load_a = sum(g.cost[t][a] for t in g.tasks if b not in g.cost[t])
    load_b = sum(g.cost[t][b] for t in g.tasks if a not in g.cost[t])
    both = [(g.cost[t][a], g.cost[t][b]) for t in g.tasks if a in g.cost[t] and b in g.cost[t]]
    # Start with every shared task on b; move them to a, cheapest per unit of b saved first.
    both.sort(key=lambda ab: ab[0] / ab[1] if ab[1] > 0 else float("inf"))
    load_b += sum(cb for _, cb in both)
    for ca, cb in both:
        if load_a >= load_b:
            break
        if load_a + ca >= load_b - cb:
            # The loads meet inside this task: split it there.
            return load_a + ca * (load_b - load_a) / (ca + cb)
        load_a, load_b = load_a + ca, load_b - cb
    return max(load_a, load_b)


def upward_ranks(g):
    """HEFT's upward rank of every task (average costs; edges at their transfer cost)."""
    rank = {}
    for t in reversed(g.order):
        costs = g.cost[t].values()
        avg = sum(costs) / len(costs)
        rank[t] = avg + max((g.transfer(t, s) + rank[s] for s in g.succ[t]), default=0.0)
    return rank


def _data_ready(g, sched, t, device):
    """When every input of ``t`` is available on ``device``."""
    ready = 0.0
    for p in g.pred[t]:
        arrival = sched.finish[p]
        if sched.placement[p] != device:
            arrival += g.transfer(p, t)
        ready = max(ready, arrival)
    return ready


def _earliest_gap(busy, ready, duration):
    """Earliest start >= ``ready`` of a ``duration`` slot between the (sorted) busy intervals."""
    end = 0.0
    for s, f in busy:
        start = max(ready, end)
        if start + duration <= s + _EPS * max(1.0, s):
            return start
        end = max(end, f)
    return max(ready, end)


def heft(g, name="heft"):
    """HEFT: upward-rank priorities, insertion-based earliest finish time."""
    rank = upward_ranks(g)
    position = {t: i for i, t in enumerate(g.order)}
    # A predecessor's rank is never below its successor's; equal ranks (zero costs) fall
    # back to topological order, so every task comes after its predecessors.
    priority = sorted(g.tasks, key=lambda t: (-rank[t], position[t]))
    sched = Schedule(name, g)
    busy = {d: [] for d in g.device_names}
    for t in priority:
        best = None
        for d in g.feasible(t):
            duration = g.cost[t][d]
            start = _earliest_gap(busy[d], _data_ready(g, sched, t, d), duration)
            if best is None or start + duration < best[0] - _EPS * max(1.0, best[0]):
                best = (start + duration, start, d)
        finish, start, d = best
        sched.placement[t], sched.start[t], sched.finish[t] = d, start, finish
        busy[d].append((start, finish))
        busy[d].sort()
    return sched


def dmda(g, name="dmda"):
    """Online dmda: place each task when it becomes ready, at its minimum expected completion.

    Tasks that become ready together are placed in :func:`dmda_order`.
    """
    sched = Schedule(name, g)
    order = dmda_order(g)
    available = {d: 0.0 for d in g.device_names}
    waiting = {t: len(g.pred[t]) for t in g.tasks}
    ready = [t for t in g.tasks if waiting[t] == 0]
    events, now = [], 0.0
    while True:
        for t in order(ready):
            best = None
            for d in g.feasible(t):
                start = max(now, available[d], _data_ready(g, sched, t, d))
                finish = start + g.cost[t][d]
                if best is None or finish < best[0] - _EPS * max(1.0, best[0]):
                    best = (finish, start, d)
            finish, start, d = best
            sched.placement[t], sched.start[t], sched.finish[t] = d, start, finish
            available[d] = finish
            heapq.heappush(events, (finish, g.index(t), t))
        ready = []
        if not events:
            break
        # Every task finishing at the same instant frees its successors at once.
        now = events[0][0]
        while events and events[0][0] <= now:
            _, _, done = heapq.heappop(events)
            for s in g.succ[done]:
                waiting[s] -= 1
                if waiting[s] == 0:
                    ready.append(s)
    return sched


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
    sched = Schedule(name, g)
    free = {d: 0.0 for d in g.device_names}
    waiting = {t: len(g.pred[t]) for t in g.tasks}
    ready_at = {t: 0.0 for t in g.tasks if waiting[t] == 0}     # all predecessors placed
    left = len(g.tasks)
    while left:
        now = min(free.values())
        idle = [d for d in g.device_names if free[d] <= now]
        chosen = None
        for d in idle:
            candidates = [t for t, r in ready_at.items() if r <= now and d in g.cost[t]]
            if candidates:
                chosen = d, min(candidates, key=lambda t: (ready_at[t], g.index(t)))
                break
        if chosen is None:
            # Nothing these devices can run yet: they idle until the next event.
            later = [r for r in ready_at.values() if r > now]
            later += [f for f in sched.finish.values() if f > now]
            later += [f for f in free.values() if f > now]
            if not later:
                raise GraphError(f"{g.source}: eager: no device can run tasks "
                                 f"{', '.join(sorted(ready_at))}")
            nxt = min(later)
            for d in idle:
                free[d] = nxt
            continue
        d, t = chosen
        start = max(now, _data_ready(g, sched, t, d))
        finish = start + g.cost[t][d]
        sched.placement[t], sched.start[t], sched.finish[t] = d, start, finish
        free[d] = finish
        del ready_at[t]
        left -= 1
        for s in g.succ[t]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready_at[s] = max(sched.finish[p] for p in g.pred[s])
    return sched


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
            where = f"{_a(kind)} {kind} device" + (f" nor on {_a(fallback)} {fallback} device"
                                                   if fallback else "")
            raise GraphError(f"{g.source}: {policy}: task '{t}' has no cost on {where} "
                             f"({', '.join(devices)}); it cannot run there")
    sched = heft(g.restricted(allowed), name=policy)
    sched.graph = g         # bounds and ratios are those of the whole graph
    return sched


def _a(word):
    return "an" if word[0] in "aefhilmnorsx" else "a"


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
