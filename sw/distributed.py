"""Run a :class:`~hetflow.sched.graph.Graph` on a Dask distributed cluster.

The plan is the same as on one host (:meth:`hetflow.sched.executor.Executor.plan`:
sizing, performance models, a policy); only the execution changes.  Every task
is submitted to Dask with the worker *resources* of the device the policy
chose, so it lands on a worker that has that device::

    from dask.distributed import Client
    from hetflow.distributed import DaskExecutor

    client = Client("tcp://scheduler:8786")   # workers started with --resources "SIM=1"
    ex = DaskExecutor(client, ["cpu", "sim"])
    report = ex.run(graph, policy="heft")
    report[ref]              # a NumPy array, gathered from the worker
    report.workers           # task name -> address of the worker that ran it

Devices and resources
    A device is a ``hetflow.open`` spec (``"cpu"``, ``"sim"``, ``"pynq"``,
    ``"serial:/dev/ttyUSB1"``).  By default a ``sim`` device needs the worker
    resource ``SIM=1``, any other FPGA device ``FPGA=1``, and a ``cpu``
    device none (Dask picks any worker).  Pass ``resources={"sim": {"SIM": 1},
    ...}`` to change that.  Before anything is submitted, the cluster's
    workers are checked for the resources the placement needs: a task whose
    resource no worker has would wait forever in Dask.
Devices on workers
    A worker opens a device the first time a task needs it and keeps it in a
    module-level dict keyed by spec, so a board (or a simulator process) is
    opened once per worker process; :class:`CloseDevices`, a Dask worker
    plugin that :class:`DaskExecutor` registers, closes them when the worker
    shuts down.
Dependencies
    A task's inputs that are results of other tasks are passed as Dask
    futures, so Dask moves the data between workers; on the worker the
    :class:`~hetflow.sched.graph.TaskRef` arguments are replaced by those values.
Overlays
    ``overlays={"sim": "pipeline.toml"}`` opens a device with an overlay on
    its workers (``hetflow.open("sim", overlay=...)``), so the plan sees its
    compute units, as a local :class:`~hetflow.sched.executor.Executor` does:
    ``sim:gemm0`` runs gemm calls, ``sim:fir0_crc0`` a chain task
    (``graph.chain(...)``); the cpu runs any chain too (the composed golden
    models).  The overlay is read once in the client and sent to the workers,
    so its file need not be on their machines.
Online policies
    dmda and eager decide placements while the graph runs on one host; here
    their plan's placement is used statically and Dask orders the tasks.
"""

import json
import time
import uuid
from dataclasses import dataclass, field, replace

from .hw.errors import HetflowError

try:
    from dask.distributed import WorkerPlugin, get_worker
except ImportError:                     # pragma: no cover - depends on the environment
    from .tools import install_command
    raise HetflowError(f"hetflow.distributed needs Dask distributed; install it with: "
                       f"{install_command('distributed')}") from None

from .overlays import as_overlay, attach, compute_units
from .sched.costgraph import GraphError, device_kind
from .sched.executor import Executor, ExecutionError, RunReport
from .sched.graph import TaskRef
from .sched.plan import Plan

__all__ = ["DaskExecutor", "DistributedError", "DistributedReport", "CloseDevices",
           "default_resources", "worker_device"]

#: Open devices of this (worker) process, keyed by ``hetflow.open`` spec and overlay.
_DEVICES = {}


class DistributedError(HetflowError, RuntimeError):
    """The cluster cannot run a plan (a needed worker resource is missing)."""


def default_resources(spec):
    """The worker resources a device spec needs by default (``{}``: any worker).

    ``sim`` -> ``{"SIM": 1}``; other FPGA devices (``pynq``, ``serial:...``,
    ``fpga...``) -> ``{"FPGA": 1}``; ``cpu`` and anything else -> ``{}``.
    """
    if spec.startswith("sim"):
        return {"SIM": 1}
    if device_kind(spec) == "fpga":
        return {"FPGA": 1}
    return {}


def worker_device(spec, overlay=None):
    """The device ``spec`` of this worker process, opened on first use (with ``overlay``,
    an :class:`~hetflow.Overlay`, if given).

    Runs on a Dask worker (``get_worker()`` raises elsewhere, so a device is
    never opened in the client by mistake).
    """
    get_worker()
    # One device per spec and design: the same board with another overlay is another device.
    key = (spec, None if overlay is None else json.dumps(overlay.describe(), sort_keys=True))
    dev = _DEVICES.get(key)
    if dev is None or dev.closed:
        import hetflow
        dev = _DEVICES[key] = hetflow.open(spec, **({} if overlay is None
                                                     else {"overlay": overlay}))
    return dev


