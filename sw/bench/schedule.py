"""``hetflow bench schedule``: the scheduling policies side by side.

Random DAGs (:mod:`~hetflow.bench.randomdag`, the HEFT paper's generator)
over sizes, out-degrees, CCRs and heterogeneities, on two CPUs and two
FPGAs: for each policy, the schedule length ratio (makespan / CP_MIN) by CCR
and overall, the speedup (best single-device sequential time / makespan)
and how often it gives the shortest schedule.

The mixed workload of :mod:`~hetflow.bench.workload`, executed for real on
``cpu`` + ``sim``: the kernels are calibrated over sizes on each device
alone into a fresh model file (unless one is given); ``warmup`` recorded
rounds of every policy give the NumPy steps a history and the models their
slowdowns when the devices share the host; then, with the models fixed
(every run of a policy follows one plan), every policy runs ``repeats``
times, round-robin in a rotating order.  For each: the median makespan and
its spread, its ratio to the best single device (median of same-round
ratios, so a change of the machine's load cancels out), the prediction and
its error, the plan that ran (a policy's own, or the baseline it chose) and
whether the results equal a NumPy-only computation.  Beside them, the lower
bound of this host: the larger of the critical path and
:func:`contended_bound`, the least time in which both devices do the work
when sharing the host slows each task down by its measured slowdown
(:mod:`~hetflow.bench.bounds`).
"""

import os
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..sched.policies import POLICIES, Schedule, schedule
from .bounds import contended_bound, lower_bounds
from .randomdag import DEFAULT_DEVICES, random_dag

__all__ = ["random_dag_bench", "real_workload_bench", "run_schedule_bench", "gantt_schedules",
           "ScheduleBench", "DEFAULTS"]

DEFAULTS = {"sizes": (20, 50, 100), "out_degrees": (1, 2, 4), "ccrs": (0.1, 1.0, 5.0),
            "betas": (0.1, 0.5, 1.0), "graphs": 2, "repeats": 11, "warmup": 2, "seed": 1}
#: Kernels of the mixed workload, calibrated before it runs.
WORKLOAD_KERNELS = (("fir", {"taps": 16}), ("gemm", {"rows": 16, "cols": 16}), ("crc32", {}))
#: Calibration sizes, around those of the workload (GEMM: 1, 4 and 16 tiles with K = 4096).
WORKLOAD_SIZES = {"fir": (32768, 65536, 131072, 262144),
                  "gemm": (1048576, 4194304, 16777216),
                  "crc32": (4096, 16384, 65536, 1048576)}
SINGLE = ("cpu-only", "fpga-only")


def random_dag_bench(sizes, out_degrees, ccrs, betas, graphs=2, seed=1):
    """Schedule random DAGs with every policy.

    Returns
    -------
    dict
        ``graphs`` (count) and, per policy, ``slr`` and ``speedup`` (means),
        ``best`` (fraction of graphs where it is the shortest) and ``slr_by_ccr``.
    """
    raw = {p: [] for p in POLICIES}                     # (slr, speedup, ccr, best)
    count = 0
    for n in sizes:
        for d in out_degrees:
            for ccr in ccrs:
                for beta in betas:
                    for _ in range(graphs):
                        g = random_dag(n, d, ccr, beta, devices=DEFAULT_DEVICES,
                                       seed=seed * 1_000_003 + count)
                        count += 1
                        cp = lower_bounds(g)["critical_path"]
                        sequential = min(sum(g.cost[t][dev] for t in g.tasks)
                                         for dev in g.device_names)
                        spans = {p: schedule(g, p).makespan for p in POLICIES}
                        shortest = min(spans.values())
                        for p, m in spans.items():
                            raw[p].append((m / cp, sequential / m, ccr,
                                           m <= shortest * (1 + 1e-9)))
    summary = {p: {"slr": statistics.mean(r[0] for r in rows),
                   "speedup": statistics.mean(r[1] for r in rows),
                   "best": sum(r[3] for r in rows) / len(rows),
                   "slr_by_ccr": {c: statistics.mean(r[0] for r in rows if r[2] == c)
                                  for c in ccrs}}
               for p, rows in raw.items()}
    return {"graphs": count, "policies": summary}


