"""What a bitstream build leaves: its ``report.json``, the files installed in the
output directory, and the logs and error of a failed build.

:func:`hetflow.boards.build.build` runs the tools; this module reads what they
wrote.  A finished build is copied into the output directory bitstream and logs
first, ``report.json`` last, each by an atomic rename, so a reader never sees a
report without its bitstream.  A failed build removes the output directory's
``report.json`` and bitstream and leaves the tool logs there, and the error
names the first problem the logs show (an overuse of the part, with the
instances that take most of it for an overlay).
"""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..link.framing import BRIDGE_MAX_PAYLOAD
from .clocking import soc_clock_mhz
from .components import measure, shell_lc
from .design import fitting_phrase
from .errors import BuildError, DoesNotFit
from .report import (describe_overuse, first_error, overused, parse_nextpnr_log,
                     parse_nextpnr_report, parse_yosys_stat, pick_fmax, resources)
from .usbuart import check_baud

__all__ = ["NAME", "KEPT", "sha256_file", "read_log", "failure", "bridge_info", "make_report",
           "install"]

#: Base name of the top-level design's files.
NAME = "top"
#: Files of a build kept in the output directory (besides the bitstream).
KEPT = ("build.log", f"{NAME}.rpt", f"{NAME}.tim", f"{NAME}.report.json", f"build_{NAME}.sh",
        f"{NAME}.ys", f"{NAME}.pcf", f"{NAME}.lpf", f"{NAME}.debug.v")




def sha256_file(path):
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()




def read_log(path):
    """The text of a tool's log, empty when it was not written."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def failure(tmp, out, design, board, code, tools):
    """Move the logs of a failed build to ``out`` and return the error to raise.

    An overlay that does not fit names the instances that take the most of each
    resource it overuses (from the per-component split of the same netlist).
    """
    for stale in ("report.json", f"{NAME}.{board.bitstream}"):
        try:
            (out / stale).unlink()
        except FileNotFoundError:
            pass
    for name in KEPT:
        if (tmp / name).exists():
            shutil.copyfile(tmp / name, out / name)
    pnr_log = read_log(tmp / f"{NAME}.tim")
    util, _ = parse_nextpnr_log(pnr_log)
    what = design.label
    over = describe_overuse(util)
    if over and design.overlay is not None:
        components, _ = measure(tmp, board, tools, NAME, instances=design.instances)
        for i, (resource, _, _) in enumerate(overused(util)):
            who = fitting_phrase(resource, components, design.instances)
            if who:
                over[i] += f" ({who})"
    if over:
        return DoesNotFit(f"{what} does not fit {board.name} ({board.device}): it needs "
                          + "; ".join(over) + f" (log: {out / (NAME + '.tim')})")
    if code is None:
        return BuildError(f"building {what} for {board.name} took longer than the timeout; "
                          f"logs in {out}")
    for log_name, tool in ((f"{NAME}.tim", "nextpnr"), (f"{NAME}.rpt", "yosys"),
                           ("build.log", "build script")):
        err = first_error(read_log(tmp / log_name))
        if err:
            return BuildError(f"{tool} failed building {what} for {board.name}: {err} "
                              f"(log: {out / log_name})")
    tail = read_log(tmp / "build.log").strip().splitlines()[-1:] or ["no output"]
    return BuildError(f"building {what} for {board.name} failed (exit {code}): {tail[0]} "
                      f"(log: {out / 'build.log'})")




def bridge_info(board, pll, baud):
    """What the host needs to know about the board's serial bridge (for ``report.json``).

    ``baud`` is the line speed (checked with :func:`~hetflow.boards.usbuart.check_baud`);
    the serial backend reads it from here (``hetflow.open('serial:PORT', board=DIR)``).
    """
    clock_hz = soc_clock_mhz(board, pll) * 1e6
    divisor = check_baud(board, clock_hz, baud)
    chip = board.usb_uart
    return {"kind": "uart-frame", "baud": baud, "divisor": divisor,
            "actual_baud": round(clock_hz / divisor, 1), "max_payload": BRIDGE_MAX_PAYLOAD,
            "usb_uart": chip.name, "usb_uart_max_baud": chip.max_baud,
            "open": "hetflow.open('serial:PORT', board='<this directory>')"}




def make_report(tmp, design, board, pll, requested, seed, toolchain, versions, notes,
                 build_s, key, baud, components=None):
    pnr_json = tmp / f"{NAME}.report.json"
    if pnr_json.exists():
        util, fmax = parse_nextpnr_report(pnr_json.read_text())
    else:
        util, fmax = parse_nextpnr_log(read_log(tmp / f"{NAME}.tim"))
    cells = parse_yosys_stat(read_log(tmp / f"{NAME}.rpt"))
    res = resources(board.family, util, cells, board)
    achieved, _ = pick_fmax(fmax)
    target = soc_clock_mhz(board, pll)
    bitstream = f"{NAME}.{board.bitstream}"
    if not (tmp / bitstream).is_file():
        raise BuildError(f"the build of {design.label} for {board.name} wrote no {bitstream}")
    from .. import __version__ as hetflow_version
    report = {
        "hetflow_report": 1,
        "board": board.name, "device": board.device, "package": board.package,
        "family": board.family, **design.report_fields(),
        **res,
        "fmax_mhz": round(achieved, 2) if achieved is not None else None,
        "target_mhz": round(target, 4),
        "requested_mhz": requested,
        "timing_met": achieved is not None and achieved >= target,
        "pll": None if pll is None else {"fin_mhz": pll.fin_mhz, "fout_mhz": pll.fout_mhz,
                                         "vco_mhz": pll.vco_mhz, "params": pll.params},
        "memory": {"kind": board.memory, "bytes": board.memory_size},
        "bridge": bridge_info(board, pll, baud),
        "bitstream": bitstream, "sha256": sha256_file(tmp / bitstream),
        "build_s": round(build_s, 2), "seed": seed, "toolchain": toolchain, "tools": versions,
        "notes": notes, "utilization": {k: {"used": u, "available": a}
                                        for k, (u, a) in util.items()},
        "yosys_cells": cells,
        # Per component: Yosys's synthesised cells and nextpnr's packed logic cells of a
        # hierarchical synthesis; shell_lc is placed logic cells minus the kernel
        # instances' (hetflow.boards.components).
        "components": components,
        "shell_lc": shell_lc(res["lut_used"], components, design.instances),
        "cache_key": key, "hetflow": hetflow_version,
        "logs": {"yosys": f"{NAME}.rpt", "nextpnr": f"{NAME}.tim", "script": "build.log"},
    }
    return report


def install(src, out, report):
    """Copy a finished build into ``out``: bitstream and logs first, report.json last."""
    names = [report["bitstream"]] + [n for n in KEPT if (src / n).exists()]
    for name in names:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
        os.close(fd)
        try:
            shutil.copyfile(src / name, tmp)
            os.replace(tmp, out / name)
        except BaseException:
            os.unlink(tmp)
            raise
    text = json.dumps(report, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".report.json.", dir=out)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out / "report.json")
    except BaseException:
        os.unlink(tmp)
        raise
