"""Calibrate performance models: run kernels over a range of sizes on a device and store them.

Each kernel runs at each size once to warm up and then --repeats times, timed; every timed
run (and its device cycles, on the simulated board) goes into this machine's models,
shown by `hetflow models`.  Sizes are in each kernel's unit of work: samples (fir),
elements (saxpy, dot), bytes (crc32), pixels (conv2d), multiply-accumulates (gemm).
"""

import sys

from ..hw.errors import HetflowError
from .common import check_device


def add_arguments(parser):
    parser.add_argument("--device", "-d", default="sim", help="cpu or sim (default: sim)")
    parser.add_argument("--kernels", "-k", nargs="+", metavar="KERNEL[:k=v,...]",
                        help="kernels and parameters, e.g. fir:taps=16 gemm crc32 "
                             "(default: fir:taps=16 gemm crc32)")
    parser.add_argument("--sizes", "-s", metavar="N,N,...",
                        help="sizes for every kernel (default: a range per kernel)")
    parser.add_argument("--repeats", "-r", type=int, default=3,
                        help="timed calls per size (default: 3)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _sizes(text):
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HetflowError(f"--sizes {text!r} is not a comma-separated list of integers "
                           f"(e.g. 1024,4096,16384)") from None
    if not sizes or min(sizes) < 1:
        raise HetflowError(f"--sizes {text!r}: sizes must be positive integers")
    return sizes


def run(args):
    import hetflow
    from ..sched.calibrate import DEFAULT_KERNELS, calibrate, calibration_sizes, parse_kernels
    from .models import load_models

    device = check_device(args.device)
    if args.repeats < 1:
        raise HetflowError(f"--repeats {args.repeats} is out of range; allowed 1 or more")
    kernels = parse_kernels(args.kernels) if args.kernels else list(DEFAULT_KERNELS)
    sizes = _sizes(args.sizes) if args.sizes else None
    models = load_models("calibrate")
    total = sum(len(sizes or calibration_sizes(name)) for name, _ in kernels)

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)
    err = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, disable=args.quiet, transient=False) as bar:
        job = bar.add_task(f"calibrating on {device}", total=total)

        def step(key, n, done, _total):
            bar.update(job, completed=done, description=f"{device}: {key} n={n:,.0f}")

        def status(msg):
            bar.update(job, description=f"{device}: {msg}")

        options = {"status": status} if device == "sim" else {}
        with hetflow.open(device, **options) as dev:
            rows = calibrate(dev, models, kernels=kernels, sizes=sizes, repeats=args.repeats,
                             on_step=step)
    models.save()

    from rich.table import Table
    table = Table(title=f"hetflow calibrate: {device}, median of {args.repeats} runs per size")
    for col in ("model", "size", "time", "per unit", "cycles"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        per = r["seconds"] / r["n"] if r["n"] else 0.0
        table.add_row(r["key"], f"{r['n']:,.0f} {r['unit']}" + (f" / {r['tiles']} tiles"
                                                               if r["tiles"] > 1 else ""),
                      f"{r['seconds'] * 1e3:,.3f} ms", f"{per * 1e9:,.2f} ns",
                      "-" if r["cycles"] is None else f"{r['cycles']:,}")
    Console(width=110).print(table)
    print(f"stored {len(kernels)} model(s) for {device} in {models.path}")
    sys.stdout.flush()
    return 0
