"""Run a :class:`~hetflow.sched.graph.Graph` on real devices, concurrently, as a policy says.

::

    with hetflow.open("cpu") as cpu, hetflow.open("sim") as sim:
        report = Executor([cpu, sim]).run(graph, policy="heft")
    report.makespan, report.predicted.makespan   # measured and predicted seconds
    report.describe()        # "heft", or "heft chose the cpu-only baseline (...)"
    report[ref]              # the value of a task

A run is: **plan** (:func:`~hetflow.sched.plan.make_plan`), **execute** (every
kernel the plan needs is loaded first, so a simulator build is not part of
the makespan; then one worker thread per compute unit runs the tasks this thread
hands it) and **learn** (every task's measured time, cycles and overlap with
the other devices' work are recorded in its model).  The plan is data: another
executor (:mod:`hetflow.distributed`) can run the same plan and call :meth:`Executor.learn`.
"""

import time
import warnings
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from ..hw.errors import HetflowError
from ..overlays import compute_units, start_together
from .contention import overlaps
from .costgraph import GraphError, device_kind
from .graph import TaskRef, substitute
from .perfmodel import PerfModels
from .plan import ONLINE, Plan, describe, make_plan
from .policies import Schedule, dmda_order

__all__ = ["Executor", "Plan", "RunReport", "ExecutionError"]


class ExecutionError(HetflowError, RuntimeError):
    """A task failed or the run did not finish in time."""


@dataclass
class RunReport:
    """What happened in one run.

    Attributes
    ----------
    policy : str
        The policy asked for.
    placement, start, finish : dict
        Task name to device label and measured seconds from the first start.
    predicted : Schedule
        The predicted run of the plan that ran (:attr:`Plan.predicted`).
    choice : str
        The plan that ran (:attr:`Plan.choice`): the policy's own or a baseline.
    own_makespan : float
        The predicted makespan of the policy's own plan.
    results : dict
        Task name to its value.
    cycles : dict
        Task name to device cycles (kernel tasks on devices that count them).
    """

    policy: str
    placement: dict
    start: dict
    finish: dict
    predicted: Schedule
    choice: str
    own_makespan: float
    results: dict = field(repr=False)
    cycles: dict = field(default_factory=dict)

    @classmethod
    def of(cls, plan, placement, start, finish, results, cycles, **extra):
        """The report of a run of ``plan`` (times are shifted to start at 0)."""
        first = min(start.values(), default=0.0)
        return cls(plan.policy, placement, {n: s - first for n, s in start.items()},
                   {n: f - first for n, f in finish.items()}, plan.predicted, plan.choice,
                   plan.own.makespan, results, cycles, **extra)

    @property
    def makespan(self):
        """Measured seconds from the first start to the last finish."""
        return max(self.finish.values(), default=0.0)

    def describe(self):
        """Which plan ran and who made it (:meth:`Plan.describe`)."""
        return describe(self.policy, self.choice, self.own_makespan)

    def __getitem__(self, ref):
        return self.results[ref.name if isinstance(ref, TaskRef) else ref]


