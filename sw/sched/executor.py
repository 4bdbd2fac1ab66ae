"""Run a :class:`~hetflow.sched.graph.Graph` on real devices, concurrently, as a policy says.

::

    with hetflow.open("cpu") as cpu, hetflow.open("sim") as sim:
        ex = Executor([cpu, sim])
        report = ex.run(graph, policy="heft")
    report.makespan          # measured seconds
    report.predicted         # the plan's Schedule as the model predicts it runs
    report[ref]              # the value of a task

How a run goes:

1. **plan** (:meth:`Executor.plan`): every task is sized without running it
   (kernel calls are split and prepared as the device would; functions are
   called on zero-filled arrays of the right shapes), its time on every
   device that can run it is predicted by the :class:`PerfModels`, and the
   policy schedules the resulting :class:`CostGraph`.  With more than one
   device, the models' measured *slowdowns* (how much a task stretches while
   another device shares the host, :mod:`~hetflow.sched.contention`) give
   the prediction, and ``heft`` and ``dmda`` take the best of their own
   schedule and the single-device baselines, a plan that shares the host
   having to win by a margin (:func:`~hetflow.sched.contention.choose`):
   when sharing the host does not pay on this machine, they do not share
   it.  Kernel tasks can run on any device; function tasks on CPU devices.  Edges cost 0: results stay
   NumPy arrays in this process, and moving them to a board is part of the
   kernel call (and of its measured and predicted time).
2. **run**: every kernel the plan needs is loaded first (a simulator build
   is not part of the makespan); then one worker thread per device runs
   tasks, and the real start and finish of every task are measured from a
   common origin.  HEFT and the baselines are static: each device runs the
   plan's tasks in the plan's order (a later one first if the next one's
   inputs are late), each once its inputs are there.  dmda
   and eager are online: a task is placed when it really becomes ready,
   from the devices' real state (:meth:`Executor.execute`).
3. **learn** (:meth:`Executor.learn`): every task's measured time is
   recorded in its model, with the device cycles where there are any and
   the fraction of it during which another device was busy, and the
   models are saved.

The plan is data (a :class:`~hetflow.sched.policies.Schedule` whose
placement names devices); another executor, e.g. one that submits each task
to a Dask worker owning the device (``resources={"FPGA": 1}``), can take the
same plan and replace step 2 only (:meth:`Executor.execute`).
"""

import queue
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..hw.errors import HetflowError
from .contention import JITTER, JITTERED, ONLINE, choose, dmda_place, overlaps
from .graph import CostGraph, DeviceSpec, Graph, GraphError, TaskRef, device_kind, substitute
from .perfmodel import PerfModels, function_work, kernel_work
from .policies import Schedule, dmda_order

__all__ = ["Executor", "Plan", "RunReport", "ExecutionError", "GUESS", "ONLINE"]

#: Seconds assumed for a task with no model yet: (fixed, per unit of work) per device kind.
GUESS = {"cpu": (20e-6, 2e-9), "fpga": (2e-3, 2e-7), "other": (1e-3, 1e-7)}
#: Slice of every wait, so a failure elsewhere stops a worker promptly.
_POLL = 0.05


class ExecutionError(HetflowError, RuntimeError):
    """A task failed or the run did not finish in time."""


@dataclass
class Plan:
    """A graph sized, predicted and scheduled.

    Attributes
    ----------
    graph : Graph
    costs : CostGraph
        Predicted seconds per task and device (device labels as in the executor).
    schedule : Schedule
        The schedule to follow: the policy's schedule of ``costs`` (or, for
        heft and dmda, the candidate :func:`~hetflow.sched.contention.choose`
        picked); for the online policies, the placement their simulated run
        made (:func:`~hetflow.sched.contention.simulate_online`), which a
        static execution follows.
    predicted : Schedule
        ``schedule`` replayed with the slowdowns: the predicted run.
    slowdown : dict
        Task name to ``{device: factor}`` (1.0 with one device).
    choice : str
        Which candidate was chosen (``"heft"``, ``"heft on contended costs"``,
        ``"heft refined"``, ``"cpu-only"`` ...; the policy's name for the other
        policies).
    candidates : dict
        Every candidate's predicted makespan by name (heft and dmda only).
    work : dict
        Task name to its :class:`~hetflow.sched.perfmodel.Work`.
    units : dict
        Task name to what ``work.n`` counts.
    sources : dict
        Task name to ``{device: "history" | "fit" | "board" | "guess"}``.
    """

    graph: Graph
    costs: CostGraph
    schedule: Schedule
    predicted: Schedule
    slowdown: dict
    choice: str
    candidates: dict
    work: dict
    units: dict
    sources: dict

    @property
    def guessed(self):
        """``(task, device)`` pairs whose cost is a guess (no model yet)."""
        return [(t, d) for t, s in self.sources.items() for d, src in s.items() if src == "guess"]


