"""Cost graphs: what a policy schedules.

A :class:`CostGraph` holds tasks with a cost in seconds per device that can
run them, and edges with the transfer cost paid when the two tasks run on
different devices::

    CostGraph(["cpu", "fpga"], {"t1": {"cpu": 2.0, "fpga": 0.5}, "t2": {"cpu": 1.0}},
              [["t1", "t2", 0.25]])

A device is a name or a :class:`DeviceSpec`; a name starting with ``cpu`` or
``host`` is a CPU, one starting with ``fpga``, ``sim``, ``pynq`` or
``serial`` an FPGA (the baselines cpu-only and fpga-only use the kinds).  A
task without a cost for a device cannot run there.  The executor derives one
from a :class:`~hetflow.sched.graph.Graph`; ``hetflow schedule --graph``
reads one from JSON (:mod:`hetflow.bench.graphfile`).
"""

import heapq
import math
from dataclasses import dataclass

from ..hw.errors import HetflowError

__all__ = ["GraphError", "DeviceSpec", "CostGraph", "device_kind", "DEVICE_KINDS"]

DEVICE_KINDS = ("cpu", "fpga", "other")
_CPU_PREFIXES = ("cpu", "host")
_FPGA_PREFIXES = ("fpga", "sim", "pynq", "serial")


class GraphError(HetflowError, ValueError):
    """A task graph is malformed (cycle, unknown device or task, bad cost)."""


def device_kind(name):
    """The kind a device name implies: ``"cpu"``, ``"fpga"`` or ``"other"``."""
    low = name.lower()
    if low.startswith(_CPU_PREFIXES):
        return "cpu"
    if low.startswith(_FPGA_PREFIXES):
        return "fpga"
    return "other"