class Executor:
    """Runs graphs on a set of opened hetflow devices.

    Parameters
    ----------
    devices : list of Device or dict of str to Device
        The devices (``hetflow.open(...)``), opened and closed by the
        caller.  In a list, each is labelled by its name, with ``2``, ``3``
        ... appended to repeats (``sim``, ``sim2``).  A board opened with an
        overlay offers its instances and chains as units of their own,
        ``sim:gemm0``, ``sim:fir0_crc0`` (:func:`hetflow.overlays.compute_units`);
        tasks are placed on units (:attr:`units`).
    models : PerfModels, optional
        The performance models (default: this machine's stored models).
    record : bool
        Record every run's measured times in ``models``.
    save : bool
        Save ``models`` after each recorded run.
    timeout : float
        Seconds a whole run may take.
    """

    def __init__(self, devices, models=None, record=True, save=True, timeout=600.0):
        if isinstance(devices, dict):
            labelled = dict(devices)
        else:
            labelled, seen = {}, Counter()
            for dev in devices:
                seen[dev.name] += 1
                labelled[dev.name if seen[dev.name] == 1 else f"{dev.name}{seen[dev.name]}"] = dev
        if not labelled:
            raise HetflowError("Executor needs at least one device")
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.devices = labelled
        self.units = {unit.label: unit for label, dev in labelled.items()
                      for unit in compute_units(label, dev)}
        self.kinds = {label: device_kind(unit.device.name) for label, unit in self.units.items()}
        self.models = models if models is not None else PerfModels()
        self.record = record
        self.save = save
        self.timeout = float(timeout)

    def plan(self, graph, policy="heft"):
        """Size every task, predict its time on each unit and schedule (:class:`Plan`)."""
        return make_plan(graph, self.units, self.kinds, self.models, policy)

    def run(self, graph, policy="heft", plan=None, online=None):
        """Plan (unless ``plan`` is given), execute, record; returns a :class:`RunReport`.

        ``online`` (default: True for dmda and eager running their own plan)
        decides placements while the graph runs, from the real ready times;
        otherwise the plan's placement and order are followed (see :meth:`execute`).
        """
        plan = plan or self.plan(graph, policy)
        guessed = plan.guessed
        if guessed:
            t, d = guessed[0]
            warnings.warn(f"no performance model yet for {len(guessed)} task/device pair(s) "
                          f"(e.g. {graph.tasks[t].key} on {d}); their costs are guesses "
                          f"until this run is recorded (or run `hetflow calibrate`)",
                          stacklevel=2)
        report = self.execute(plan, online=online)
        if self.record:
            self.learn(plan, report)
        return report

    def execute(self, plan, online=None):
        """Run ``plan``: each unit runs the tasks this thread hands it in a worker of its own.

        Static (heft, the baselines, a baseline dmda chose): each unit runs
        its planned tasks in their planned order, so the run is the plan that
        was predicted.  Online (dmda, eager): a task is placed when it really
        becomes ready -- dmda (tasks ready together in
        :func:`~hetflow.sched.policies.dmda_order`) on the device of the
        smallest expected completion (queue end, re-based on real finishes,
        plus the predicted cost), eager on the first idle device that can run
        the oldest ready task.  Calls handed out at once to idle units of one
        board are started together (:func:`hetflow.overlays.start_together`).
        """
        if online is None:
            online = plan.policy in ONLINE and plan.choice == plan.policy
        graph, costs = plan.graph, plan.costs
        labels = list(self.units)
        # The kernels are loaded before the clock starts (builds happen here).
        handles = {(name, lab): self.units[lab].handle_for(graph.tasks[name])
                   for name, label in plan.schedule.placement.items()
                   if graph.tasks[name].kind != "function"
                   for lab in (costs.feasible(name) if online else [label])}
        deadline = time.monotonic() + self.timeout
        left = lambda: max(deadline - time.monotonic(), 0.001)
        results, start, finish, counted, placement = {}, {}, {}, {}, {}

        def run_task(name, label, started=None, t0=None):
            # In the unit's worker: the task, or the wait for its call started with others.
            t0 = t0 or time.perf_counter()
            if isinstance(started, BaseException):
                raise started
            task, handle = graph.tasks[name], handles.get((name, label))
            args, kwargs = substitute(task.args, results), substitute(task.kwargs, results)
            if started is not None:
                value = started.wait(left())
            elif handle is not None:
                value = handle(*args, timeout=left(), **kwargs)
            else:
                value = task.fn(*args, **kwargs)
            return value, t0, time.perf_counter(), None if handle is None else handle.last_cycles

        workers = {label: ThreadPoolExecutor(1, f"hetflow-sched-{label}") for label in labels}
        running = {}                                               # future: (task, unit)
        sorter = TopologicalSorter(costs.pred)
        sorter.prepare()
        ready = list(sorter.get_ready())                           # inputs there, not handed out
        handed, gangs = [], {}                                     # in this dispatch
        idle = set(labels)
        todo = plan.schedule.order()                               # static: the planned order
        order = dmda_order(costs)
        free_at = {label: 0.0 for label in labels}                 # dmda: expected queue end

        def hand(label, name):
            ready.remove(name)
            handed.append((name, label))
            placement[name] = label
            # Calls handed at once to idle units of one overlay are started together, so that
            # the board runs them at the same time; any other call starts in its worker.  A
            # unit handed several tasks (dmda queues them) was idle for the first only.
            if label in idle and self.units[label].handle is not None:
                gangs.setdefault(id(self.units[label].device), []).append((name, label))
            idle.discard(label)

        def dispatch(now):
            handed.clear()
            gangs.clear()
            if online and plan.policy == "dmda":
                for n in order(ready):
                    best = min(costs.feasible(n), key=lambda lab: (
                        max(now, free_at[lab]) + costs.cost[n][lab], labels.index(lab)))
                    free_at[best] = max(now, free_at[best]) + costs.cost[n][best]
                    hand(best, n)
            else:
                for label in [label for label in labels if label in idle]:
                    # Eager: the oldest ready task the unit can run; static: its next planned one.
                    mine = ready if online else [n for n in todo[label] if n not in placement][:1]
                    pick = next((n for n in mine if n in ready and label in costs.cost[n]), None)
                    if pick is not None:
                        hand(label, pick)
            runs = {}
            for gang in gangs.values():
                if len(gang) > 1:
                    t0 = time.perf_counter()
                    calls = [(handles[(n, lab)], substitute(graph.tasks[n].args, results),
                              substitute(graph.tasks[n].kwargs, results)) for n, lab in gang]
                    started = start_together(self.units[gang[0][1]].device, calls)
                    runs.update({n: (run, t0) for (n, _), run in zip(gang, started)})
            for name, label in handed:
                future = workers[label].submit(run_task, name, label, *runs.get(name, ()))
                running[future] = name, label

        try:
            dispatch(time.perf_counter())
            while len(results) < len(graph.tasks):
                done, _ = wait(running, max(deadline - time.monotonic(), 0.0), FIRST_COMPLETED)
                if not done:
                    missing = [n for n in graph.tasks if n not in results]
                    raise ExecutionError(f"the graph did not finish within {self.timeout:g} s; "
                                         f"unfinished tasks: {', '.join(missing[:8])}"
                                         + (" ..." if len(missing) > 8 else ""))
                # One finish at a time, in the order they happened (a failure first), each
                # dispatched on before the next.
                future = min(done, key=lambda f: f.exception() is None and f.result()[2])
                name, label = running.pop(future)
                if (exc := future.exception()) is not None:
                    raise ExecutionError(f"task '{name}' on {label} failed: "
                                         f"{type(exc).__name__}: {exc}") from exc
                results[name], start[name], finish[name], counted[name] = future.result()
                idle.add(label)
                # Re-base the unit's expected queue end (dmda's) on this real finish.
                free_at[label] = finish[name] + sum(costs.cost[n][label]
                                                    for n, lab in running.values() if lab == label)
                sorter.done(name)
                ready.extend(sorter.get_ready())
                dispatch(time.perf_counter())
        finally:
            # After a failure or the deadline, a call still running is left to finish alone.
            for worker in workers.values():
                worker.shutdown(wait=not running, cancel_futures=True)
        cycles = {name: c for name, c in counted.items() if c is not None}
        return RunReport.of(plan, placement, start, finish, results, cycles)

    def learn(self, plan, report):
        """Record every task's measured time of ``report`` in its performance model.

        Each run is recorded with its work, device cycles and *overlap* (the
        fraction of it during which another device was busy: the models learn
        the slowdown of sharing the host from it), then the models are saved
        if ``save`` is set.  :meth:`run` calls this when ``record`` is set.

        Raises
        ------
        GraphError
            If ``report`` lacks a task of ``plan`` or names a device this
            executor does not have.
        """
        missing = [n for n in plan.graph.tasks if n not in report.placement
                   or n not in report.start or n not in report.finish]
        if missing:
            raise GraphError(f"learn: the report has no measured run of task '{missing[0]}' "
                             f"of the plan; pass the report of this plan's run")
        unknown = sorted(set(report.placement.values()) - set(self.units))
        if unknown:
            raise GraphError(f"learn: the report places tasks on '{unknown[0]}', not a unit "
                             f"of this executor ({', '.join(self.units)})")
        shared = overlaps(report.placement, report.start, report.finish)
        for name, task in plan.graph.tasks.items():
            label = report.placement[name]
            self.models.record(task.key, self.units[label].device.name, plan.work[name],
                               report.finish[name] - report.start[name],
                               cycles=report.cycles.get(name), unit=plan.units[name],
                               overlap=shared[name])
        if self.save:
            self.models.save()
