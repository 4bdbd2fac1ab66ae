"""hetflow.sched: heterogeneous scheduling of task graphs over CPU and FPGA devices.

* :mod:`~hetflow.sched.graph` -- task graphs as a program builds them (:class:`Graph`,
  ``@graph.task``);
* :mod:`~hetflow.sched.costgraph` -- what a policy schedules: tasks with a cost per
  device (:class:`CostGraph`);
* :mod:`~hetflow.sched.policies` -- HEFT, dmda, eager, cpu-only, fpga-only and the
  :class:`Schedule` they return;
* :mod:`~hetflow.sched.work` -- the size of a call; :mod:`~hetflow.sched.taskmodel` -- what
  is known about one task on one device; :mod:`~hetflow.sched.perfmodel` -- those models,
  calibrated (:mod:`~hetflow.sched.calibrate`), refined from real runs, stored per machine;
* :mod:`~hetflow.sched.contention` -- devices sharing the host slow each other down:
  the measured slowdowns and the prediction of a plan with them;
* :mod:`~hetflow.sched.plan` and :mod:`~hetflow.sched.executor` -- a :class:`Graph`
  planned by a policy and run on real devices concurrently.

``hetflow bench schedule`` (:mod:`hetflow.bench.schedule`) compares the policies against
the bounds of :mod:`hetflow.bench.bounds`.

::

    import hetflow
    from hetflow.sched import Graph, Executor

    g = Graph()
    y = g.kernel("fir", taps=16)(x, h=h)
    q = g.task(np.right_shift, y, 8)
    with hetflow.open("cpu") as cpu, hetflow.open("sim") as sim:
        report = Executor([cpu, sim]).run(g, policy="heft")
    print(report.makespan, report.describe(), report[q])
"""

from .costgraph import CostGraph, GraphError
from .graph import Graph, TaskRef
from .perfmodel import PerfModels
from .policies import POLICIES, Schedule, schedule

__all__ = ["CostGraph", "Graph", "GraphError", "TaskRef", "POLICIES", "Schedule", "schedule",
           "Executor", "PerfModels"]


def __getattr__(name):
    # The executor pulls in the runtime (devices, overlays); load it only when asked for.
    if name == "Executor":
        from .executor import Executor
        return Executor
    raise AttributeError(f"module 'hetflow.sched' has no attribute {name!r}")
