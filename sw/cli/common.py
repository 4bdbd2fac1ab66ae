"""Helpers shared by CLI commands: parameter parsing, progress, atomic output."""

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..hw.errors import HetflowError

__all__ = ["parse_params", "add_param_argument", "progress", "write_output", "cells"]


def add_param_argument(parser):
    parser.add_argument("--param", "-p", action="append", default=[], metavar="K=V",
                        help="elaboration parameter (repeatable), e.g. --param taps=16")


def parse_params(items):
    """``["taps=16", "lanes=2"]`` -> ``{"taps": "16", "lanes": "2"}`` (values checked later)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise HetflowError(f"--param {item!r} is not of the form NAME=VALUE (e.g. taps=16)")
        if key in params:
            raise HetflowError(f"--param {key} is given twice")
        params[key] = value
    return params


@contextmanager
def progress(enabled=True):
    """A callable that shows one-line status messages on stderr.

    On a terminal it is a spinner (rich); otherwise each message is a line.
    """
    if not enabled:
        yield lambda msg: None
        return
    if sys.stderr.isatty():
        from rich.console import Console
        console = Console(stderr=True)
        with console.status("") as status:
            yield lambda msg: status.update(msg)
    else:
        yield lambda msg: print(f"... {msg}", file=sys.stderr, flush=True)


def write_output(path, text):
    """Write ``text`` to ``path`` atomically (``-`` or None: stdout)."""
    if path in (None, "-"):
        sys.stdout.write(text)
        return
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise HetflowError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise HetflowError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_device(spec):
    """Reject a device name ``hetflow.open`` would not accept, before any work starts."""
    if spec not in ("cpu", "sim", "pynq") and not (spec.startswith("serial:") and len(spec) > 7):
        raise HetflowError(f"unknown device '{spec}'; choose one of: cpu, sim, pynq, serial:PORT")
    return spec


def cells(*values):
    """Table cells shown as written: rich would take ``[boards]`` in a value for markup."""
    from rich.text import Text
    return [Text(str(v)) for v in values]


def add_board_timing_arguments(parser):
    """``--board DIR`` and ``--turnaround-ms MS``: predict board time from a build."""
    from ..link.framing import DEFAULT_TURNAROUND_S
    parser.add_argument("--board", metavar="DIR",
                        help="a build directory ('hetflow build --out'): also print each call's "
                             "predicted time on that board (its clock, baud rate, link bytes)")
    parser.add_argument("--turnaround-ms", type=float, default=DEFAULT_TURNAROUND_S * 1e3,
                        metavar="MS",
                        help=f"with --board: milliseconds each request/response exchange waits "
                             f"in the USB-UART (default: {DEFAULT_TURNAROUND_S * 1e3:g}, an FTDI "
                             f"latency timer at its minimum; 16 is the chips' default)")


def board_timing(args):
    """The :class:`~hetflow.boardtime.BoardTiming` of ``--board``, or None without it."""
    if args.board is None:
        return None
    from ..boardtime import BoardTiming
    if not args.turnaround_ms >= 0:
        raise HetflowError(f"--turnaround-ms {args.turnaround_ms:g} is out of range; allowed "
                           f"0 or more")
    return BoardTiming.from_build(args.board, turnaround_s=args.turnaround_ms / 1e3)


def predicted_line(timing, label, cycles, link):
    """``predicted board time <label>: 2.1 ms = 0.1 compute + 1.2 link + 0.8 turnaround``."""
    b = timing.breakdown(cycles, link)
    return (f"predicted board time {label}: {b['total_s'] * 1e3:,.3f} ms = "
            f"{b['compute_s'] * 1e3:,.3f} compute ({cycles or 0:,} cycles) + "
            f"{b['link_s'] * 1e3:,.3f} link ({link.bytes:,} bytes) + "
            f"{b['turnaround_s'] * 1e3:,.3f} turnaround ({link.exchanges} exchange(s), "
            f"{link.requests} requests)")
