"""``hetflow bench schedule``: the policies on random DAGs and on a real mixed workload.

Part 1, random DAGs (:mod:`~hetflow.sched.randomdag`, the HEFT paper's
generator) over sizes, out-degrees, CCRs and heterogeneities, on two CPUs
and two FPGAs: for each policy, the schedule length ratio (makespan /
CP_MIN) by CCR and overall, the speedup (best single-device sequential time
/ makespan) and how often it gives the shortest schedule.

Part 2, the mixed workload of :mod:`~hetflow.sched.workload` executed for
real on ``cpu`` + ``sim``: the kernels are calibrated over sizes on each
device alone into a fresh model file (unless one is given); ``warmup``
recorded rounds of every policy then give the NumPy steps a history and the
models their slowdowns when the devices share the host (the runs that
overlapped); then, with the models fixed (not recorded: every run of a
policy follows the same plan), every policy runs ``repeats`` times,
round-robin in a rotating order.  For each: the median measured makespan and its spread,
the ratio to the best single device (the faster of cpu-only and fpga-only,
by median), the median prediction and its error, the candidate heft and dmda
chose (:func:`~hetflow.sched.contention.choose`) and whether the results
equal a NumPy-only computation.  A table shows, per task kind, its time
alone on each device and its slowdown when sharing: what each device wins.

Goals (issue 6), each checked and printed as ``goal met`` or ``goal not
met: ...``: heft and dmda no slower than the best single device (median
of same-round ratios; a policy that chose that device's own plan in every
run meets it by construction, the ratio then being the spread between runs
of one plan); the plan each ran within 10% of the lower bound of this
host, judged in the model the bound comes from (the plan's predicted
makespan against the larger of the critical path of the time-alone costs
and :func:`~hetflow.sched.contention.contended_bound`, the least time to
do the work on both devices when sharing the host slows each task down by
its measured slowdown; the measured makespan over the bound, and the
two-device area bound without slowdowns,
:func:`~hetflow.sched.policies.lower_bounds`, are printed beside it); every
policy's prediction within 20% of the measured makespan.

Hooking it into ``hetflow bench``::

    sched = sub.add_parser("schedule", help=..., description=bench.__doc__)
    bench.add_arguments(sched)
    sched.set_defaults(_bench=bench.run)
"""

import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ..hw.errors import HetflowError
from .contention import contended_bound
from .policies import POLICIES, lower_bounds, schedule
from .randomdag import DEFAULT_DEVICES, random_dag

__all__ = ["run_schedule_bench", "random_dag_bench", "real_workload_bench", "goals",
           "add_arguments", "run", "DEFAULTS"]

DEFAULTS = {"sizes": (20, 50, 100), "out_degrees": (1, 2, 4), "ccrs": (0.1, 1.0, 5.0),
            "betas": (0.1, 0.5, 1.0), "graphs": 2, "repeats": 11, "warmup": 2, "seed": 1}
#: Kernels of the real workload, calibrated before it runs.
WORKLOAD_KERNELS = (("fir", {"taps": 16}), ("gemm", {"rows": 16, "cols": 16}), ("crc32", {}))
#: Calibration sizes, around those of the workload (GEMM: 1, 4 and 16 tiles with K = 4096).
WORKLOAD_SIZES = {"fir": (32768, 65536, 131072, 262144),
                  "gemm": (1048576, 4194304, 16777216),
                  "crc32": (4096, 16384, 65536, 1048576)}
#: Goals of the real workload.
GOAL_RATIO, GOAL_BOUND, GOAL_ERROR = 1.0, 1.10, 0.20


def random_dag_bench(sizes, out_degrees, ccrs, betas, graphs=2, seed=1):
    """Schedule random DAGs with every policy.

    Returns
    -------
    dict
        ``graphs`` (count) and, per policy, lists ``slr``, ``speedup``,
        ``ccr``, ``best`` (1 where the policy's makespan is the shortest).
    """
    out = {p: {"slr": [], "speedup": [], "ccr": [], "best": []} for p in POLICIES}
    count = 0
    for n in sizes:
        for d in out_degrees:
            for ccr in ccrs:
                for beta in betas:
                    for k in range(graphs):
                        g = random_dag(n, d, ccr, beta, devices=DEFAULT_DEVICES,
                                       seed=seed * 1_000_003 + count)
                        count += 1
                        cp = lower_bounds(g)["critical_path"]
                        sequential = min(sum(g.cost[t][dev] for t in g.tasks)
                                         for dev in g.device_names)
                        spans = {p: schedule(g, p).makespan for p in POLICIES}
                        shortest = min(spans.values())
                        for p, m in spans.items():
                            out[p]["slr"].append(m / cp)
                            out[p]["speedup"].append(sequential / m)
                            out[p]["ccr"].append(ccr)
                            out[p]["best"].append(m <= shortest * (1 + 1e-9))
    return {"graphs": count, "policies": out}