class CloseDevices(WorkerPlugin):
    """Dask worker plugin: close the devices a worker opened when it shuts down.

    A Verilator process of a ``sim`` device would otherwise outlive its worker
    until the interpreter exits.
    """

    name = "hetflow-close-devices"

    def teardown(self, worker):
        while _DEVICES:
            _, dev = _DEVICES.popitem()
            try:
                dev.close()
            except Exception:        # shutting down: one device must not keep others open
                pass


@dataclass(frozen=True)
class _Ref:
    """A light stand-in for a TaskRef sent to a worker (a TaskRef carries its graph)."""

    name: str


def _strip(value):
    if isinstance(value, TaskRef):
        return _Ref(value.name)
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_strip(v) for v in value)
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()}
    return value


def _fill(value, values):
    if isinstance(value, _Ref):
        return values[value.name]
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, tuple):
        return tuple(_fill(v, values) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _run_task(spec, overlay, label, unit, task, deps, timeout):
    """Run ``task`` (its TaskRefs stripped) on compute unit ``unit`` of device ``label``
    (``spec``, with ``overlay``) on this worker; ``deps`` maps task names to their results."""
    values = {name: out["value"] for name, out in deps.items()}
    args, kwargs = _fill(task.args, values), _fill(task.kwargs, values)
    cycles = None
    if task.kind != "function":
        # The unit's handle, found as a local executor finds it: an instance, a chain, or
        # the whole device.
        units = {u.label: u for u in compute_units(label, worker_device(spec, overlay))}
        handle = units[unit].handle_for(task)
    # Wall clock, not perf_counter: start and finish are compared across processes.
    t0 = time.time()
    if task.kind == "function":
        value = task.fn(*args, **kwargs)
    else:
        value = handle(*args, timeout=timeout, **kwargs)
        cycles = handle.last_cycles
    t1 = time.time()
    return {"value": value, "start": t0, "finish": t1, "cycles": cycles,
            "worker": get_worker().address}


@dataclass
class DistributedReport(RunReport):
    """A :class:`~hetflow.sched.executor.RunReport` plus where each task ran.

    Attributes
    ----------
    workers : dict
        Task name to the address of the Dask worker that ran it.
    """

    workers: dict = field(default_factory=dict)


class _Named:
    """What planning needs of a device on the workers: its name and, with an overlay, the
    overlay's instances and chains (:func:`hetflow.overlays.attach` gives them)."""

    #: Whether a worker's device runs overlays is checked when it opens one; the cpu
    #: runs any chain without one.
    runs_overlays = True
    design = None
    #: Planning binds calls, never runs them.
    repeats_calls = False

    def __init__(self, name):
        self.name = name

    def _load_design(self, overlay):
        """Nothing to load here: the device is opened on the workers."""


def _describe(resources):
    return ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items())) or "no resources"


