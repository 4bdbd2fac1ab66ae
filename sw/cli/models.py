"""Show this machine's stored performance models (per kernel or function, per device).

Each row: how many real runs the model has seen, the fitted time (fixed + per unit of
work + per extra hardware tile), the fitted device cycles per unit where the device
counts cycles, and at the largest size seen the predicted time, and
the slowdown measured when the task shared the host with another device's work (runs that
overlapped; "-" when it never did), and the spread: how far its runs stray from the model
(+-, relative; "-" with fewer than 3 runs).
"""

import json
import sys
import warnings

import numpy as np

#: Runs a model needs before its spread is shown.
MIN_SPREAD_RUNS = 3


def load_models(command):
    """This machine's models; a warning about the file becomes one line on stderr."""
    from ..sched.perfmodel import PerfModels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models = PerfModels()
    for w in caught:
        print(f"hetflow {command}: warning: {w.message}", file=sys.stderr)
    return models


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the models as JSON")


def _time(seconds):
    if seconds is None:
        return "-"
    for unit, factor in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if abs(seconds) >= 1.0 / factor:
            return f"{seconds * factor:.3g} {unit}"
    return "0" if seconds == 0 else f"{seconds * 1e9:.3g} ns"


def spread(m):
    """How far model ``m``'s real runs stray from it, relative, or None (too few runs).

    Each recorded run is compared with what the model predicts for it (its
    time alone, stretched by the slowdown for the fraction it overlapped);
    the result is twice the median of ``|measured / predicted - 1|``, the
    half-width of a uniform spread with that median deviation.
    """
    from ..sched.work import Work
    factor = m.slowdown()[0] or 1.0
    deviations = []
    for s in m.samples:
        base, _ = m.predict(Work(s["n"], s["tiles"], s["nbytes"]))
        if base and base > 0:
            expected = base * (1.0 + (factor - 1.0) * s["overlap"])
            deviations.append(abs(s["seconds"] / expected - 1.0))
    return 2.0 * float(np.median(deviations)) if len(deviations) >= MIN_SPREAD_RUNS else None


def _describe(m):
    from ..sched.work import Work
    fit, cycles = m.fit, m.cycle_fit
    largest = max(m.samples, key=lambda s: s["n"], default=None)
    work = Work(largest["n"], largest["tiles"], largest["nbytes"]) if largest else None
    slowdown, _ = m.slowdown()
    return {"key": m.key, "device": m.device, "unit": m.unit, "runs": m.runs(),
            "shared_runs": m.shared, "slowdown": slowdown, "spread": spread(m),
            "fit": list(fit.coef) if fit else None,
            "cycles_fit": list(cycles.coef) if cycles else None,
            "at_n": largest["n"] if largest else None,
            "at_tiles": largest["tiles"] if largest else None,
            "predicted_s": m.predict(work)[0] if work else None}


def run(args):
    models = load_models("models")
    rows = [_describe(m) for m in models]
    if args.json:
        print(json.dumps({"path": str(models.path), "machine": models.machine,
                          "models": rows}, indent=2))
        return 0
    if not rows:
        print(f"no performance models stored yet in {models.path} (machine "
              f"{models.machine}); run `hetflow calibrate --device cpu` and "
              f"`hetflow calibrate --device sim`, or run a graph")
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"hetflow models: {models.path} (machine {models.machine})")
    for col in ("model", "device", "runs", "fixed", "per unit", "per tile", "cycles/unit",
                "at size", "predicted", "shared slowdown", "spread"):
        table.add_column(col, justify="left" if col in ("model", "device") else "right")
    for r in rows:
        a, b, c = r["fit"] or (None, None, None)
        cyc = f"{r['cycles_fit'][1]:.3g}" if r["cycles_fit"] else "-"
        size = (f"{r['at_n']:,.0f} {r['unit']}" + (f" / {r['at_tiles']} tiles"
                                                   if r["at_tiles"] and r["at_tiles"] > 1 else "")
                if r["at_n"] is not None else "-")
        table.add_row(r["key"], r["device"], str(r["runs"]), _time(a), _time(b), _time(c), cyc,
                      size, _time(r["predicted_s"]),
                      (f"{r['slowdown']:.2f}x ({r['shared_runs']} run"
                       f"{'s' if r['shared_runs'] != 1 else ''})") if r["slowdown"] else "-",
                      f"+-{r['spread']:.0%}" if r["spread"] is not None else "-")
    console = Console(width=160)
    console.print(table)
    console.print(f"{len(rows)} models; the sim rows' times are the simulator's wall time; "
                  f"a board's rows stored by 'hetflow calibrate --board DIR' are predicted "
                  f"from its build, not measured", highlight=False)
    return 0
