"""Schedule a task graph given as JSON with a policy; print the schedule or its JSON.

The graph: {"devices": ["cpu", "fpga"], "tasks": {"t1": {"cost": {"cpu": 2.0, "fpga": 0.5}},
...}, "edges": [["t1", "t2", 0.25], ...]} (costs in seconds; an edge's transfer cost is
paid only when its two tasks run on different devices).  Policies: heft, dmda, eager,
cpu-only, fpga-only.
"""

import json
import sys

from ..hw.errors import HetflowError


def add_arguments(parser):
    parser.add_argument("--graph", "-g", required=True, metavar="FILE.json",
                        help="the task graph (JSON)")
    parser.add_argument("--policy", "-p", default="heft",
                        help="heft, dmda, eager, cpu-only or fpga-only (default: heft)")
    parser.add_argument("--json", action="store_true",
                        help="print {makespan, placement, start, finish, ...} as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="draw a Gantt chart (PNG)")


def _fmt(seconds):
    return f"{seconds:.6g}"


def as_json(sched):
    """What --json prints: makespan, placement, start, finish, per-device order and bounds."""
    from ..bench.bounds import lower_bounds, slr
    bounds = lower_bounds(sched.graph)
    return {"policy": sched.policy,
            "makespan": sched.makespan,
            "placement": dict(sched.placement),
            "start": dict(sched.start),
            "finish": dict(sched.finish),
            "order": sched.order(),
            "lower_bound": bounds["lower_bound"],
            "critical_path": bounds["critical_path"],
            "work_bound": bounds["work"],
            "area_bound": bounds["area"],
            "slr": slr(sched)}


def run(args):
    from ..bench.graphfile import load_graph
    from ..sched.policies import POLICIES, schedule

    if args.policy not in POLICIES:
        raise HetflowError(f"unknown policy '{args.policy}'; choose one of: "
                           f"{', '.join(POLICIES)}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise HetflowError(f"--plot {args.plot}: the chart is a PNG; give a file name ending "
                           f"in .png")
    graph = load_graph(args.graph)
    sched = schedule(graph, args.policy)
    if args.json:
        print(json.dumps(as_json(sched), indent=2))
    else:
        from rich.console import Console
        from rich.table import Table
        table = Table(title=f"hetflow schedule: {graph.source}, {args.policy}, "
                            f"{len(graph.tasks)} tasks on {len(graph.devices)} devices")
        for col in ("task", "device", "start", "finish", "duration"):
            table.add_column(col, justify="left" if col in ("task", "device") else "right")
        for t in sorted(graph.tasks, key=lambda t: (sched.start[t], graph.index(t))):
            table.add_row(t, sched.placement[t], _fmt(sched.start[t]), _fmt(sched.finish[t]),
                          _fmt(sched.finish[t] - sched.start[t]))
        console = Console(width=100)
        console.print(table)
        from ..bench.bounds import lower_bounds, slr
        bounds = lower_bounds(graph)
        print(f"makespan {_fmt(sched.makespan)} s; lower bound {_fmt(bounds['lower_bound'])} s "
              f"(critical path at minimum costs {_fmt(bounds['critical_path'])} s, work / "
              f"devices {_fmt(bounds['work'])} s"
              + (f", split work {_fmt(bounds['area'])} s" if len(graph.devices) == 2 else "")
              + f"); schedule length ratio {slr(sched):.3f}")
    if args.plot:
        from .gantt import plot_gantt
        plot_gantt(sched, args.plot, title=f"{graph.source}: {args.policy}")
        print(f"Gantt chart: {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0