@dataclass(frozen=True)
class DeviceSpec:
    """A device of a :class:`CostGraph`: its unique name and its kind."""

    name: str
    kind: str


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class CostGraph:
    """A validated DAG of tasks with per-device costs and inter-device transfer costs.

    Parameters
    ----------
    devices : list of str or DeviceSpec
        The devices, in order (ties between devices go to the first).
    tasks : dict
        Task name to ``{device: seconds}``; order is kept.
    edges : list
        ``(source, target)`` or ``(source, target, seconds)``: ``target``
        needs ``source``'s result; ``seconds`` is paid only when they run on
        different devices.
    source : str
        Name used at the start of error messages (the file name when loaded).

    Raises
    ------
    GraphError
        With one line naming the bad value: a cycle (with its tasks), a cost
        on an unknown device, a task with no cost at all, a negative or
        non-finite cost, an edge naming an unknown task.
    """

    def __init__(self, devices, tasks, edges=(), source="graph"):
        self.source = source
        self.devices = self._check_devices(devices)
        self.device_names = [d.name for d in self.devices]
        self.cost = self._check_tasks(tasks)
        self.tasks = list(self.cost)
        self._index = {t: i for i, t in enumerate(self.tasks)}
        self.edges = self._check_edges(edges)
        self.succ = {t: [] for t in self.tasks}
        self.pred = {t: [] for t in self.tasks}
        for (a, b) in self.edges:
            self.succ[a].append(b)
            self.pred[b].append(a)
        self.order = self._topological_order()

    # ---- validation ---------------------------------------------------------------------

    def _error(self, message):
        return GraphError(f"{self.source}: {message}")

    def _check_devices(self, devices):
        if not isinstance(devices, (list, tuple)) or not devices:
            raise self._error(f"'devices' must be a non-empty list of device names, "
                              f"not {devices!r}")
        specs = {}                      # name -> spec, in order
        for item in devices:
            if isinstance(item, DeviceSpec):
                spec = item
            elif isinstance(item, str):
                spec = DeviceSpec(item, device_kind(item))
            else:
                raise self._error(f"device {item!r} must be a name or a DeviceSpec")
            if not spec.name:
                raise self._error("a device name is empty")
            if spec.kind not in DEVICE_KINDS:
                raise self._error(f"device '{spec.name}' has unknown kind '{spec.kind}'; "
                                  f"allowed: {', '.join(DEVICE_KINDS)}")
            if spec.name in specs:
                raise self._error(f"device '{spec.name}' is listed twice")
            specs[spec.name] = spec
        return list(specs.values())

    def _check_tasks(self, tasks):
        if not isinstance(tasks, dict):
            raise self._error(f"'tasks' must map task names to {{device: seconds}}, not "
                              f"{type(tasks).__name__}")
        if not tasks:
            raise self._error("'tasks' is empty; give at least one task")
        names = ", ".join(self.device_names)
        costs = {}
        for name, cost in tasks.items():
            if not isinstance(name, str) or not name:
                raise self._error(f"task name {name!r} must be a non-empty string")
            if cost is None or cost == {}:
                raise self._error(f"task '{name}' has no cost on any device; give its seconds "
                                  f"on at least one of: {names}")
            if not isinstance(cost, dict):
                raise self._error(f"task '{name}' must map device names to seconds, "
                                  f"not {cost!r}")
            for dev, seconds in cost.items():
                if dev not in self.device_names:
                    raise self._error(f"task '{name}' has a cost on unknown device '{dev}'; "
                                      f"devices are: {names}")
                if not _number(seconds) or not math.isfinite(seconds):
                    raise self._error(f"task '{name}' cost on device '{dev}' must be a finite "
                                      f"number of seconds, not {seconds!r}")
                if seconds < 0:
                    raise self._error(f"task '{name}' has a negative cost {seconds:g} on device "
                                      f"'{dev}'; costs are seconds >= 0")
            costs[name] = {dev: float(seconds) for dev, seconds in cost.items()}
        return costs

    def _check_edges(self, edges):
        if not isinstance(edges, (list, tuple)):
            raise self._error(f"'edges' must be a list of [source, target, seconds], "
                              f"not {type(edges).__name__}")
        checked = {}
        for i, edge in enumerate(edges):
            if not isinstance(edge, (list, tuple)) or len(edge) not in (2, 3):
                raise self._error(f"edge #{i} must be [source, target] or "
                                  f"[source, target, seconds], not {edge!r}")
            a, b = edge[0], edge[1]
            for t in (a, b):
                if not isinstance(t, str) or t not in self.cost:
                    raise self._error(f"edge [{a!r}, {b!r}] names unknown task {t!r}")
            seconds = edge[2] if len(edge) == 3 else 0.0
            if not _number(seconds) or not math.isfinite(seconds):
                raise self._error(f"edge {a} -> {b}: transfer cost must be a finite number of "
                                  f"seconds, not {seconds!r}")
            if seconds < 0:
                raise self._error(f"edge {a} -> {b} has a negative transfer cost {seconds:g}; "
                                  f"costs are seconds >= 0")
            if (a, b) in checked:
                raise self._error(f"edge {a} -> {b} is given twice")
            checked[(a, b)] = float(seconds)
        return checked

    def _topological_order(self):
        # Kahn's algorithm; among ready tasks the one listed first goes first, so the
        # order is stable and follows the user's listing wherever the edges allow.
        indeg = {t: len(self.pred[t]) for t in self.tasks}
        heap = [self._index[t] for t in self.tasks if indeg[t] == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            t = self.tasks[heapq.heappop(heap)]
            order.append(t)
            for s in self.succ[t]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(heap, self._index[s])
        if len(order) < len(self.tasks):
            raise self._error(f"cycle {' -> '.join(self._find_cycle(indeg))}; "
                              f"a task graph must be acyclic")
        return order

    def _find_cycle(self, indeg):
        # Every task left with in-degree > 0 has a predecessor that is also left, so
        # walking predecessors from one of them must come back to a task seen before.
        left = {t for t, d in indeg.items() if d > 0}
        t = min(left, key=self._index.get)
        path = []
        while t not in path:
            path.append(t)
            t = min((p for p in self.pred[t] if p in left), key=self._index.get)
        cycle = path[path.index(t):][::-1]
        # Start the cycle at its first-listed task, so the message is the same every time.
        k = cycle.index(min(cycle, key=self._index.get))
        cycle = cycle[k:] + cycle[:k]
        return cycle + [cycle[0]]

    # ---- queries ------------------------------------------------------------------------

    def index(self, task):
        """Position of ``task`` in the listing (used to break ties)."""
        return self._index[task]

    def feasible(self, task):
        """Devices that can run ``task`` (those with a cost), in device order."""
        return [d for d in self.device_names if d in self.cost[task]]

    def min_cost(self, task):
        return min(self.cost[task].values())

    def transfer(self, a, b):
        """Seconds to move ``a``'s result to ``b`` when they run on different devices."""
        return self.edges[(a, b)]

    def __len__(self):
        return len(self.tasks)

    def __repr__(self):
        return (f"<CostGraph {len(self.tasks)} tasks, {len(self.edges)} edges, devices "
                f"{', '.join(self.device_names)}>")

    # ---- conversion ---------------------------------------------------------------------

    def with_costs(self, tasks):
        """A copy with the same devices and edges and ``tasks`` (task to ``{device: seconds}``)."""
        return CostGraph(self.devices, tasks, [[a, b, c] for (a, b), c in self.edges.items()],
                         source=self.source)

