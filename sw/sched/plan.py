"""Plans: a :class:`~hetflow.sched.graph.Graph` sized, predicted and scheduled by a policy.

:func:`make_plan` sizes every task without running it (kernel calls are split
and prepared as a device would; functions are called on zero-filled arrays
of the right shapes), predicts its time on each compute unit that can run it
(:class:`~hetflow.sched.perfmodel.PerfModels`) and schedules the resulting
:class:`~hetflow.sched.costgraph.CostGraph`.  The units are the devices, and
the instances and chains of a board's overlay (:func:`hetflow.overlays.compute_units`):
kernel tasks run on a device or on an instance of their kernel and
parameters, chain tasks on a unit with the chain or on a CPU, functions on a
CPU; edges cost 0 (results stay NumPy arrays in
this process; moving them to a board is part of the kernel call's time).

Each candidate plan is predicted with the measured slowdowns
(:func:`~hetflow.sched.contention.predict`), and ``heft`` and ``dmda`` run
the best of their own plan and the single-device baselines (:func:`choose`).
The plan says so: :attr:`Plan.choice` is the plan that runs, :attr:`Plan.own`
the predicted run of the policy's own, and :meth:`Plan.describe` says both.
"""

from dataclasses import dataclass

import numpy as np

from ..hw.registry import get_kernel
from .contention import predict
from .costgraph import CostGraph, DeviceSpec, GraphError
from .graph import Graph, substitute
from .work import function_work, kernel_work
from .policies import Schedule, schedule as make_schedule

__all__ = ["Plan", "choose", "make_plan", "GUESS", "MARGIN", "BASELINES", "GUARDED", "ONLINE"]

#: Seconds assumed for a task with no model yet: (fixed, per unit of work) per device kind.
GUESS = {"cpu": (20e-6, 2e-9), "fpga": (2e-3, 2e-7), "other": (1e-3, 1e-7)}
#: How much shorter (relative) a plan that shares the host must be predicted than the best
#: single-device plan to be chosen over it: the models are not exact, and a gain smaller
#: than their error is as likely a loss.
MARGIN = 0.05
#: The single-device baselines a guarded policy compares its own plan with.
BASELINES = ("cpu-only", "fpga-only")
#: Policies that consider not sharing the host (eager is the naive reference).
GUARDED = ("heft", "dmda")
#: Policies whose placements are decided while the graph runs.
ONLINE = ("dmda", "eager")


@dataclass
class Plan:
    """A graph sized, predicted and scheduled.

    Attributes
    ----------
    graph : Graph
    policy : str
        The policy asked for.
    costs : CostGraph
        Predicted seconds alone per task and device (device labels as in the executor).
    schedule : Schedule
        The plan that runs; its ``policy`` names the policy that made it
        (``"cpu-only"`` when heft chose that baseline).
    choice : str
        The candidate that runs: the policy's name or a baseline's.
    predicted : Schedule
        ``schedule`` timed with the slowdowns: the predicted run.
    own : Schedule
        The predicted run of the policy's own plan (``predicted`` when that is the choice).
    candidates : dict
        Every candidate's predicted makespan by name.
    slowdown : dict
        Task name to ``{device: factor}`` (1.0 with one device).
    work, units, sources : dict
        Task name to its :class:`~hetflow.sched.work.Work`, to what
        ``work.n`` counts, to ``{device: "history" | "fit" | "guess"}``.
    """

    graph: object
    policy: str
    costs: CostGraph
    schedule: Schedule
    choice: str
    predicted: Schedule
    own: Schedule
    candidates: dict
    slowdown: dict
    work: dict
    units: dict
    sources: dict

    @property
    def guessed(self):
        """``(task, device)`` pairs whose cost is a guess (no model yet)."""
        return [(t, d) for t, s in self.sources.items() for d, src in s.items() if src == "guess"]

    def describe(self):
        """Which plan runs and who made it, e.g. ``heft chose the cpu-only baseline (...)``."""
        return describe(self.policy, self.choice, self.own.makespan)


def describe(policy, choice, own_makespan):
    """Words for a plan: ``policy`` when it runs its own plan, else what it chose instead."""
    if choice == policy:
        return policy
    return f"{policy} chose the {choice} baseline (its own plan: {own_makespan:.4g} s predicted)"