def _spread(values):
    """(median, min, max, half the interquartile range / median) of a list of seconds."""
    q1, med, q3 = np.percentile(values, (25, 50, 75))
    return float(med), float(min(values)), float(max(values)), \
        float((q3 - q1) / 2 / med) if med > 0 else 0.0


def real_workload_bench(repeats=3, warmup=DEFAULTS["warmup"], models=None, seed=0,
                        status=None):
    """Run the mixed workload with every policy on cpu + sim.

    Parameters
    ----------
    repeats : int
        Measured runs per policy (the median is reported).
    warmup : int
        Recorded, unreported rounds of every policy before the measured ones.
    models : PerfModels, optional
        Models to use and refine (default: a fresh temporary file, so the
        result does not depend on earlier runs on this machine).

    Returns
    -------
    dict
        ``rows``: per policy ``predicted`` and ``measured`` (medians over the
        runs), ``runs``, ``min``, ``max``, ``iqr`` (half the interquartile
        range over the median), ``error`` (of the median prediction against
        the median measurement), ``on_sim``,
        ``choice`` (the median run's plan), ``choices`` (plan name to how
        many runs had it), ``ratio`` (median over the rounds of the run's
        makespan over the best single device's in the same round),
        ``correct``; ``tasks_alone``: per task kind and device
        the predicted seconds alone, slowdown and its source;
        ``bounds`` (:func:`lower_bounds` of the time-alone costs, plus
        ``contended``, :func:`contended_bound` with the final models'
        slowdowns, and ``lower_bound`` the larger of it and the critical path),
        ``candidates`` and ``choice`` (heft's candidates' predicted makespans
        and its choice, with the final models),
        ``load`` (the highest 1-minute load average seen at the start of a
        round; None where the system has none),
        ``lower_bound``, ``calibration_s``, ``tasks``, and ``reports`` (the
        median run's :class:`~hetflow.sched.executor.RunReport` per policy).
    """
    import hetflow

    from .calibrate import calibrate
    from .executor import Executor
    from .perfmodel import PerfModels
    from .workload import expected, mixed_workload

    say = status or (lambda msg: None)
    tmp = None
    if models is None:
        tmp = tempfile.TemporaryDirectory(prefix="hetflow-sched-bench-")
        models = PerfModels(Path(tmp.name) / "perfmodels.json")
    graph, final = mixed_workload(seed=seed)
    want = expected(seed=seed)
    rows, reports = {}, {}
    load = []
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
                    # The baselines first: they give the NumPy steps a time alone; then
                    # the policies that share the host give the models their slowdowns.
                    for policy in ("cpu-only", "fpga-only", "eager", "heft", "dmda"):
                        say(f"warm-up {i + 1}/{warmup}: {policy}")
                        ex.run(graph, policy)
            # The measured runs use the models as the warm-up left them: every run of a
            # policy then follows one plan, judged against that plan's prediction.
            ex.record = False
            # Round-robin over the policies, so that a change in the machine's load
            # (other processes) falls on every policy alike; the order rotates each
            # round, so that no policy always follows the same one (after fpga-only the
            # cpu's caches hold the simulator's data, not the workload's).
            all_runs = {policy: [] for policy in POLICIES}
            names = list(POLICIES)
            for i in range(repeats):
                if hasattr(os, "getloadavg"):
                    load.append(os.getloadavg()[0])
                for policy in names[i % len(names):] + names[:i % len(names)]:
                    say(f"run {i + 1}/{repeats}: {policy}")
                    all_runs[policy].append(ex.run(graph, policy))
            for policy, runs in all_runs.items():
                spans = [r.makespan for r in runs]
                med, low, high, iqr = _spread(spans)
                median = min(runs, key=lambda r: abs(r.makespan - med))
                reports[policy] = median
                predicted = float(np.median([r.predicted.makespan for r in runs]))
                rows[policy] = {
                    "predicted": predicted,
                    "measured": med, "runs": spans, "min": low, "max": high, "iqr": iqr,
                    "error": (predicted - med) / med,
                    "on_sim": sum(1 for d in median.placement.values() if d != "cpu"),
                    "choice": median.choice,
                    "choices": {c: sum(1 for r in runs if r.choice == c)
                                for c in dict.fromkeys(r.choice for r in runs)},
                    "correct": all(np.array_equal(r[final], want) for r in runs),
                }
            # Ratios to the best single device, paired by round: a change in the machine's
            # load between rounds then cancels out.
            best = min(("cpu-only", "fpga-only"), key=lambda p: rows[p]["measured"])
            for policy, row in rows.items():
                row["ratio"] = float(np.median([a / b for a, b in
                                                zip(row["runs"], rows[best]["runs"])]))
            plan = ex.plan(graph, "heft")
            bounds = lower_bounds(plan.costs)
            # The bound of this host: sharing it slows both devices down (measured).
            bounds["contended"] = contended_bound(plan.costs, plan.slowdown)
            bounds["lower_bound"] = max(bounds["critical_path"], bounds["contended"])
            alone = {}
            for name, task in graph.tasks.items():
                kind = task.key.split("(")[0]
                row = alone.setdefault(kind, {"tasks": 0})
                row["tasks"] += 1
                for label, seconds in plan.costs.cost[name].items():
                    cell = row.setdefault(label, {"seconds": 0.0, "slowdown": [], "source": set()})
                    cell["seconds"] += seconds
                    factor, source = models.slowdown(task.key, label)
                    cell["slowdown"].append(factor)
                    cell["source"].add(source)
            for row in alone.values():
                for label, cell in row.items():
                    if label != "tasks":
                        cell["slowdown"] = float(np.median(cell["slowdown"]))
                        cell["source"] = "/".join(sorted(cell["source"]))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {"rows": rows, "reports": reports, "bounds": bounds,
            "candidates": dict(plan.candidates), "choice": plan.choice,
            "load": max(load) if load else None,
            "lower_bound": bounds["lower_bound"], "tasks_alone": alone,
            "calibration_s": calibration_s, "tasks": len(graph.tasks)}


