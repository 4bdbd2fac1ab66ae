"""Contention: devices that share the host slow each other down; plans that account for it.

The ``sim`` device is a Verilator process driven by a Python thread of the
host process, and the ``cpu`` device runs NumPy in that same process.  On a
machine with few cores the two compete: for cores, and -- more -- for
Python's global interpreter lock, which an integer matmul or a zlib copy
holds for milliseconds while the simulator's driver thread waits for it to
exchange a few bytes with the simulator.  A task therefore takes longer
while another device is busy; by how much is measured, not assumed:

* every recorded run carries its *overlap*, the fraction of its duration
  during which some other device of the run was busy (:func:`overlaps`);
* a model's *slowdown* ``s`` (:meth:`hetflow.sched.perfmodel.Model.slowdown`)
  is fitted from its overlapped runs, with a run that overlapped a fraction
  ``f`` of its time taking ``base * (1 + (s - 1) * f)`` seconds, ``base``
  being the time the model predicts from runs that did not overlap.

:func:`simulate` replays a placement and per-device order with those
slowdowns: a task progresses at rate ``1 / s`` while another device is
busy and at rate 1 alone (a fluid model); :func:`simulate_online` runs the
online policies (``dmda``, ``eager``) in the same model, deciding as the
executor does when tasks become ready, and :func:`expected_online`
predicts eager's typical run from many such simulations on jittered costs.
:func:`contended_bound` bounds the makespan of any plan in that model (a
linear program).  :func:`choose` uses them to pick, for ``heft`` and
``dmda``, the best of the policy's own schedule (for heft also its
schedule of the contended costs, every cost times its slowdown, and
:func:`refine`'s local search) and the single-device baselines -- so that
a policy does not share the host when the measured contention makes
sharing lose.  A plan that shares the host must be predicted shorter than
the best single-device plan by more than :data:`MARGIN`: the models are
not exact, and a gain smaller than their error is as likely a loss.
"""

from .graph import CostGraph
from .policies import Schedule, dmda_order, schedule as make_schedule

__all__ = ["overlaps", "simulate", "simulate_online", "jittered_runs", "expected_online",
           "contended", "contended_bound", "choose", "dmda_place", "refine", "GUARDED",
           "ONLINE", "MARGIN", "JITTER", "JITTERED", "SAMPLES"]

#: Policies that consider not sharing the host (the baselines are what they are;
#: eager is the naive reference).
GUARDED = ("heft", "dmda")
#: Policies whose placements are decided while the graph runs.
ONLINE = ("dmda", "eager")
#: How much shorter (relative) a plan that shares the host must be predicted than the best
#: single-device plan to be chosen over it.
MARGIN = 0.05
#: Relative spread of real task times around the models' where nothing better is known
#: (the executor passes each model's measured spread): eager's prediction averages over it
#: (:func:`expected_online`).
JITTER = 0.10
#: Simulated runs :func:`expected_online` averages.
SAMPLES = 32
#: Online policies predicted by their expected run (:func:`expected_online`) rather than one
#: simulation: eager's choices flip with small changes of timing (which task the idle
#: device grabs); dmda's are stable enough for one simulation, which then compares with
#: the static candidates on the same (unjittered) terms.
JITTERED = ("eager",)
#: Candidates :func:`choose` compares, besides the policy itself on the plain costs.
_BASELINES = ("cpu-only", "fpga-only")
#: Relative slack of time comparisons.
_EPS = 1e-12