def choose(g, policy, slowdown, margin=MARGIN):
    """The plan ``policy`` runs on cost graph ``g``, and every candidate's predicted run.

    The candidates are the policy's own schedule and, for the :data:`GUARDED`
    policies, the baselines the graph has devices for, each predicted with
    ``slowdown`` (:func:`~hetflow.sched.contention.predict`).  The shortest
    predicted run wins, but one that uses several devices must beat the best
    single-device one by more than ``margin`` (relative); ties go to the
    policy's own plan.

    Returns
    -------
    (str, dict, dict)
        The chosen candidate's name, every candidate's plan (a
        :class:`Schedule` of ``g`` named after the policy that made it) and
        its predicted run, by name; the policy's own is under its name.
    """
    plans = {policy: make_schedule(g, policy)}
    if policy in GUARDED:
        kinds = {d.kind for d in g.devices}
        plans.update({base: make_schedule(g, base) for base in BASELINES
                      if base.split("-")[0] in kinds})
    runs = {name: predict(p, slowdown) for name, p in plans.items()}
    spans = {name: r.makespan for name, r in runs.items()}
    pick = lambda names: min(names, key=spans.get)      # ties: the first, the policy's own
    single = [n for n in spans if len(set(plans[n].placement.values())) <= 1]
    best = pick(spans)
    if single and best not in single and spans[best] > spans[pick(single)] * (1.0 - margin):
        best = pick(single)
    return best, plans, runs


def make_plan(graph, units, kinds, models, policy="heft"):
    """The :class:`Plan` of ``graph`` with ``policy`` on ``units`` (label to
    :class:`~hetflow.overlays.ComputeUnit`).

    ``kinds`` maps each label to its device kind.  A unit's models are those
    of its device (``unit.device.name``).
    """
    if not isinstance(graph, Graph):
        raise GraphError(f"Executor.plan takes a Graph, not {type(graph).__name__}")
    if not graph.tasks:
        raise GraphError("the graph has no tasks")
    stand_in, work, units_of, costs, sources = {}, {}, {}, {}, {}
    for name, task in graph.tasks.items():
        args, kwargs = substitute(task.args, stand_in), substitute(task.kwargs, stand_in)
        labels = [label for label, unit in units.items() if unit.runs(task)]
        if not labels and task.kind == "function":
            raise GraphError(f"task '{name}' is a Python function and needs a cpu "
                             f"device; devices are: {', '.join(units)}")
        if not labels:
            raise GraphError(f"task '{name}' ({task.key}) can run on no unit; units are: "
                             + "; ".join(f"{u.label} ({u.offers()})" for u in units.values()))
        # What a function task sees while its result's shape is being found.
        zeros = lambda v: np.zeros_like(v) if isinstance(v, np.ndarray) else v
        if task.kind == "kernel":
            w, unit, result = kernel_work(get_kernel(task.kernel), task.params, args, kwargs)
        elif task.kind == "chain":
            w, unit, result = task.chain.work(args, kwargs)
        else:
            try:
                result = task.fn(*map(zeros, args), **{k: zeros(v) for k, v in kwargs.items()})
            except Exception as exc:
                raise GraphError(f"task '{name}': {task.key[3:]} fails on zero-filled "
                                 f"inputs of the right shapes, which is how its result's "
                                 f"shape is found before a run: {type(exc).__name__}: "
                                 f"{exc}") from None
            w, unit = function_work(args, kwargs, result)
        stand_in[name], work[name], units_of[name] = result, w, unit
        costs[name], sources[name] = {}, {}
        for label in labels:
            seconds, source = models.predict(task.key, units[label].device.name, w)
            if seconds is None:
                fixed, per_unit = GUESS.get(kinds[label], GUESS["other"])
                seconds, source = fixed + per_unit * w.n, "guess"
            costs[name][label], sources[name][label] = max(seconds, 0.0), source
    edges = [[dep, name, 0.0] for name, task in graph.tasks.items() for dep in task.deps]
    cost_graph = CostGraph([DeviceSpec(label, kinds[label]) for label in units], costs, edges,
                           source="graph")
    slowdown = {name: {label: (models.slowdown(graph.tasks[name].key, units[label].device.name)[0]
                               if len(units) > 1 else 1.0) for label in costs[name]}
                for name in graph.tasks}
    choice, plans, runs = choose(cost_graph, policy, slowdown)
    return Plan(graph, policy, cost_graph, plans[choice], choice, runs[choice], runs[policy],
                {name: r.makespan for name, r in runs.items()}, slowdown, work, units_of, sources)