def _spread(values):
    """(median, min, max, half the interquartile range / median) of a list of seconds."""
    q1, med, q3 = np.percentile(values, (25, 50, 75))
    return float(med), float(min(values)), float(max(values)), \
        float((q3 - q1) / 2 / med) if med > 0 else 0.0


def real_workload_bench(repeats=3, warmup=DEFAULTS["warmup"], models=None, seed=0,
                        status=None):
    """Run the mixed workload with every policy on cpu + sim.

    Returns
    -------
    dict
        ``rows``: per policy ``measured`` (median), ``runs``, ``min``, ``max``,
        ``iqr``, ``predicted`` (median), ``error``, ``ratio`` (median of
        same-round ratios to ``best``), ``on_sim``, ``choice`` and ``plan``
        (the median run's plan and its description), ``own_predicted``,
        ``choices`` (plan to how many runs had it), ``correct``;
        ``best`` (the faster single device); ``alone``: per task kind and
        device, ``(seconds alone summed over its tasks, median slowdown)``;
        ``bounds`` (of heft's plan's costs with the final models:
        :func:`~hetflow.bench.bounds.lower_bounds` plus ``contended`` and
        ``lower_bound``), ``load``, ``calibration_s``,
        ``tasks`` and ``reports`` (the median run's report per policy).
    """
    import hetflow

    from ..sched.calibrate import calibrate
    from ..sched.executor import Executor
    from ..sched.perfmodel import PerfModels
    from .workload import expected, mixed_workload

    say = status or (lambda msg: None)
    tmp = None
    if models is None:
        tmp = tempfile.TemporaryDirectory(prefix="hetflow-sched-bench-")
        models = PerfModels(Path(tmp.name) / "perfmodels.json")
    graph, final = mixed_workload(seed=seed)
    want = expected(seed=seed)
    rows, reports, load = {}, {}, []
    try:
        with hetflow.open("cpu") as cpu, hetflow.open("sim", status=say) as sim:
            t0 = time.perf_counter()
            for dev in (cpu, sim):
                for name, params in WORKLOAD_KERNELS:
                    say(f"calibrating {name} on {dev.name}")
                    calibrate(dev, models, kernels=((name, params),),
                              sizes=WORKLOAD_SIZES[name], repeats=2, seed=seed)
            calibration_s = time.perf_counter() - t0
            ex = Executor([cpu, sim], models=models, save=False)
            with warnings.catch_warnings():
                # The NumPy steps have no model before the first round: that is its point.
                warnings.filterwarnings("ignore", "no performance model yet")
                for i in range(warmup):
                    # The baselines first give the NumPy steps a time alone; then the
                    # policies that share the host give the models their slowdowns.
                    for policy in ("cpu-only", "fpga-only", "eager", "heft", "dmda"):
                        say(f"warm-up {i + 1}/{warmup}: {policy}")
                        ex.run(graph, policy)
            ex.record = False
            # Round-robin, the order rotating each round: a change in the machine's load
            # falls on every policy alike, and no policy always follows the same one.
            runs = {policy: [] for policy in POLICIES}
            names = list(POLICIES)
            for i in range(repeats):
                if hasattr(os, "getloadavg"):
                    load.append(os.getloadavg()[0])
                for policy in names[i % len(names):] + names[:i % len(names)]:
                    say(f"run {i + 1}/{repeats}: {policy}")
                    runs[policy].append(ex.run(graph, policy))
            plan = ex.plan(graph, "heft")
    finally:
        if tmp is not None:
            tmp.cleanup()
    for policy, done in runs.items():
        spans = [r.makespan for r in done]
        med, low, high, iqr = _spread(spans)
        median = min(done, key=lambda r: abs(r.makespan - med))
        reports[policy] = median
        predicted = float(np.median([r.predicted.makespan for r in done]))
        rows[policy] = {
            "measured": med, "runs": spans, "min": low, "max": high, "iqr": iqr,
            "predicted": predicted, "error": (predicted - med) / med,
            "on_sim": sum(1 for d in median.placement.values() if d != "cpu"),
            "choice": median.choice, "plan": median.describe(),
            "own_predicted": median.own_makespan,
            "choices": {c: sum(1 for r in done if r.choice == c)
                        for c in dict.fromkeys(r.choice for r in done)},
            "correct": all(np.array_equal(r[final], want) for r in done)}
    best = min(SINGLE, key=lambda p: rows[p]["measured"])
    for row in rows.values():
        row["ratio"] = float(np.median([a / b for a, b in zip(row["runs"], rows[best]["runs"])]))
    # What each device wins: per task kind and device, the predicted time alone (summed
    # over the workload's tasks of that kind) and the median slowdown when sharing.
    alone = {}
    for name, task in graph.tasks.items():
        for label, seconds in plan.costs.cost[name].items():
            cell = alone.setdefault(f"{task.kernel or task.fn.__name__}_{label}", [0.0, []])
            cell[0] += seconds
            cell[1].append(plan.slowdown[name][label])
    bounds = lower_bounds(plan.costs)
    bounds["contended"] = contended_bound(plan.costs, plan.slowdown)
    bounds["lower_bound"] = max(bounds["critical_path"], bounds["contended"])
    return {"rows": rows, "best": best, "bounds": bounds, "reports": reports,
            "alone": {k: (t, float(np.median(f))) for k, (t, f) in alone.items()},
            "load": max(load) if load else None, "calibration_s": calibration_s,
            "tasks": len(graph.tasks)}