def overlaps(placement, start, finish):
    """Fraction of each task's duration during which another device was busy.

    Parameters
    ----------
    placement, start, finish : dict
        Task name to device label and measured start / finish seconds.

    Returns
    -------
    dict
        Task name to a fraction in ``[0, 1]`` (0 for a task of zero length).
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


def contended(g, slowdown):
    """A copy of cost graph ``g`` with every cost multiplied by its slowdown.

    ``slowdown`` maps task -> device -> factor (missing: 1).
    """
    tasks = {t: {d: c * slowdown.get(t, {}).get(d, 1.0) for d, c in g.cost[t].items()}
             for t in g.tasks}
    return CostGraph(g.devices, tasks, [[a, b, c] for (a, b), c in g.edges.items()],
                     source=g.source)


def contended_bound(g, slowdown):
    """A lower bound on the makespan of any schedule of two-device graph ``g`` under contention.

    In the fluid model of :func:`simulate`, at every instant either one
    device works alone (its task progresses at rate 1) or both work (each
    task at ``1 / slowdown``).  Whatever the schedule, the makespan is at
    least the time spent alone plus the time spent sharing.  This is the
    least such time when every task may be split at will between four
    modes -- alone on either device, or sharing on either device -- found by
    a linear program: minimise ``A + S`` where ``A`` is the work done alone
    (each part at that device's cost) and ``S`` the shared time, at least
    the work each device does while sharing (each part at its cost times
    its slowdown).  Dependencies and transfers are ignored, so the critical
    path is a separate bound (:func:`hetflow.sched.policies.lower_bounds`).
    Without slowdowns it equals the two-device area bound; with them it is
    at least that, since running both devices then does less work per second.

    Parameters
    ----------
    g : CostGraph
        Two devices; the costs are the times alone.
    slowdown : dict
        Task -> device -> factor >= 1 (missing: 1).

    Returns
    -------
    float
        Seconds.
    """
    return _contended_lp(g, slowdown)[0]


def _contended_lp(g, slowdown):
    """:func:`contended_bound`'s linear program: ``(bound, {task: {device: fraction}})``.

    A task's fraction on a device counts its parts there alone and sharing.
    """
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import lil_array

    if len(g.devices) != 2:
        raise ValueError(f"contended_bound: the graph has {len(g.devices)} devices; the "
                         f"bound is for two")
    labels = g.device_names
    tasks = list(g.tasks)
    if not tasks:
        return 0.0, {}
    # Columns: per task, alone on each device then sharing on each device; last: S.
    n = len(tasks)
    objective = np.zeros(4 * n + 1)
    objective[-1] = 1.0
    bounds = [(0.0, None)] * (4 * n + 1)
    once = lil_array((n, 4 * n + 1))
    shared = lil_array((2, 4 * n + 1))
    shared[:, -1] = -1.0
    for i, t in enumerate(tasks):
        for k, d in enumerate(labels):
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
    x = result.x
    fractions = {t: {d: float(x[4 * i + k] + x[4 * i + 2 + k]) for k, d in enumerate(labels)}
                 for i, t in enumerate(tasks)}
    return float(result.fun), fractions


def simulate(sched, slowdown, name=None, reorder=True):
    """Replay ``sched``'s placement and per-device order with contention.

    Each device runs its tasks in the schedule's order (with ``reorder``, as
    the executor does, a later task whose inputs are there when the next one's
    are not); a task starts once its predecessors have finished (plus the
    transfer when on another device) and its device is free.  While it runs,
    it progresses at rate ``1 / slowdown[t][d]`` if any other device is busy,
    else at rate 1.

    Parameters
    ----------
    sched : Schedule
        The plan; its graph holds the uncontended costs.
    slowdown : dict
        Task -> device -> factor >= 1 (missing: 1).
    name : str, optional
        Policy name of the result (default: ``sched.policy``).

    Returns
    -------
    Schedule
        Same placement, with the simulated start and finish times; its graph
        has each task's cost on its device replaced by the simulated duration,
        so the result is a valid :class:`Schedule` of that graph.
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
        left -= len(_advance(g, running, rate, step, now, finish))
    return _replayed(g, name or sched.policy, sched.placement, start, finish)


def _advance(g, running, rate, step, now, finish):
    """Run every busy device ``step`` seconds at its rate; the ``(device, task)`` that ended.

    ``running`` maps a device to ``[task, remaining uncontended seconds]``; a
    task that is done leaves it and gets ``finish[task] = now``.
    """
    ended = []
    for d in list(running):
        t = running[d][0]
        running[d][1] -= step * rate[d]
        if running[d][1] <= _EPS * max(1.0, g.cost[t][d]):
            del running[d]
            finish[t] = now
            ended.append((d, t))
    return ended


