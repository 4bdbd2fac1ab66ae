"""Contention: devices that share the host slow each other down, by a measured factor.

The ``sim`` device is a Verilator process driven by a Python thread of the
host process, and the ``cpu`` device runs NumPy in that same process: on a
machine with few cores the two compete for cores and for Python's global
interpreter lock.  A task therefore takes longer while another device is
busy; by how much is measured, not assumed:

* every recorded run carries its *overlap*, the fraction of its duration
  during which some other device of the run was busy (:func:`overlaps`);
* a model's *slowdown* ``s`` (:meth:`hetflow.sched.taskmodel.Model.slowdown`)
  is fitted from its overlapped runs, a run that overlapped a fraction ``f``
  of its time taking ``base * (1 + (s - 1) * f)`` seconds.

:func:`simulate` replays a plan with those slowdowns (a task progresses at
rate ``1 / s`` while another device is busy, at rate 1 alone): the
executor's prediction of a run.
"""

from .costgraph import CostGraph
from .policies import Schedule

__all__ = ["overlaps", "simulate"]

#: Relative slack of time comparisons.
_EPS = 1e-12


def overlaps(placement, start, finish):
    """Task name to the fraction (0..1) of its run during which another device was busy.

    ``placement``, ``start`` and ``finish`` map task names to device labels
    and measured seconds; a task of zero length gets 0.
    """
    busy = {}
    for t, d in placement.items():
        busy.setdefault(d, []).append((start[t], finish[t]))
    # Per device, its busy time as disjoint sorted intervals.
    merged = {}
    for d, spans in busy.items():
        out = []
        for s, f in sorted(spans):
            if out and s <= out[-1][1]:
                out[-1][1] = max(out[-1][1], f)
            else:
                out.append([s, f])
        merged[d] = out
    result = {}
    for t, d in placement.items():
        s, f = start[t], finish[t]
        if f - s <= 0:
            result[t] = 0.0
            continue
        # The union over the other devices of their busy intervals, clipped to [s, f].
        cut = sorted((max(a, s), min(b, f)) for o, spans in merged.items() if o != d
                     for a, b in spans if a < f and b > s)
        covered, end = 0.0, s
        for a, b in cut:
            if b > end:
                covered += b - max(a, end)
                end = b
        result[t] = min(covered / (f - s), 1.0)
    return result


def simulate(sched, slowdown, name=None, reorder=True):
    """Replay ``sched``'s placement and per-device order with contention: the predicted run.

    Each device runs its tasks in the schedule's order (with ``reorder``, as
    the executor does, a later one whose inputs are there first); a task
    starts once its inputs are there (a transfer when from another device)
    and its device is free, and progresses at rate ``1 / slowdown[t][d]``
    (task -> device -> factor, missing: 1) while another device is busy, at
    rate 1 alone.  Returns a :class:`Schedule` named ``name`` (default:
    ``sched.policy``) with the replayed times, of a graph whose placed costs
    are the replayed durations.
    """
    g = sched.graph
    todo = sched.order()
    finish, start = {}, {}
    running = {}                          # device -> [task, remaining uncontended seconds]
    now, left = 0.0, len(g.tasks)

    def ready_at(t, d):
        # When t's inputs are on d, or None while a predecessor has not finished.
        at = 0.0
        for p in g.pred[t]:
            if p not in finish:
                return None
            at = max(at, finish[p] + (g.transfer(p, t) if sched.placement[p] != d else 0.0))
        return at

    def arrivals():
        return [a for d, q in todo.items() if d not in running
                for t in (q if reorder else q[:1])
                if (a := ready_at(t, d)) is not None and a > now]

    while left:
        # Start (and finish, if of zero length) everything that can at this instant.
        changed = True
        while changed:
            changed = False
            for d, queue in todo.items():
                if d in running:
                    continue
                for t in (queue if reorder else queue[:1]):
                    at = ready_at(t, d)
                    if at is not None and at <= now + _EPS * max(1.0, now):
                        queue.remove(t)
                        start[t], running[d], changed = now, [t, g.cost[t][d]], True
                        break
            for d in [d for d, (_, rem) in running.items() if rem <= 0]:
                finish[running.pop(d)[0]], changed = now, True
                left -= 1
        if not left:
            break
        if not running:
            later = arrivals()
            if not later:
                raise RuntimeError(f"simulate: the order of {sched.policy}'s schedule "
                                   f"deadlocks")
            now = min(later)
            continue
        shared = len(running) > 1
        rate = {d: 1.0 / (slowdown.get(t, {}).get(d, 1.0) if shared else 1.0)
                for d, (t, _) in running.items()}
        step = min(rem / rate[d] for d, (_, rem) in running.items())
        later = arrivals()
        if later:
            step = min(step, min(later) - now)
        now += step
        for d in list(running):
            t = running[d][0]
            running[d][1] -= step * rate[d]
            if running[d][1] <= _EPS * max(1.0, g.cost[t][d]):
                del running[d]
                finish[t] = now
                left -= 1
    # The result's graph holds the simulated durations, so it is a valid Schedule of it.
    costs = {t: dict(g.cost[t]) for t in g.tasks}
    for t, d in sched.placement.items():
        costs[t][d] = finish[t] - start[t]
    out = Schedule(name or sched.policy, CostGraph(
        g.devices, costs, [[a, b, c] for (a, b), c in g.edges.items()], source=g.source))
    out.placement, out.start, out.finish = dict(sched.placement), start, finish
    return out