@dataclass
class RunReport:
    """What happened in one run.

    Attributes
    ----------
    policy : str
    placement, start, finish : dict
        Task name to device label and measured seconds from the common origin.
    predicted : Schedule
        The plan's predicted run (:attr:`Plan.predicted`).
    results : dict
        Task name to its value.
    cycles : dict
        Task name to device cycles (kernel tasks on devices that count them).
    choice : str
        The plan's :attr:`Plan.choice`.
    """

    policy: str
    placement: dict
    start: dict
    finish: dict
    predicted: Schedule
    results: dict = field(repr=False)
    cycles: dict = field(default_factory=dict)
    choice: str = None

    @property
    def makespan(self):
        """Measured seconds from the first start to the last finish."""
        return max(self.finish.values(), default=0.0)

    @property
    def prediction_error(self):
        """(predicted - measured) / measured makespan."""
        m = self.makespan
        return (self.predicted.makespan - m) / m if m > 0 else 0.0

    def __getitem__(self, ref):
        return self.results[ref.name if isinstance(ref, TaskRef) else ref]

    def as_schedule(self):
        """The measured run as a :class:`Schedule` (for tables and Gantt charts)."""
        s = Schedule(f"{self.policy} (measured)", self.predicted.graph)
        s.placement, s.start, s.finish = dict(self.placement), dict(self.start), dict(self.finish)
        return s

    def to_dict(self):
        return {"policy": self.policy, "choice": self.choice, "makespan": self.makespan,
                "predicted_makespan": self.predicted.makespan,
                "prediction_error": self.prediction_error,
                "placement": dict(self.placement), "start": dict(self.start),
                "finish": dict(self.finish)}


def _zeros_like(value):
    # What a function task sees while its result's shape is being found.
    if isinstance(value, np.ndarray):
        return np.zeros_like(value)
    return value


