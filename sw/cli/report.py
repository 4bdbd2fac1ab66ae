"""Print a build's report.json (from 'hetflow build --out DIR') as a table."""

import json

from ..boards.report import load_report
from .common import cells


def add_arguments(parser):
    parser.add_argument("dir", metavar="DIR", help="output directory of 'hetflow build'")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _pct(used, total):
    if used is None or not total:
        return "-"
    return f"{used}/{total} ({100.0 * used / total:.1f}%)"


def rows(report):
    """``[(field, value)]`` of the lines of the report table."""
    r = report
    overlay = r.get("overlay")
    fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.2f} MHz"
    timing = "met" if r["timing_met"] else "NOT met"
    if overlay:
        design = [("overlay", overlay["name"])]
        for name, inst in overlay["instances"].items():
            params = ", ".join(f"{k}={v}" for k, v in inst["params"].items())
            design.append(("instance", f"{name}: {inst['kernel']}({params})"))
        for stream in overlay["streams"]:
            design.append(("stream", f"{stream['from']} -> {stream['to']} (depth "
                                     f"{stream['depth']}"
                                     + (", reinterpret)" if stream["reinterpret"] else ")")))
    else:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "-"
        design = [("kernel", f"{r['kernel']} ({params})")]
    out = [
        *design,
        ("board", f"{r['board']} ({r['device']})"),
        ("LUT / logic cells", _pct(r["lut_used"], r["lut_total"])),
        ("flip-flops", _pct(r["ff_used"], r.get("ff_total"))),
        ("block RAM", _pct(r["bram_used"], r["bram_total"])),
        ("DSP / multipliers", _pct(r["dsp_used"], r["dsp_total"])),
    ]
    if r.get("spram_total"):
        out.append(("SPRAM", _pct(r.get("spram_used"), r["spram_total"])))
    out += [
        ("Fmax", f"{fmax} (target {r['target_mhz']:g} MHz, timing {timing})"),
        ("bitstream", f"{r['bitstream']}  sha256 {r['sha256'][:16]}..."),
        ("build", f"{r['build_s']:.1f} s" + (" (from cache)" if r.get("cached") else "")
         + f", seed {r.get('seed', '-')}, {r.get('toolchain', '-')}"),
        ("tools", "; ".join(f"{k} {v}" for k, v in r["tools"].items())),
    ]
    for note in r.get("notes", []):
        out.append(("note", note))
    return out


#: Order of the components in the split; kernel instances first, the rest is the shell.
_ORDER = ("kernel", "dma", "memory", "bridge", "uart", "glue", "packer")


def component_rows(report):
    """``[(component, lc, lut, ff, carry, bram, spram, dsp)]`` of the report's split, kernel
    (an overlay's instances, in its order) first.

    Empty when the report has no split (an older build, or a family without one).
    """
    comps = report.get("components") or {}
    order = [*(report.get("overlay") or {}).get("instances", ()), *_ORDER]
    names = sorted(comps, key=lambda c: (order.index(c) if c in order else len(order), c))
    out = []
    for name in names:
        c = comps[name]
        out.append((name, c.get("lc"), c.get("lut"), c.get("ff"), c.get("carry", "-"),
                    c.get("bram"), c.get("spram", "-"), c.get("dsp")))
    return out


def print_report(report, title=None):
    from rich.console import Console
    from rich.table import Table
    table = Table(title=title or "hetflow build report", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in rows(report):
        table.add_row(*cells(field, value))
    console = Console(width=120)
    console.print(table)
    split = component_rows(report)
    if not split:
        return
    table = Table(title="cost per component", caption="lc: logic cells after packing; the rest: "
                  "cells Yosys synthesised (hierarchy kept)")
    for col in ("component", "lc", "LUT4", "FF", "carry", "BRAM", "SPRAM", "DSP"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for row in split:
        table.add_row(*cells(*row))
    console.print(table)
    whose = "the instances'" if report.get("overlay") else "the kernel's"
    print(f"shell_lc={report['shell_lc']}  (logic cells of the placed design, "
          f"{report['lut_used']}, minus {whose} packed ones)")


def run(args):
    report = load_report(args.dir)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, title=f"hetflow build report: {args.dir}")
    return 0