@dataclass
class ScheduleBench:
    """What :func:`run_schedule_bench` measured (``real`` is None without the workload)."""

    sizes: tuple
    out_degrees: tuple
    ccrs: tuple
    betas: tuple
    random: dict
    random_s: float
    real: dict = None
    repeats: int = 0
    warmup: int = 0
    seed: int = DEFAULTS["seed"]

    @property
    def ok(self):
        """Every policy's results equal the NumPy computation (True without the workload)."""
        return self.real is None or all(r["correct"] for r in self.real["rows"].values())


def run_schedule_bench(sizes=DEFAULTS["sizes"], out_degrees=DEFAULTS["out_degrees"],
                       ccrs=DEFAULTS["ccrs"], betas=DEFAULTS["betas"], graphs=DEFAULTS["graphs"],
                       real=True, repeats=DEFAULTS["repeats"], warmup=DEFAULTS["warmup"],
                       seed=DEFAULTS["seed"], models=None, status=None):
    """Run the random DAGs and (``real``) the mixed workload; returns a :class:`ScheduleBench`."""
    say = status or (lambda msg: None)
    say("random DAGs")
    t0 = time.perf_counter()
    dags = random_dag_bench(sizes, out_degrees, ccrs, betas, graphs=graphs, seed=seed)
    result = ScheduleBench(sizes, out_degrees, ccrs, betas, dags, time.perf_counter() - t0,
                           repeats=repeats, warmup=warmup, seed=seed)
    if real:
        result.real = real_workload_bench(repeats=repeats, warmup=warmup, models=models,
                                          status=say)
    return result


def gantt_schedules(result):
    """``(schedules, title)`` of a Gantt chart of ``result``: heft's predicted and measured
    run of the workload, or without it heft on the first random DAG."""
    if result.real is not None:
        heft = result.real["reports"]["heft"]
        return [heft.predicted, _measured(heft)], "mixed workload, heft: predicted and measured"
    g = random_dag(result.sizes[0], result.out_degrees[0], result.ccrs[0], result.betas[0],
                   seed=result.seed)
    return [schedule(g, "heft")], f"heft on {g.source}"


def _measured(report):
    """The measured run of ``report`` as a :class:`Schedule` (a Gantt chart's panel)."""
    s = Schedule(f"{report.choice or report.policy} (measured)", report.predicted.graph)
    s.placement, s.start, s.finish = dict(report.placement), dict(report.start), dict(report.finish)
    return s


def _ms(seconds):
    return f"{seconds * 1e3:,.1f} ms"


