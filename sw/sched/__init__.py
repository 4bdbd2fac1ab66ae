"""hetflow.sched: heterogeneous scheduling of task graphs over CPU and FPGA devices.

* :mod:`~hetflow.sched.graph` -- task graphs: the Python API (:class:`Graph`,
  ``@graph.task``) and the data form with costs (:class:`CostGraph`, JSON);
* :mod:`~hetflow.sched.policies` -- HEFT, dmda, eager, cpu-only, fpga-only,
  the :class:`Schedule` they return and its lower bounds;
* :mod:`~hetflow.sched.perfmodel` -- per (kernel, device) performance models,
  calibrated, refined from real runs and stored per machine;
* :mod:`~hetflow.sched.executor` -- runs a :class:`Graph` on real devices
  concurrently, following a policy;
* :mod:`~hetflow.sched.randomdag` and :mod:`~hetflow.sched.bench` -- the
  random-DAG generator and ``hetflow bench schedule``.

::

    import hetflow
    from hetflow.sched import Graph, Executor

    g = Graph()
    y = g.kernel("fir", taps=16)(x, h=h)
    q = g.task(np.right_shift, y, 8)
    with hetflow.open("cpu") as cpu, hetflow.open("sim") as sim:
        report = Executor([cpu, sim]).run(g, policy="heft")
    print(report.makespan, report[q])
"""

from .graph import CostGraph, Graph, GraphError, TaskRef, load_graph
from .policies import POLICIES, Schedule, lower_bounds, schedule

__all__ = ["CostGraph", "Graph", "GraphError", "TaskRef", "load_graph", "POLICIES", "Schedule",
           "lower_bounds", "schedule", "Executor", "PerfModels"]


def __getattr__(name):
    # The executor and the models pull in the runtime; load them only when asked for.
    if name == "Executor":
        from .executor import Executor
        return Executor
    if name == "PerfModels":
        from .perfmodel import PerfModels
        return PerfModels
    raise AttributeError(f"module 'hetflow.sched' has no attribute {name!r}")
