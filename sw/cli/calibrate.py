"""Calibrate performance models: run kernels over a range of sizes on a device and store them.

Each kernel runs at each size once to warm up and then --repeats times, timed; every timed
run (and its device cycles, on the simulated board) goes into this machine's models,
shown by `hetflow models`.  Sizes are in each kernel's unit of work: samples (fir),
elements (saxpy, dot), bytes (crc32), pixels (conv2d), multiply-accumulates (gemm).

With --board DIR (a build directory) on the simulated board, each timed call's
*predicted* time on that board (hetflow.boardtime: cycles at the build's clock, serial
link bytes at its baud rate, a turnaround per exchange) is stored too, as the models of
the board's device (--board-device, default serial:BOARD), so a plan can use the board
before it is attached.

With --overlay FILE the device is opened with that overlay (hetflow.open(device,
overlay=FILE)) and its compute units are calibrated: each instance no stream touches
(instances of one kernel and parameters share one model); a chain is not calibrated and
learns from its runs.
"""

import sys
from pathlib import Path

from ..hw.errors import HetflowError
from .common import add_board_timing_arguments, board_timing, check_device


def add_arguments(parser):
    parser.add_argument("--device", "-d", default="sim", help="cpu or sim (default: sim)")
    parser.add_argument("--kernels", "-k", nargs="+", metavar="KERNEL[:k=v,...]",
                        help="kernels and parameters, e.g. fir:taps=16 gemm crc32 "
                             "(default: fir:taps=16 gemm crc32)")
    parser.add_argument("--overlay", "-o", metavar="FILE.toml",
                        help="open the device with this overlay and calibrate its units (the "
                             "instances outside its chains)")
    parser.add_argument("--sizes", "-s", metavar="N,N,...",
                        help="sizes for every kernel (default: a range per kernel)")
    parser.add_argument("--repeats", "-r", type=int, default=3,
                        help="timed calls per size (default: 3)")
    add_board_timing_arguments(parser)
    parser.add_argument("--board-device", metavar="DEVICE",
                        help="with --board: the device name the board's models are stored "
                             "under, as the board will be opened (default: serial:BOARD, "
                             "e.g. serial:icebreaker)")
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


def parse_kernels(items):
    """``["fir:taps=16", "gemm"]`` -> ``[("fir", {"taps": 16}), ("gemm", {...})]`` (validated)."""
    from ..hw.registry import get_kernel
    out = []
    for item in items:
        name, _, rest = item.partition(":")
        params = {}
        for part in filter(None, rest.split(",")):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise HetflowError(f"--kernels {item!r}: '{part}' is not NAME=VALUE "
                                   f"(e.g. fir:taps=16)")
            params[key.strip()] = value.strip()
        # The name as given: a plug-in kernel may be a module:Class path.
        cls = get_kernel(name.strip())
        out.append((name.strip(), dict(cls.bind(**params))))
    return out


def run(args):
    import hetflow
    from ..hw.overlay import as_overlay
    from ..sched.calibrate import DEFAULT_KERNELS, calibrate, calibration_sizes, overlay_kernels
    from .models import load_models

    device = check_device(args.device)
    if args.repeats < 1:
        raise HetflowError(f"--repeats {args.repeats} is out of range; allowed 1 or more")
    if args.board is not None and device != "sim":
        raise HetflowError(f"--board predicts a board's time from simulated calls; use it "
                           f"with --device sim, not {device}")
    if args.board_device is not None and args.board is None:
        raise HetflowError("--board-device names the models of --board DIR; give --board too")
    if args.overlay is not None:
        if args.kernels:
            raise HetflowError("--kernels and --overlay both choose what to calibrate; with "
                               "--overlay the overlay's units are calibrated, give one or the "
                               "other")
        if args.board is not None:
            raise HetflowError("--board predicts a board's time from a kernel's build, not an "
                               "overlay's; calibrate the overlay on sim without --board")
    timing = board_timing(args)
    board_device = None
    if timing is not None:
        board_device = check_device(args.board_device or f"serial:{timing.board}")
    if args.overlay is not None:            # a bad file fails here, before a device opens
        kernels = overlay_kernels(as_overlay(args.overlay))
    else:
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
        if args.overlay is not None:
            options["overlay"] = args.overlay
        if timing is not None and timing.memory_size:
            options["memory_size"] = timing.memory_size     # calls are cut as on the board
        with hetflow.open(device, **options) as dev:
            rows = calibrate(dev, models, kernels=kernels, sizes=sizes, repeats=args.repeats,
                             on_step=step, timing=timing, board_device=board_device)
    models.save()

    from rich.table import Table
    where = f"{device} with overlay {Path(args.overlay).name}" if args.overlay else device
    table = Table(title=f"hetflow calibrate: {where}, median of {args.repeats} runs per size")
    columns = ("model", "size", "time", "per unit", "cycles") \
        + ((f"{board_device} (predicted)",) if timing else ())
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        per = r["seconds"] / r["n"] if r["n"] else 0.0
        board = (f"{r['predicted'] * 1e3:,.3f} ms",) if timing else ()
        table.add_row(r["key"], f"{r['n']:,.0f} {r['unit']}" + (f" / {r['tiles']} tiles"
                                                               if r["tiles"] > 1 else ""),
                      f"{r['seconds'] * 1e3:,.3f} ms", f"{per * 1e9:,.2f} ns",
                      "-" if r["cycles"] is None else f"{r['cycles']:,}", *board)
    Console(width=130).print(table)
    print(f"stored {len(kernels)} model(s) for {device} in {models.path}")
    if timing is not None:
        print(f"stored {len(kernels)} model(s) for {board_device}: predicted, not measured "
              f"({timing.describe()})")
    sys.stdout.flush()
    return 0