def dmda_place(cost, slowdown, free_at, queued, slow, now, labels):
    """Where online dmda puts a ready task, and every device's expected queue end after.

    The task's expected finish on a device is its queue end (or now) plus
    its cost, times its slowdown when another device is expected to be busy
    then; a device busy meanwhile runs at 1/slowdown (the mean slowdown of
    its queued tasks) for the overlap, so its queue end moves by the overlap
    times ``1 - 1/slowdown``.  The task goes where the expected end of all
    placed work is earliest, ties broken by its own finish, then by device
    order.  Without slowdowns this is dmda's device of earliest completion.

    Parameters
    ----------
    cost : dict
        Device label to the task's predicted seconds alone (feasible devices).
    slowdown : dict
        Device label to the task's slowdown there.
    free_at : dict
        Device label to its expected queue end (seconds from the run's start).
    queued : dict
        Device label to the tasks placed there and not finished.
    slow : dict
        Task -> device -> slowdown, for the queued tasks.
    now : float
    labels : list
        Every device label, in order.

    Returns
    -------
    (str, dict)
        The device, and every device's expected queue end with the task there.
    """
    options = {}
    for lab, seconds in cost.items():
        begin = max(now, free_at[lab])
        busy = [o for o in labels if o != lab and free_at[o] > begin]
        end = begin + seconds * (slowdown[lab] if busy else 1.0)
        ends = dict(free_at)
        ends[lab] = end
        for o in busy:
            factor = (sum(slow[t][o] for t in queued[o]) / len(queued[o])
                      if queued[o] else 1.0)
            ends[o] += (min(free_at[o], end) - begin) * (1.0 - 1.0 / factor)
        options[lab] = (max(ends.values()), end, labels.index(lab), ends)
    best = min(options, key=lambda lab: options[lab][:3])
    return best, options[best][3]


def simulate_online(g, policy, slowdown, name=None):
    """Run online ``dmda`` or ``eager`` on cost graph ``g`` in the fluid contention model.

    Decisions are the executor's (:meth:`hetflow.sched.executor.Executor.execute`):
    a task is placed when its predecessors have finished -- dmda with
    :func:`dmda_place` on its expected queue ends, re-based on every finish,
    tasks ready together in :func:`~hetflow.sched.policies.dmda_order`;
    eager on the first idle device that can run the oldest ready task.  As
    in the executor, results stay on the host: edges' transfer costs are
    not paid.  Durations follow :func:`simulate`'s rates.

    Returns
    -------
    Schedule
        As :func:`simulate`'s: the placement made, the simulated times, and a
        graph whose placed costs are the simulated durations.
    """
    if policy not in ONLINE:
        raise ValueError(f"simulate_online: policy {policy!r} is not online; online "
                         f"policies are: {', '.join(ONLINE)}")
    labels = g.device_names
    one = {t: {d: slowdown.get(t, {}).get(d, 1.0) for d in g.cost[t]} for t in g.tasks}
    order = dmda_order(g)
    waiting = {t: len(g.pred[t]) for t in g.tasks}
    ready = [t for t in g.tasks if waiting[t] == 0]
    todo = {d: [] for d in labels}                     # placed, not started
    queued = {d: [] for d in labels}                   # placed, not finished (dmda)
    free_at = {d: 0.0 for d in labels}
    running, placement, start, finish = {}, {}, {}, {}
    now, left = 0.0, len(g.tasks)
    while left:
        if policy == "eager":
            for d in labels:
                if d in running or todo[d]:
                    continue
                pick = next((t for t in ready if d in g.cost[t]), None)
                if pick is not None:
                    ready.remove(pick)
                    todo[d].append(pick)
                    placement[pick] = d
        else:
            for t in order(ready):
                best, ends = dmda_place({d: g.cost[t][d] for d in g.feasible(t)}, one[t],
                                        free_at, queued, one, now, labels)
                free_at.update(ends)
                queued[best].append(t)
                todo[best].append(t)
                placement[t] = best
            ready = []
        for d in labels:
            if d not in running and todo[d]:
                t = todo[d].pop(0)
                start[t], running[d] = now, [t, g.cost[t][d]]
        if not running:
            raise RuntimeError(f"simulate_online: {policy} left tasks that no device can "
                               f"run: {', '.join(t for t in g.tasks if t not in placement)}")
        shared = len(running) > 1
        rate = {d: 1.0 / (one[t][d] if shared else 1.0) for d, (t, _) in running.items()}
        step = min(rem / rate[d] for d, (_, rem) in running.items())
        now += step
        for d, t in _advance(g, running, rate, step, now, finish):
            left -= 1
            if t in queued[d]:
                # Re-base the device's expected queue end on this finish.
                queued[d].remove(t)
                free_at[d] = now + sum(g.cost[n][d] for n in queued[d])
            for s in g.succ[t]:
                waiting[s] -= 1
                if waiting[s] == 0:
                    ready.append(s)
    return _replayed(g, name or policy, placement, start, finish)