class Executor:
    """Runs graphs on a set of opened hetflow devices.

    Parameters
    ----------
    devices : list of Device or dict of str to Device
        The devices (``hetflow.open(...)``), opened and closed by the
        caller.  In a list, each is labelled by its name, with ``2``, ``3``
        ... appended to repeats (``sim``, ``sim2``).
    models : PerfModels, optional
        The performance models (default: this machine's stored models).
    record : bool
        Record every run's measured times in ``models``.
    save : bool
        Save ``models`` after each recorded run.
    timeout : float
        Seconds a whole run may take.
    reorder : bool
        In static runs, let a device run a later planned task whose inputs
        are there while the next planned one waits for late inputs.
    """

    def __init__(self, devices, models=None, record=True, save=True, timeout=600.0,
                 reorder=True):
        if isinstance(devices, dict):
            labelled = dict(devices)
        else:
            labelled, seen = {}, {}
            for dev in devices:
                seen[dev.name] = seen.get(dev.name, 0) + 1
                label = dev.name if seen[dev.name] == 1 else f"{dev.name}{seen[dev.name]}"
                labelled[label] = dev
        if not labelled:
            raise HetflowError("Executor needs at least one device")
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.devices = labelled
        self.kinds = {label: device_kind(dev.name) for label, dev in labelled.items()}
        self.models = models if models is not None else PerfModels()
        self.record = record
        self.save = save
        self.timeout = float(timeout)
        self.reorder = reorder

    # ---- planning -----------------------------------------------------------------------

    def _guess(self, kind, work):
        fixed, per_unit = GUESS.get(kind, GUESS["other"])
        return fixed + per_unit * work.n

    def plan(self, graph, policy="heft"):
        """Size every task, predict its time on each device and schedule (:class:`Plan`)."""
        if not isinstance(graph, Graph):
            raise GraphError(f"Executor.plan takes a Graph, not {type(graph).__name__}")
        if not graph.tasks:
            raise GraphError("the graph has no tasks")
        from ..hw.registry import get_kernel
        stand_in, work, units, costs, sources = {}, {}, {}, {}, {}
        cpus = [label for label, kind in self.kinds.items() if kind == "cpu"]
        for name, task in graph.tasks.items():
            args = substitute(task.args, stand_in)
            kwargs = substitute(task.kwargs, stand_in)
            if task.kind == "kernel":
                w, unit, result = kernel_work(get_kernel(task.kernel), task.params, args, kwargs)
                labels = list(self.devices)
            else:
                if not cpus:
                    raise GraphError(f"task '{name}' is a Python function and needs a cpu "
                                     f"device; devices are: {', '.join(self.devices)}")
                try:
                    result = task.fn(*[_zeros_like(a) for a in args],
                                     **{k: _zeros_like(v) for k, v in kwargs.items()})
                except Exception as exc:
                    raise GraphError(f"task '{name}': {task.key[3:]} fails on zero-filled "
                                     f"inputs of the right shapes, which is how its result's "
                                     f"shape is found before a run: {type(exc).__name__}: "
                                     f"{exc}") from None
                w, unit = function_work(args, kwargs, result)
                labels = cpus
            stand_in[name], work[name], units[name] = result, w, unit
            costs[name], sources[name] = {}, {}
            for label in labels:
                kind = self.kinds[label]
                seconds, source = self.models.predict(task.key, self.devices[label].name, w,
                                                      kind=kind)
                if seconds is None:
                    seconds, source = self._guess(kind, w), "guess"
                costs[name][label], sources[name][label] = max(seconds, 0.0), source
        edges = [[dep, name, 0.0] for name, task in graph.tasks.items() for dep in task.deps]
        specs = [DeviceSpec(label, self.kinds[label]) for label in self.devices]
        cost_graph = CostGraph(specs, costs, edges, source="graph")
        slowdown = {name: {label: (self.models.slowdown(graph.tasks[name].key,
                                                        self.devices[label].name)[0]
                                   if len(self.devices) > 1 else 1.0)
                           for label in costs[name]} for name in graph.tasks}
        # How much each task's real times stray from its model, for the policies predicted
        # by their expected run (tasks with too few runs get the default).  Only those: a
        # spread goes over every recorded run of the model.
        jitter = {name: {label: j for label in costs[name]
                         if (j := self.models.spread(graph.tasks[name].key,
                                                     self.devices[label].name)) is not None}
                  for name in graph.tasks} if policy in JITTERED else JITTER
        choice, chosen, predicted, candidates = choose(cost_graph, policy, slowdown,
                                                       reorder=self.reorder, jitter=jitter)
        return Plan(graph, cost_graph, chosen, predicted, slowdown, choice, candidates, work,
                    units, sources)

    # ---- running ------------------------------------------------------------------------

    def run(self, graph, policy="heft", plan=None, online=None):
        """Plan (unless ``plan`` is given), execute, record; returns a :class:`RunReport`.

        ``online`` (default: True for dmda and eager) decides placements while
        the graph runs, from the real ready times; otherwise the plan's
        placement and order are followed (see :meth:`execute`).
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

    def _handles(self, plan, everywhere=False):
        """Load the kernels (builds happen here, before the clock starts).

        Returns ``{(task, device label): KernelHandle}`` for the planned
        placement, or for every device that can run the task.
        """
        handles = {}
        for name, label in plan.schedule.placement.items():
            task = plan.graph.tasks[name]
            if task.kind == "kernel":
                for lab in (plan.costs.feasible(name) if everywhere else [label]):
                    handles[(name, lab)] = self.devices[lab].kernel(task.kernel, **task.params)
        return handles

    def _call(self, task, handle, results, deadline):
        args = substitute(task.args, results)
        kwargs = substitute(task.kwargs, results)
        if task.kind == "kernel":
            return handle(*args, timeout=max(deadline - time.monotonic(), 0.001), **kwargs)
        return task.fn(*args, **kwargs)

    def execute(self, plan, online=None):
        """Run ``plan``: one worker thread per device.

        Static (HEFT and the baselines): each device runs the tasks the plan
        gives it, in the planned order; when the next one's inputs are late
        (a prediction was short), the device runs its first task that is
        ready instead of idling (unless the executor's ``reorder`` is off).
        Online (dmda, eager; or ``online=True``): tasks are placed as they
        become ready in real time -- dmda (tasks ready together in
        :func:`~hetflow.sched.policies.dmda_order`) on the device with the smallest
        expected completion (the device's queue end, re-based on real
        finishes, plus the predicted cost), eager on the first idle device that
        can run the oldest ready task.  With slowdowns, dmda's expected
        completion of a task is stretched by its slowdown when another device
        is expected to be busy, and it also moves the busy devices' queue ends
        (they slow down too): the task goes where the expected end of all the
        work placed so far is earliest, ties broken by the task's own
        completion -- which, without slowdowns, is the device of its earliest
        completion, as in dmda.  A dmda plan whose choice is a single-device
        baseline runs that baseline's plan statically.
        """
        if online is None:
            policy = plan.schedule.policy
            online = policy in ONLINE and plan.choice.split(" ")[0] == policy
        if online:
            return self._execute_online(plan)
        graph, sched = plan.graph, plan.schedule
        handles = self._handles(plan)
        order = sched.order()
        done = set()
        changed = threading.Condition()
        results, start, finish, cycles = {}, {}, {}, {}
        failures = []
        stop = threading.Event()
        deadline = time.monotonic() + self.timeout
        origin = [0.0]
        go = threading.Barrier(len(order) + 1)

        def next_task(remaining):
            # The first planned task whose inputs are there; with ``reorder`` off, only
            # the first planned task.  Waits (in slices) until there is one.
            candidates = remaining if self.reorder else remaining[:1]
            with changed:
                while True:
                    for name in candidates:
                        if all(dep in done for dep in graph.tasks[name].deps):
                            return name
                    if stop.is_set() or time.monotonic() > deadline:
                        return None
                    changed.wait(_POLL)

        def worker(label, names):
            try:
                go.wait(timeout=self.timeout)
            except threading.BrokenBarrierError:
                return
            remaining = list(names)
            while remaining:
                name = next_task(remaining)
                if name is None or stop.is_set():
                    return
                remaining.remove(name)
                task = graph.tasks[name]
                handle = handles.get((name, label))
                t0 = time.perf_counter()
                try:
                    value = self._call(task, handle, results, deadline)
                except BaseException as exc:       # reported by the main thread
                    failures.append((name, label, exc))
                    stop.set()
                    return
                t1 = time.perf_counter()
                results[name] = value
                start[name], finish[name] = t0 - origin[0], t1 - origin[0]
                if handle is not None and handle.last_cycles is not None:
                    cycles[name] = handle.last_cycles
                with changed:
                    done.add(name)
                    changed.notify_all()

        threads = [threading.Thread(target=worker, args=(label, names), daemon=True,
                                    name=f"hetflow-sched-{label}")
                   for label, names in order.items()]
        for th in threads:
            th.start()
        origin[0] = time.perf_counter()
        go.wait(timeout=self.timeout)
        for th in threads:
            th.join(max(deadline - time.monotonic(), 0.0) + 1.0)
        if any(th.is_alive() for th in threads) or (not failures and len(results) < len(graph.tasks)):
            stop.set()
            missing = [n for n in graph.tasks if n not in results]
            raise ExecutionError(f"the graph did not finish within {self.timeout:g} s; "
                                 f"unfinished tasks: {', '.join(missing[:8])}"
                                 + (" ..." if len(missing) > 8 else ""))
        return self._report(plan, dict(sched.placement), start, finish, results, cycles,
                            failures)

    @staticmethod
    def _report(plan, placement, start, finish, results, cycles, failures):
        if failures:
            name, label, exc = failures[0]
            raise ExecutionError(f"task '{name}' on {label} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
        # Report times from the first start (the origin is when the workers were released).
        first = min(start.values(), default=0.0)
        start = {n: s - first for n, s in start.items()}
        finish = {n: f - first for n, f in finish.items()}
        return RunReport(plan.schedule.policy, placement, start, finish, plan.predicted,
                         results, cycles, plan.choice)

    def _execute_online(self, plan):
        graph, sched, costs, slow = plan.graph, plan.schedule, plan.costs, plan.slowdown
        policy = sched.policy
        handles = self._handles(plan, everywhere=True)
        labels = list(self.devices)
        inbox = {label: queue.Queue() for label in labels}
        events = queue.Queue()
        deadline = time.monotonic() + self.timeout
        results, start, finish, cycles, placement, failures = {}, {}, {}, {}, {}, []
        origin = time.perf_counter()

        def worker(label):
            while True:
                name = inbox[label].get()
                if name is None:
                    return
                task, handle = graph.tasks[name], handles.get((name, label))
                t0 = time.perf_counter()
                try:
                    value = self._call(task, handle, results, deadline)
                except BaseException as exc:
                    events.put((name, label, t0, time.perf_counter(), None, exc))
                    continue
                c = handle.last_cycles if handle is not None else None
                events.put((name, label, t0, time.perf_counter(), (value, c), None))

        threads = [threading.Thread(target=worker, args=(label,), daemon=True,
                                    name=f"hetflow-sched-{label}") for label in labels]
        for th in threads:
            th.start()
        waiting = {n: len(graph.tasks[n].deps) for n in graph.tasks}
        users = {n: [] for n in graph.tasks}
        for n, task in graph.tasks.items():
            for dep in task.deps:
                users[dep].append(n)
        ready = [n for n in graph.tasks if waiting[n] == 0]
        order = dmda_order(costs)
        queued = {label: [] for label in labels}                   # dmda: placed, not finished
        free_at = {label: 0.0 for label in labels}                 # dmda: expected queue end
        busy = {label: False for label in labels}                  # eager: running a task
        left = len(graph.tasks)

        def dispatch(now):
            if policy == "eager":
                for label in labels:
                    if busy[label]:
                        continue
                    pick = next((n for n in ready if label in costs.cost[n]), None)
                    if pick is not None:
                        ready.remove(pick)
                        busy[label] = True
                        placement[pick] = label
                        inbox[label].put(pick)
                return
            for n in order(ready):                                 # dmda, by priority
                best, ends = dmda_place({lab: costs.cost[n][lab] for lab in costs.feasible(n)},
                                        slow[n], free_at, queued, slow, now, labels)
                free_at.update(ends)
                queued[best].append(n)
                placement[n] = best
                inbox[best].put(n)
            ready.clear()

        try:
            dispatch(0.0)
            while left and not failures:
                try:
                    name, label, t0, t1, out, exc = events.get(
                        timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    missing = [n for n in graph.tasks if n not in results]
                    raise ExecutionError(f"the graph did not finish within {self.timeout:g} s; "
                                         f"unfinished tasks: {', '.join(missing[:8])}"
                                         + (" ..." if len(missing) > 8 else "")) from None
                if exc is not None:
                    failures.append((name, label, exc))
                    break
                results[name], cycles_ = out
                if cycles_ is not None:
                    cycles[name] = cycles_
                start[name], finish[name] = t0 - origin, t1 - origin
                left -= 1
                busy[label] = False
                if name in queued[label]:
                    # Re-base the device's expected queue end on this real finish.
                    queued[label].remove(name)
                    free_at[label] = finish[name] + sum(costs.cost[n][label]
                                                        for n in queued[label])
                for u in users[name]:
                    waiting[u] -= 1
                    if waiting[u] == 0:
                        ready.append(u)
                dispatch(time.perf_counter() - origin)
        finally:
            for label in labels:
                inbox[label].put(None)
        for th in threads:
            th.join(max(deadline - time.monotonic(), 0.0) + 1.0)
        return self._report(plan, placement, start, finish, results, cycles, failures)

    def learn(self, plan, report):
        """Record every task's measured time of ``report`` in its performance model.

        Each run is recorded with its work (from ``plan``), device cycles
        (where the device counts them) and *overlap*: the fraction of its
        duration during which another device of the run was busy, from which
        the models learn the slowdown of sharing the host (a run that
        overlapped does not change the model's time alone).  The models are
        saved afterwards if the executor's ``save`` is set.  :meth:`run` calls
        this when ``record`` is set; other executors of the same plan
        (:class:`hetflow.distributed.DaskExecutor`) call it with their report.

        Parameters
        ----------
        plan : Plan
            The plan ``report`` ran.
        report : RunReport
            Measured placement, start and finish of every task of the plan.

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
        unknown = sorted({d for d in report.placement.values()} - set(self.devices))
        if unknown:
            raise GraphError(f"learn: the report places tasks on '{unknown[0]}', not a device "
                             f"of this executor ({', '.join(self.devices)})")
        shared = overlaps(report.placement, report.start, report.finish)
        for name, task in plan.graph.tasks.items():
            label = report.placement[name]
            self.models.record(task.key, self.devices[label].name, plan.work[name],
                               report.finish[name] - report.start[name],
                               cycles=report.cycles.get(name), unit=plan.units[name],
                               overlap=shared[name])
        if self.save:
            self.models.save()