def goals(rows, lower_bound):
    """The issue's goals on a real-workload result: a list of ``(met, line)``.

    ``rows`` as returned by :func:`real_workload_bench`.
    """
    best_name = min(("cpu-only", "fpga-only"), key=lambda p: rows[p]["measured"])
    best = rows[best_name]["measured"]
    out = []
    for p in ("heft", "dmda"):
        r = rows[p]
        ratio = r["ratio"]
        same = (f"; it ran the {r['choice']} plan" if r["choice"] in ("cpu-only", "fpga-only")
                else "")
        if set(r.get("choices", {r["choice"]: 1})) == {best_name}:
            # Its decision was the best single device's own plan (placement and order): it
            # cannot be slower than that; the measured ratio is the spread between runs
            # of one plan.
            out.append((True, f"goal met: {p} chose the best single device's plan "
                              f"({best_name}) itself; measured {ratio:.3f}x of it (median of "
                              f"same-round ratios: the spread between runs of one plan)"))
        elif ratio <= GOAL_RATIO:
            out.append((True, f"goal met: {p} {_fmt_ms(r['measured'])} <= best single device "
                              f"({best_name}, {_fmt_ms(best)}): {ratio:.3f}x (median of "
                              f"same-round ratios){same}"))
        else:
            out.append((False, f"goal not met: {p} {_fmt_ms(r['measured'])} is {ratio:.3f}x "
                               f"the best single device ({best_name}, {_fmt_ms(best)}; median "
                               f"of same-round ratios){same}; "
                               f"run-to-run spread {p} {_fmt_ms(r['min'])}-{_fmt_ms(r['max'])}, "
                               f"{best_name} {_fmt_ms(rows[best_name]['min'])}-"
                               f"{_fmt_ms(rows[best_name]['max'])}"))
        # The bound is of the model (the time-alone costs and slowdowns): the plan is judged
        # in the same model, by its prediction; its measured time is shown beside it, and
        # the prediction's error has its own goal.
        plan_ratio = r["predicted"] / lower_bound
        measured = f"measured {r['measured'] / lower_bound:.2f}x"
        if plan_ratio <= GOAL_BOUND:
            out.append((True, f"goal met: {p}'s plan within {GOAL_BOUND - 1:.0%} of the lower "
                              f"bound ({plan_ratio:.2f}x of {_fmt_ms(lower_bound)} predicted; "
                              f"{measured})"))
        else:
            out.append((False, f"goal not met: {p}'s plan is {plan_ratio:.2f}x the lower bound "
                               f"{_fmt_ms(lower_bound)} predicted, not within "
                               f"{GOAL_BOUND - 1:.0%} ({measured})"))
    bad = [p for p, r in rows.items() if abs(r["error"]) > GOAL_ERROR]
    errors = ", ".join(f"{p} {r['error']:+.0%}" for p, r in rows.items())
    if bad:
        out.append((False, f"goal not met: predictions within {GOAL_ERROR:.0%} for "
                           f"{len(rows) - len(bad)} of {len(rows)} policies ({errors})"))
    else:
        out.append((True, f"goal met: every prediction within {GOAL_ERROR:.0%} ({errors})"))
    return out