def jittered_runs(g, policy, slowdown, samples=SAMPLES, jitter=JITTER, seed=0):
    """``samples`` runs of online ``policy`` (:func:`simulate_online`) on jittered costs.

    The first run is on the models' costs; each other scales every cost by
    its own factor drawn uniformly from ``1 +- j`` (seeded: the same
    arguments give the same runs).  ``jitter`` is ``j`` for every cost, or
    task -> device -> ``j`` (missing: :data:`JITTER`; each clipped to
    0..0.9), e.g. :meth:`hetflow.sched.perfmodel.PerfModels.spread`.
    """
    import random

    if samples < 1:
        raise ValueError(f"jittered_runs: samples {samples} is out of range; allowed 1 or more")
    def width(t, d):
        j = jitter.get(t, {}).get(d, JITTER) if isinstance(jitter, dict) else jitter
        return min(max(j, 0.0), 0.9)

    widths = {t: {d: width(t, d) for d in g.cost[t]} for t in g.tasks}
    rng = random.Random(seed)
    runs = [simulate_online(g, policy, slowdown)]
    for _ in range(samples - 1):
        # Every cost times its own factor: the same scaling as contended()'s.
        factors = {t: {d: rng.uniform(1.0 - w, 1.0 + w) for d, w in per.items()}
                   for t, per in widths.items()}
        runs.append(simulate_online(contended(g, factors), policy, slowdown))
    return runs


def expected_online(g, policy, slowdown, samples=SAMPLES, jitter=JITTER, seed=0):
    """The typical run of online ``policy``: of :func:`jittered_runs`, the one nearest their mean.

    An online policy decides from the times it sees, so a task that ends a
    little earlier or later can send the next one to another device: eager,
    which hands a ready task to whichever device is idle, may give the
    simulated board a long task in one run and a short one in the next.  One
    simulation predicts one of those runs, as likely the lucky one as not;
    the run nearest the mean of many is the likelier kind.

    Returns
    -------
    Schedule
        As :func:`simulate_online`'s, of the chosen run (its graph holds that
        run's costs).
    """
    runs = jittered_runs(g, policy, slowdown, samples, jitter, seed)
    mean = sum(r.makespan for r in runs) / len(runs)
    return min(runs, key=lambda r: abs(r.makespan - mean))


def _replayed(g, name, placement, start, finish):
    costs = {t: dict(g.cost[t]) for t in g.tasks}
    for t, d in placement.items():
        costs[t][d] = finish[t] - start[t]
    out = Schedule(name, CostGraph(g.devices, costs,
                                   [[a, b, c] for (a, b), c in g.edges.items()],
                                   source=g.source))
    out.placement, out.start, out.finish = dict(placement), start, finish
    return out


def refine(plan, slowdown, reorder=True, max_rounds=None):
    """Improve ``plan`` under contention by moving one task at a time to another device.

    HEFT decides each task greedily, by its earliest finish, and cannot see
    that moving a task off the busiest device pays later, or that under
    contention a slower device working in parallel still shortens the run.
    This is a best-improvement local search on the simulated makespan
    (:func:`simulate`): each round tries every task on every other device that
    can run it (keeping the device orders by start time) and applies the move
    that shortens the simulated run most; it stops when no move helps or after
    ``max_rounds`` rounds (default: the number of tasks).

    Returns
    -------
    (Schedule, Schedule)
        The refined plan on ``plan.graph``'s costs and its simulation.
    """
    g = plan.graph
    current = simulate(plan, slowdown, reorder=reorder)
    plan = Schedule(plan.policy, g, dict(current.placement), dict(current.start),
                    dict(current.finish))
    for _ in range(len(g.tasks) if max_rounds is None else max_rounds):
        best = None
        for t in g.tasks:
            for d in g.feasible(t):
                if d == plan.placement[t]:
                    continue
                moved = Schedule(plan.policy, g, {**plan.placement, t: d}, plan.start,
                                 plan.finish)
                trial = simulate(moved, slowdown, reorder=reorder)
                if trial.makespan < (best or current).makespan * (1.0 - 1e-9):
                    best = trial
        if best is None:
            break
        current = best
        plan = Schedule(plan.policy, g, dict(best.placement), dict(best.start),
                        dict(best.finish))
    return plan, current


