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

:func:`predict` times a plan with those slowdowns: the executor's prediction
of a run.
"""

from .policies import follow

__all__ = ["overlaps", "predict"]


def overlaps(placement, start, finish):
    """Task name to the fraction (0..1) of its run during which another device was busy.

    ``placement``, ``start`` and ``finish`` map task names to device labels
    and measured seconds; a task of zero length gets 0.
    """
    result = {}
    for t, d in placement.items():
        s, f = start[t], finish[t]
        if f - s <= 0:
            result[t] = 0.0
            continue
        # The union of the other devices' runs, clipped to [s, f]: swept in start order,
        # each adds what lies beyond the end of those before it.
        cut = sorted((max(start[o], s), min(finish[o], f)) for o, e in placement.items()
                     if e != d and start[o] < f and finish[o] > s)
        covered, end = 0.0, s
        for a, b in cut:
            if b > end:
                covered += b - max(a, end)
                end = b
        result[t] = min(covered / (f - s), 1.0)
    return result


def predict(sched, slowdown):
    """The predicted run of plan ``sched``: its placement and per-device order, timed.

    A plan that uses more than one device shares the host: each task's cost
    on its device is multiplied by its slowdown there (``slowdown``: task ->
    device -> factor, missing: 1), as if every task ran while another device
    was busy -- a pessimistic model, simple enough to say what a plan costs.
    A plan on one device keeps its costs.  The tasks are then timed in the
    plan's placement and per-device order (:func:`~hetflow.sched.policies.follow`),
    the order the executor runs a static plan in.

    Returns
    -------
    Schedule
        Named after ``sched``'s policy, of a graph whose costs are the predicted
        durations.
    """
    g = sched.graph
    if len(set(sched.placement.values())) > 1:
        g = g.with_costs({t: {d: c * slowdown.get(t, {}).get(d, 1.0)
                              for d, c in g.cost[t].items()} for t in g.tasks})
    return follow(sched, g)