class DaskExecutor:
    """Plans like :class:`~hetflow.sched.executor.Executor`, runs on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client
        Connected to the cluster (created and closed by the caller).
    devices : list of str or dict of str to str
        ``hetflow.open`` specs of the devices the cluster offers; in a list
        each is labelled by its spec (``sim``, ``sim2`` for a repeat), as in
        :class:`~hetflow.sched.executor.Executor`.
    resources : dict, optional
        Device label to the worker resources its tasks need (``{}`` or
        ``None``: any worker); labels not given use :func:`default_resources`.
    overlays : dict, optional
        Device label to the overlay (an :class:`~hetflow.Overlay` or the path
        of its TOML file) the workers open that device with; its instances
        and chains are the device's compute units.
    models : PerfModels, optional
        Performance models for planning (default: this machine's).
    record, save : bool
        Record the measured times in ``models`` / save them after a run.
    timeout : float
        Seconds a whole run may take.
    """

    def __init__(self, client, devices=("cpu", "sim"), resources=None, models=None,
                 record=True, save=True, timeout=600.0, overlays=None):
        if isinstance(devices, dict):
            specs = dict(devices)
        else:
            specs, seen = {}, {}
            for spec in devices:
                seen[spec] = seen.get(spec, 0) + 1
                specs[spec if seen[spec] == 1 else f"{spec}{seen[spec]}"] = spec
        for label, spec in specs.items():
            if not isinstance(spec, str) or not spec:
                raise HetflowError(f"device {label!r}: {spec!r} is not a device spec; give a "
                                   f"hetflow.open spec such as 'cpu' or 'sim'")
        resources = dict(resources or {})
        unknown = sorted(set(resources) - set(specs))
        if unknown:
            raise HetflowError(f"resources given for unknown device '{unknown[0]}'; devices "
                               f"are: {', '.join(specs)}")
        overlays = dict(overlays or {})
        unknown = sorted(set(overlays) - set(specs))
        if unknown:
            raise HetflowError(f"overlay given for unknown device '{unknown[0]}'; devices "
                               f"are: {', '.join(specs)}")
        self.client = client
        self.specs = specs
        self.overlays = {label: as_overlay(o) for label, o in overlays.items()}
        self.resources = {label: dict(resources.get(label) or {}) if label in resources
                          else default_resources(spec) for label, spec in specs.items()}
        # Planning needs only device names, kinds and overlays: the devices live on workers.
        named = {label: _Named(spec) for label, spec in specs.items()}
        for label, overlay in self.overlays.items():
            attach(named[label], overlay)
        self._planner = Executor(named, models=models, record=record, save=save,
                                 timeout=timeout)
        #: Compute unit label (``sim``, ``sim:gemm0``) to the label of its device.
        self.device_of = {unit.label: label for label, dev in named.items()
                          for unit in compute_units(label, dev)}
        self.models = self._planner.models
        self.record = record
        self.timeout = float(timeout)
        client.register_plugin(CloseDevices(), name=CloseDevices.name)

    def plan(self, graph, policy="heft"):
        """The :class:`~hetflow.sched.plan.Plan` of ``graph`` (see ``Executor.plan``)."""
        return self._planner.plan(graph, policy)

    def run(self, graph, policy="heft", plan=None):
        """Plan (unless ``plan`` is given), execute on the cluster, record the times.

        Recording is :meth:`hetflow.sched.executor.Executor.learn`, as for a
        local run: each task's time with its overlap with the other devices'
        tasks (workers on one host slow each other down like local devices).
        """
        plan = plan or self.plan(graph, policy)
        report = self.execute(plan)
        if self.record:
            self._planner.learn(plan, report)
        return report

    def check_resources(self, plan):
        """Raise :class:`DistributedError` unless some worker has every resource needed.

        Returns
        -------
        dict
            Worker address to its resources.
        """
        workers = {addr: dict(info.get("resources") or {})
                   for addr, info in self.client.scheduler_info()["workers"].items()}
        available = "; ".join(f"{addr} ({_describe(res)})"
                              for addr, res in sorted(workers.items())) or "none"
        for name in plan.graph.tasks:
            label = self.device_of[plan.schedule.placement[name]]
            need = self.resources[label]
            if not any(all(res.get(k, 0) >= v for k, v in need.items())
                       for res in workers.values()):
                raise DistributedError(
                    f"task '{name}' is placed on device '{label}', which needs worker "
                    f"resource {_describe(need)}, but no worker has it; workers: {available}")
        return workers

    def execute(self, plan):
        """Submit every task with its device's resources; gather the results.

        Returns
        -------
        DistributedReport
            Measured start/finish (wall clock, from the first start), values
            as NumPy arrays, device cycles and the worker of every task.

        Raises
        ------
        DistributedError
            If the cluster lacks a resource the placement needs.
        ExecutionError
            If a task fails or the run does not finish within ``timeout``.
        """
        if not isinstance(plan, Plan):
            raise GraphError(f"DaskExecutor.execute takes a Plan, not {type(plan).__name__}")
        self.check_resources(plan)
        graph, sched = plan.graph, plan.schedule
        run = uuid.uuid4().hex[:8]
        futures = {}
        deadline = time.monotonic() + self.timeout
        # A Graph lists its tasks in an order where every input already exists.
        for name in graph.tasks:
            task = graph.tasks[name]
            unit = sched.placement[name]
            label = self.device_of[unit]
            sent = replace(task, args=_strip(task.args), kwargs=_strip(task.kwargs))
            futures[name] = self.client.submit(
                _run_task, self.specs[label], self.overlays.get(label), label, unit, sent,
                {dep: futures[dep] for dep in task.deps}, self.timeout,
                key=f"hetflow-{name}-{run}", resources=self.resources[label] or None,
                pure=False)
        outs = {}
        try:
            for name, fut in futures.items():
                remaining = deadline - time.monotonic()
                try:
                    outs[name] = fut.result(timeout=max(remaining, 0.001))
                except TimeoutError:
                    missing = [n for n in graph.tasks if n not in outs]
                    raise ExecutionError(f"the graph did not finish within {self.timeout:g} s "
                                         f"on the cluster; unfinished tasks: "
                                         f"{', '.join(missing[:8])}"
                                         + (" ..." if len(missing) > 8 else "")) from None
                except Exception as exc:
                    raise ExecutionError(f"task '{name}' on {sched.placement[name]} failed: "
                                         f"{type(exc).__name__}: {exc}") from exc
        finally:
            # Release the cluster's copies (and cancel what is left after a failure).
            self.client.cancel(list(futures.values()))
        return DistributedReport.of(
            plan, dict(sched.placement), {n: o["start"] for n, o in outs.items()},
            {n: o["finish"] for n, o in outs.items()}, {n: o["value"] for n, o in outs.items()},
            {n: o["cycles"] for n, o in outs.items() if o["cycles"] is not None},
            workers={n: o["worker"] for n, o in outs.items()})