def print_report(result, console):
    """Print ``result``'s tables, then its figures as ``key=value`` lines."""
    from rich.table import Table

    dags = result.random
    table = Table(title=f"hetflow bench schedule: {dags['graphs']} random DAGs "
                        f"(n {', '.join(map(str, result.sizes))}; out-degree "
                        f"{', '.join(map(str, result.out_degrees))}; beta "
                        f"{', '.join(map(str, result.betas))}; 2 cpu + 2 fpga)")
    table.add_column("policy")
    for ccr in result.ccrs:
        table.add_column(f"SLR CCR {ccr:g}", justify="right")
    for col in ("SLR all", "speedup", "shortest"):
        table.add_column(col, justify="right")
    for p, r in dags["policies"].items():
        table.add_row(p, *(f"{s:.3f}" for s in r["slr_by_ccr"].values()), f"{r['slr']:.3f}",
                      f"{r['speedup']:.2f}", f"{100 * r['best']:.0f}%")
    console.print(table)
    lines = [f"random_dags={dags['graphs']}", f"random_seconds={result.random_s:.1f}"]
    for key in ("slr", "speedup", "best"):
        lines += [f"random_{key}_{p}={r[key]:.3f}" for p, r in dags["policies"].items()]
    real = result.real
    if real is not None:
        rows, best = real["rows"], real["best"]
        table = Table(title=f"mixed workload on cpu + sim ({real['tasks']} tasks: FIR, GEMM, "
                            f"CRC-32, NumPy), {result.repeats} runs per policy after "
                            f"{result.warmup} warm-up round(s)")
        for col in ("policy", "measured", "min-max ms", "+-iqr", f"vs {best}", "predicted",
                    "error", "on sim", "plan that ran", "result"):
            table.add_column(col, justify="left" if col in ("policy", "plan that ran", "result")
                             else "right")
        for p, r in rows.items():
            plan = r["choice"] if len(r["choices"]) == 1 else ", ".join(
                f"{c} {k}/{len(r['runs'])}" for c, k in r["choices"].items())
            table.add_row(p, _ms(r["measured"]), f"{r['min'] * 1e3:,.1f}-{r['max'] * 1e3:,.1f}",
                          f"{r['iqr']:.0%}", f"{r['ratio']:.3f}x", _ms(r["predicted"]),
                          f"{r['error']:+.0%}", str(r["on_sim"]), plan,
                          "= NumPy" if r["correct"] else "DIFFERS")
        console.print(table)
        for p, r in rows.items():
            if r["choice"] != p:
                console.print(f"{p}: {r['plan']}", highlight=False, soft_wrap=True)
        b = real["bounds"]
        lines += [f"mixed_tasks={real['tasks']}", f"mixed_best_single={best}"]
        for key, fmt in (("ratio", "{:.3f}"), ("measured", "{:.4f}"), ("predicted", "{:.4f}"),
                         ("error", "{:+.3f}"), ("on_sim", "{}"), ("choice", "{}")):
            lines += [f"mixed_{key}_{p}=" + fmt.format(r[key]) for p, r in rows.items()]
        lines += [f"mixed_own_predicted_{p}={r['own_predicted']:.4f}" for p, r in rows.items()]
        lines += [f"mixed_iqr_{p}={r['iqr']:.3f}" for p, r in rows.items()]
        lines += [f"mixed_plan_vs_bound_{p}={r['predicted'] / b['lower_bound']:.3f}"
                  for p, r in rows.items()]
        lines += [f"mixed_alone_{k}={t:.4f}" for k, (t, _) in real["alone"].items()]
        lines += [f"mixed_slowdown_{k}={f:.2f}" for k, (_, f) in real["alone"].items()]
        lines += [f"bound_{k}={b[k]:.4f}" for k in ("lower_bound", "critical_path", "contended",
                                                     "area")]
        lines += [f"mixed_load_max={real['load']:.1f}" if real["load"] is not None else
                  "mixed_load_max=none", f"host_cores={os.cpu_count()}",
                  f"calibration_seconds={real['calibration_s']:.1f}",
                  f"mixed_results_equal_numpy={'yes' if result.ok else 'NO'}"]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
