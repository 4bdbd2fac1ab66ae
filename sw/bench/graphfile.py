"""Cost graphs read from JSON: the input of ``hetflow schedule --graph``.

A file holds one :class:`~hetflow.sched.costgraph.CostGraph`, a hand-written
or generated set of costs to try the policies on (a program's own graphs are
sized by the executor, never written as JSON)::

    {"devices": ["cpu", "fpga"],
     "tasks": {"t1": {"cost": {"cpu": 2.0, "fpga": 0.5}}, "t2": {"cost": {"cpu": 1.0}}},
     "edges": [["t1", "t2", 0.25]]}

A device is a name, or ``{"name": ..., "kind": "cpu" | "fpga" | "other"}``
(without a kind, the kind its name implies:
:func:`~hetflow.sched.costgraph.device_kind`).  A task may name the ``kernel``
it calls (checked against the registry).  The file's keys and entries are
checked here; costs, edges and cycles by :class:`CostGraph`, every error one
line starting with the file's name.
"""

import json
from pathlib import Path

from ..sched.costgraph import CostGraph, DeviceSpec, GraphError, device_kind

__all__ = ["load_graph", "graph_from_dict"]


def load_graph(path):
    """Read and validate a :class:`CostGraph` from a JSON file.

    Raises
    ------
    GraphError
        If the file is missing, is not JSON, or describes a bad graph.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GraphError(f"graph file {path} does not exist") from None
    except IsADirectoryError:
        raise GraphError(f"graph file {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"graph file {path} cannot be read: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphError(f"{path.name}: not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}") from None
    return graph_from_dict(data, source=path.name)


def graph_from_dict(data, source="graph"):
    """The :class:`CostGraph` of the JSON form ``{"devices": ..., "tasks": ..., "edges": ...}``.

    ``source`` starts every error message (the file name when loaded).
    """
    if not isinstance(data, dict):
        raise GraphError(f"{source}: expected a JSON object with keys devices, tasks, "
                         f"edges, not {type(data).__name__}")
    extra = sorted(set(data) - {"devices", "tasks", "edges"})
    if extra:
        raise GraphError(f"{source}: unknown key '{extra[0]}'; allowed: devices, tasks, edges")
    for key in ("devices", "tasks"):
        if key not in data:
            raise GraphError(f"{source}: missing key '{key}'; a graph has devices, tasks "
                             f"and edges")
    devices = data["devices"]
    if isinstance(devices, list):
        devices = [_device(item, source) for item in devices]
    tasks = data["tasks"]
    if not isinstance(tasks, dict):
        raise GraphError(f"{source}: 'tasks' must be an object mapping task names to "
                         f"{{\"cost\": {{device: seconds}}}}, not {type(tasks).__name__}")
    tasks = {name: _cost(name, entry, source) for name, entry in tasks.items()}
    return CostGraph(devices, tasks, data.get("edges", []), source=source)


def _device(item, source):
    """A device of the file: its name, or a DeviceSpec of ``{"name", "kind"}``."""
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise GraphError(f"{source}: device {item!r} must be a name or "
                         f"{{\"name\": ..., \"kind\": ...}}")
    name, kind = item.get("name"), item.get("kind")
    extra = sorted(set(item) - {"name", "kind"})
    if extra:
        raise GraphError(f"{source}: device {item!r} has unknown key '{extra[0]}'; "
                         f"allowed: name, kind")
    if not isinstance(name, str):
        raise GraphError(f"{source}: device {item!r} has no name; give "
                         f"{{\"name\": ..., \"kind\": ...}}")
    return DeviceSpec(name, device_kind(name) if kind is None else kind)


def _cost(name, entry, source):
    """The ``{device: seconds}`` of task ``name``'s entry ``{"cost": ..., "kernel": ...}``."""
    if not isinstance(entry, dict):
        raise GraphError(f"{source}: task '{name}' must be an object {{\"cost\": {{device: "
                         f"seconds}}}}, not {entry!r}")
    extra = sorted(set(entry) - {"cost", "kernel"})
    if extra:
        raise GraphError(f"{source}: task '{name}' has unknown key '{extra[0]}'; "
                         f"allowed: cost, kernel")
    cost, kernel = entry.get("cost"), entry.get("kernel")
    if cost is not None and cost != {} and not isinstance(cost, dict):
        raise GraphError(f"{source}: task '{name}': 'cost' must map device names to seconds, "
                         f"not {cost!r}")
    if kernel is not None:
        _check_kernel(name, kernel, source)
    return cost


def _check_kernel(task, kernel, source):
    from ..hw.errors import KernelNotFound
    from ..hw.registry import get_kernel, kernel_names
    if not isinstance(kernel, str):
        raise GraphError(f"{source}: task '{task}': 'kernel' must be a kernel name, not "
                         f"{kernel!r}")
    try:
        get_kernel(kernel)
    except KernelNotFound:
        raise GraphError(f"{source}: task '{task}' names unknown kernel '{kernel}'; kernels "
                         f"are: {', '.join(kernel_names())}") from None