def choose(g, policy, slowdown, reorder=True, margin=MARGIN, jitter=JITTER):
    """The schedule ``policy`` runs with, and its prediction under contention.

    For the baselines: the policy's schedule, simulated (:func:`simulate`);
    for eager (:data:`JITTERED`): :func:`expected_online` with ``jitter`` (one
    width, or per task and device).  For ``heft`` and ``dmda``, the
    candidates are the policy's own (heft's schedule of ``g`` and of
    :func:`contended` ``(g)``, simulated; dmda simulated online) and the
    cpu-only and fpga-only baselines (those the graph has devices for); heft
    adds ``"heft refined"``, the better of :func:`refine` started from the
    best of those and, with two devices, from the rounded split of
    :func:`contended_bound`'s linear program.  The
    shortest predicted candidate is chosen, except that a candidate that
    uses more than one device must beat the best one that uses a single
    device (the cpu-only plan; an fpga-only plan still runs host steps on
    the CPU) by more than ``margin`` (relative).  An online policy whose
    simulated run uses a single device gives way to the baseline that runs
    the same way (static: real times that stray from the predictions do not
    then make it share by accident).

    Returns
    -------
    (str, Schedule, Schedule, dict)
        The chosen candidate's name (``"heft"``, ``"heft on contended
        costs"``, ``"cpu-only"`` ...; the policy's name for the others), its
        plan on ``g``'s costs (placement and order to follow, named after
        ``policy``; for an online policy its simulated placement), its
        simulated schedule (the prediction), and every candidate's simulated
        makespan by name (empty for the others).
    """
    if policy in ONLINE:
        own = {policy: expected_online(g, policy, slowdown, jitter=jitter)
               if policy in JITTERED else simulate_online(g, policy, slowdown)}
        plans = {policy: own[policy]}
    else:
        plain = make_schedule(g, policy)
        plans = {policy: plain}
        own = {policy: simulate(plain, slowdown, reorder=reorder)}
    if policy not in GUARDED:
        return policy, plans[policy], own[policy], {}
    if policy == "heft" and any(f > 1.0 for per in slowdown.values() for f in per.values()):
        alt = make_schedule(contended(g, slowdown), policy)
        # Its placement and order, on the plain costs (the simulation applies the slowdowns).
        name = f"{policy} on contended costs"
        plans[name] = Schedule(policy, g, dict(alt.placement), dict(alt.start),
                               dict(alt.finish))
        own[name] = simulate(plans[name], slowdown, name=policy, reorder=reorder)
    kinds = {d.kind for d in g.devices}
    for base in _BASELINES:
        if base.split("-")[0] in kinds:
            plans[base] = make_schedule(g, base)
            own[base] = simulate(plans[base], slowdown, name=policy, reorder=reorder)
    if policy == "heft":
        # Local search (see refine) from the best candidate so far and, with two devices,
        # from the rounding of the lower bound's linear program: each task on the device
        # that does most of it there, in heft's order.  Single moves from one start get
        # stuck; the bound's split is often a better start.
        start_from = min(own, key=lambda n: own[n].makespan)
        starts = [plans[start_from]]
        if len(g.devices) == 2:
            fractions = _contended_lp(g, slowdown)[1]
            rounded = {t: max(f, key=f.get) for t, f in fractions.items()}
            starts.append(Schedule(policy, g, rounded, dict(plans[policy].start),
                                   dict(plans[policy].finish)))
        name = f"{policy} refined"
        refined, predicted = min((refine(p, slowdown, reorder=reorder) for p in starts),
                                 key=lambda pair: pair[1].makespan)
        if refined.placement != plans[start_from].placement:
            refined.policy = predicted.policy = policy
            plans[name], own[name] = refined, predicted
    spans = {name: s.makespan for name, s in own.items()}
    single = [name for name in spans if len(set(plans[name].placement.values())) <= 1]
    shared = [name for name in spans if name not in single]
    # Ties go to the policy itself, then to the order listed.
    order = list(spans)
    pick = lambda names: min(names, key=lambda n: (spans[n], order.index(n)))
    best = pick(spans)
    if single and best in shared:
        alone = pick(single)
        if spans[best] > spans[alone] * (1.0 - margin):
            best = alone
    if policy in ONLINE and best == policy and best in single:
        # Its simulated run shares nothing: run the baseline it ties with statically, so
        # that real times straying from the predictions do not make it share by accident.
        same = [n for n in single if n != policy
                and set(plans[n].placement.values()) == set(plans[policy].placement.values())
                and spans[n] <= spans[policy] * (1.0 + 1e-9)]
        if same:
            best = same[0]
    chosen = plans[best]
    chosen.policy = policy
    return best, chosen, own[best], spans