def _fmt_ms(seconds):
    return f"{seconds * 1e3:,.1f} ms"


def run_schedule_bench(sizes=DEFAULTS["sizes"], out_degrees=DEFAULTS["out_degrees"],
                       ccrs=DEFAULTS["ccrs"], betas=DEFAULTS["betas"], graphs=DEFAULTS["graphs"],
                       real=True, repeats=DEFAULTS["repeats"], warmup=DEFAULTS["warmup"],
                       seed=DEFAULTS["seed"],
                       models=None, plot=None, console=None, status=None):
    """Run both parts, print their tables and summary lines; return the numbers.

    Parameters
    ----------
    sizes, out_degrees, ccrs, betas : sequences
        Random-DAG generator parameters (every combination).
    graphs : int
        Random graphs per combination.
    real : bool
        Also run the real workload on cpu + sim.
    repeats : int
        Measured runs per policy of the real workload.
    warmup : int
        Recorded warm-up rounds of every policy before the measured runs.
    models : PerfModels, optional
        Models for the real workload (default: a fresh temporary file).
    plot : path-like, optional
        PNG Gantt chart: HEFT's predicted and measured schedules of the real
        workload (or HEFT on one random DAG without ``real``).
    console : rich.console.Console, optional
    status : callable, optional
        One-line progress messages.
    """
    from rich.console import Console
    from rich.table import Table

    for flag, value, least in (("--graphs", graphs, 1), ("--repeats", repeats, 1),
                               ("--warmup", warmup, 0)):
        if value < least:
            raise HetflowError(f"{flag} {value} is out of range; allowed {least} or more")
    console = console or Console(width=110)
    say = status or (lambda msg: None)

    say("random DAGs")
    t0 = time.perf_counter()
    dags = random_dag_bench(sizes, out_degrees, ccrs, betas, graphs=graphs, seed=seed)
    dag_s = time.perf_counter() - t0
    table = Table(title=f"hetflow bench schedule: {dags['graphs']} random DAGs "
                        f"(n {', '.join(map(str, sizes))}; out-degree "
                        f"{', '.join(map(str, out_degrees))}; beta {', '.join(map(str, betas))}; "
                        f"2 cpu + 2 fpga)")
    table.add_column("policy")
    for ccr in ccrs:
        table.add_column(f"SLR CCR {ccr:g}", justify="right")
    for col in ("SLR all", "speedup", "shortest"):
        table.add_column(col, justify="right")
    summary = {}
    for p, r in dags["policies"].items():
        by_ccr = [statistics.mean(s for s, c in zip(r["slr"], r["ccr"]) if c == ccr)
                  for ccr in ccrs]
        summary[p] = {"slr": statistics.mean(r["slr"]), "speedup": statistics.mean(r["speedup"]),
                      "best": sum(r["best"]) / len(r["best"]),
                      "slr_by_ccr": dict(zip(ccrs, by_ccr))}
        table.add_row(p, *(f"{s:.3f}" for s in by_ccr), f"{summary[p]['slr']:.3f}",
                      f"{summary[p]['speedup']:.2f}", f"{100 * summary[p]['best']:.0f}%")
    console.print(table)
    heft_slr = summary["heft"]["slr"]
    console.print(f"random DAGs: heft SLR {heft_slr:.3f}, dmda {summary['dmda']['slr']:.3f} "
                  f"({summary['dmda']['slr'] / heft_slr - 1:+.1%} vs heft), eager "
                  f"{summary['eager']['slr']:.3f} ({summary['eager']['slr'] / heft_slr - 1:+.1%}); "
                  f"{dags['graphs']} graphs x {len(POLICIES)} policies in {dag_s:.1f} s",
                  highlight=False)
    result = {"random": {"graphs": dags["graphs"], "seconds": dag_s, "policies": summary}}

    if real:
        real_result = real_workload_bench(repeats=repeats, warmup=warmup, models=models,
                                          seed=0, status=say)
        rows = real_result["rows"]
        alone = real_result["tasks_alone"]
        table = Table(title="what each device wins: the workload's tasks by kind, predicted "
                            "time alone (sum over the tasks) and slowdown when sharing the host")
        for col in ("task", "tasks", "cpu alone", "sim alone", "sim / cpu", "cpu slowdown",
                    "sim slowdown"):
            table.add_column(col, justify="left" if col == "task" else "right")
        for kind, row in alone.items():
            c, sm = row.get("cpu"), row.get("sim")
            table.add_row(kind, str(row["tasks"]), _fmt_ms(c["seconds"]),
                          _fmt_ms(sm["seconds"]) if sm else "-",
                          f"{sm['seconds'] / c['seconds']:.1f}x" if sm else "host only",
                          f"{c['slowdown']:.2f} ({c['source']})",
                          f"{sm['slowdown']:.2f} ({sm['source']})" if sm else "-")
        console.print(table)
        best_name = min(("cpu-only", "fpga-only"), key=lambda p: rows[p]["measured"])
        table = Table(title=f"mixed workload on cpu + sim ({real_result['tasks']} tasks: FIR, "
                            f"GEMM, CRC-32, NumPy), {repeats} runs per policy after {warmup} "
                            f"warm-up round(s)")
        for col in ("policy", "measured", "min-max ms", "+-iqr", f"vs {best_name}",
                    "predicted", "error", "on sim", "plan", "result"):
            table.add_column(col, justify="left" if col in ("policy", "plan", "result")
                             else "right")
        for p, r in rows.items():
            table.add_row(p, _fmt_ms(r["measured"]),
                          f"{r['min'] * 1e3:,.1f}-{r['max'] * 1e3:,.1f}", f"{r['iqr']:.0%}",
                          f"{r['ratio']:.3f}x", _fmt_ms(r["predicted"]),
                          f"{r['error']:+.0%}", str(r["on_sim"]),
                          ", ".join(f"{c} {k}/{len(r['runs'])}" if len(r["choices"]) > 1 else c
                                    for c, k in r["choices"].items()),
                          "= NumPy" if r["correct"] else "DIFFERS")
        console.print(table)
        load = real_result["load"]
        b = real_result["bounds"]
        busy = ("" if load is None else
                f", load average up to {load:.1f} during the measured runs (this bench adds "
                f"up to 2: the cpu device and the simulator)")
        console.print(f"host: {os.cpu_count()} cores{busy}.  The simulator process and its "
                      f"driver thread share them (and the driver shares the Python "
                      f"interpreter lock) with the cpu device.  Lower bound "
                      f"{_fmt_ms(b['lower_bound'])}: the larger of the critical path "
                      f"{_fmt_ms(b['critical_path'])} and the two-device area under the "
                      f"measured slowdowns {_fmt_ms(b['contended'])} (without them "
                      f"{_fmt_ms(b['area'])}: no schedule on this host gets there); "
                      f"calibration took "
                      f"{real_result['calibration_s']:.1f} s", highlight=False)
        cands = real_result["candidates"]
        console.print("heft's candidates with the final models: " + ", ".join(
            f"{name} {_fmt_ms(span)}" for name, span in cands.items())
            + f" -> {real_result['choice']}", highlight=False)
        verdicts = goals(rows, real_result["lower_bound"])
        for _, line in verdicts:
            console.print(line, highlight=False)
        ok = all(r["correct"] for r in rows.values())
        console.print(f"{'PASS' if ok else 'FAIL'} bench schedule: every policy's results "
                      f"{'equal' if ok else 'do NOT all equal'} the NumPy computation; "
                      f"{sum(m for m, _ in verdicts)} of {len(verdicts)} goals met",
                      highlight=False)
        result["real"] = {k: v for k, v in real_result.items() if k != "reports"}
        result["real"]["goals"] = [{"met": m, "line": line} for m, line in verdicts]
        if plot:
            from .gantt import plot_gantt
            heft = real_result["reports"]["heft"]
            plot_gantt([heft.predicted, heft.as_schedule()], plot,
                       title="mixed workload, heft: predicted and measured")
            console.print(f"Gantt chart: {plot}", highlight=False)
    elif plot:
        from .gantt import plot_gantt
        g = random_dag(sizes[0], out_degrees[0], ccrs[0], betas[0], seed=seed)
        plot_gantt([schedule(g, "heft")], plot, title=f"heft on {g.source}")
        console.print(f"Gantt chart: {plot}", highlight=False)
    return result


