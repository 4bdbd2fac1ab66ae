"""Bounds on the makespan of any schedule: what a policy's plan is measured against.

:func:`lower_bounds` gives the classic bounds of a cost graph (critical path,
work over devices, the two-device area bound) and :func:`slr` the schedule
length ratio (``hetflow schedule`` and ``hetflow bench schedule`` print
them); :func:`contended_bound` bounds a two-device plan when sharing the host
slows its tasks down (``hetflow bench schedule``'s mixed workload).
"""

import numpy as np

__all__ = ["lower_bounds", "slr", "contended_bound"]


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


def slr(sched):
    """Schedule length ratio of ``sched``: makespan / CP_MIN (1.0 is the best possible)."""
    cp = lower_bounds(sched.graph)["critical_path"]
    return sched.makespan / cp if cp > 0 else 1.0


def contended_bound(g, slowdown):
    """A lower bound on the makespan of any plan of two-device cost graph ``g`` under contention.

    A task progresses at rate 1 while its device works alone and at rate
    ``1 / slowdown`` while both work (how a slowdown is measured:
    :mod:`hetflow.sched.contention`), so at every instant either one device
    works alone or both share.  The makespan is at least the time spent
    alone plus the time spent sharing; this is the least such time
    when every task may be split at will between four modes -- alone on
    either device, or sharing on either device -- a linear program: minimise
    ``A + S``, ``A`` the work done alone (each part at that device's cost)
    and ``S`` the shared time, at least the work each device does while
    sharing (each part at its cost times its slowdown).  Dependencies are
    ignored (the critical path is a separate bound).  Without slowdowns it is
    the two-device area bound of :func:`lower_bounds`.  A plan's prediction
    (:func:`hetflow.sched.contention.predict`) stretches every task of a plan
    that shares the host, so it is never below this bound either.
    """
    from scipy.optimize import linprog
    from scipy.sparse import lil_array

    if len(g.devices) != 2:
        raise ValueError(f"contended_bound: the graph has {len(g.devices)} devices; the "
                         f"bound is for two")
    tasks = list(g.tasks)
    n = len(tasks)
    # Columns: per task, alone on each device then sharing on each device; last: S.
    objective = np.zeros(4 * n + 1)
    objective[-1] = 1.0
    bounds = [(0.0, None)] * (4 * n + 1)
    once, shared = lil_array((n, 4 * n + 1)), lil_array((2, 4 * n + 1))
    shared[:, -1] = -1.0
    for i, t in enumerate(tasks):
        for k, d in enumerate(g.device_names):
            once[i, 4 * i + k] = once[i, 4 * i + 2 + k] = 1.0
            if d not in g.cost[t]:
                bounds[4 * i + k] = bounds[4 * i + 2 + k] = (0.0, 0.0)
                continue
            objective[4 * i + k] = g.cost[t][d]
            shared[k, 4 * i + 2 + k] = g.cost[t][d] * slowdown.get(t, {}).get(d, 1.0)
    result = linprog(objective, A_ub=shared.tocsr(), b_ub=np.zeros(2), A_eq=once.tocsr(),
                     b_eq=np.ones(n), bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"contended_bound: the linear program failed: {result.message}")
    return float(result.fun)