# ---- command line (hooked into `hetflow bench` as `schedule`) ----------------------------


def _numbers(text, kind, flag):
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise HetflowError(f"{flag} {text!r} is not a comma-separated list of "
                           f"{'integers' if kind is int else 'numbers'}") from None
    if not values:
        raise HetflowError(f"{flag} is empty")
    return values


def add_arguments(parser):
    """Arguments of ``hetflow bench schedule``."""
    parser.add_argument("--sizes", default="20,50,100",
                        help="random DAG task counts (default: 20,50,100)")
    parser.add_argument("--out-degree", default="1,2,4",
                        help="random DAG out-degrees (default: 1,2,4)")
    parser.add_argument("--ccr", default="0.1,1,5",
                        help="communication to computation ratios (default: 0.1,1,5)")
    parser.add_argument("--beta", default="0.1,0.5,1",
                        help="heterogeneities, 0..2 (default: 0.1,0.5,1)")
    parser.add_argument("--graphs", type=int, default=DEFAULTS["graphs"],
                        help=f"random DAGs per combination (default: {DEFAULTS['graphs']})")
    parser.add_argument("--repeats", type=int, default=DEFAULTS["repeats"],
                        help=f"measured runs per policy of the real workload "
                             f"(default: {DEFAULTS['repeats']})")
    parser.add_argument("--warmup", type=int, default=DEFAULTS["warmup"],
                        help=f"recorded warm-up rounds of every policy before the measured "
                             f"runs (default: {DEFAULTS['warmup']})")
    parser.add_argument("--no-real", action="store_true",
                        help="random DAGs only (no run on cpu + sim)")
    parser.add_argument("--machine-models", action="store_true",
                        help="use and refine this machine's stored models instead of a fresh "
                             "temporary set")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                        help=f"random DAG seed (default: {DEFAULTS['seed']})")
    parser.add_argument("--plot", metavar="FILE.png", help="write a Gantt chart of HEFT")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    """Entry point of ``hetflow bench schedule``; returns the exit status."""
    from ..cli.common import progress

    sizes = _numbers(args.sizes, int, "--sizes")
    if min(sizes) < 1:
        raise HetflowError(f"--sizes {args.sizes}: task counts must be 1 or more")
    degrees = _numbers(args.out_degree, int, "--out-degree")
    if min(degrees) < 1:
        raise HetflowError(f"--out-degree {args.out_degree}: out-degrees must be 1 or more")
    ccrs = _numbers(args.ccr, float, "--ccr")
    if min(ccrs) < 0:
        raise HetflowError(f"--ccr {args.ccr}: ratios must be >= 0")
    betas = _numbers(args.beta, float, "--beta")
    if min(betas) < 0 or max(betas) > 2:
        raise HetflowError(f"--beta {args.beta} is out of range; allowed 0..2")
    models = None
    if args.machine_models:
        from .perfmodel import PerfModels
        models = PerfModels()
    if args.plot:
        plot = Path(args.plot)
        if plot.suffix.lower() != ".png":
            raise HetflowError(f"--plot {plot}: the chart is a PNG; give a file name ending "
                               f"in .png")
        parent = plot.parent if str(plot.parent) else Path(".")
        if not parent.is_dir():
            raise HetflowError(f"cannot write {plot}: directory {parent} does not exist")
    with progress(not args.quiet) as status:
        result = run_schedule_bench(sizes=sizes, out_degrees=degrees, ccrs=ccrs, betas=betas,
                                    graphs=args.graphs, real=not args.no_real,
                                    repeats=args.repeats, warmup=args.warmup, seed=args.seed,
                                    models=models,
                                    plot=args.plot, status=status)
    if models is not None:
        models.save()
    real = result.get("real")
    return 0 if real is None or all(r["correct"] for r in real["rows"].values()) else 1
