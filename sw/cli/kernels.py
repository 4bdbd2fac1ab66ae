"""List the registered kernels with their parameters and ports.

Without arguments: every kernel registered through the ``hetflow.kernels``
entry points.  With arguments: those kernels, by name or ``module:Class``
(a kernel that is not installed yet).
"""

import json
import sys

from ..hw.errors import KernelNotFound
from ..hw.registry import get_kernel, kernel_names
from .common import cells


def add_arguments(parser):
    parser.add_argument("kernels", nargs="*", metavar="KERNEL",
                        help="kernel names or module:Class paths (default: all registered)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _ports(ports):
    return ", ".join(f"{p['name']}:{p['dtype']}" + (f"x{p['lanes']}" if p["lanes"] > 1 else "")
                     for p in ports)


def _allowed(q):
    if q["choices"]:
        return "|".join(str(c) for c in q["choices"])
    return f"{q['min']}..{q['max']}"


def run(args):
    if args.kernels:
        # Named explicitly: an unknown or broken kernel is the error of this command.
        infos = [get_kernel(name).describe() for name in args.kernels]
        broken = []
    else:
        infos, broken = [], []
    for name in ([] if args.kernels else kernel_names()):
        try:
            infos.append(get_kernel(name).describe())
        except KernelNotFound as exc:   # one broken plugin must not hide the others
            broken.append(str(exc))
    for msg in broken:
        print(f"hetflow kernels: warning: {msg}", file=sys.stderr)
    status = 1 if broken else 0
    if args.json:
        print(json.dumps(infos, indent=2))
        return status
    from rich.console import Console
    from rich.table import Table
    table = Table(title="hetflow kernels", show_lines=False)
    for col in ("name", "parameters (default, range)", "inputs", "outputs", "scalars", "summary"):
        table.add_column(col)
    for info in infos:
        params = ", ".join(f"{q['name']}={q['default']} ({_allowed(q)})"
                           for q in info["params"]) or "-"
        table.add_row(*cells(info["name"], params, _ports(info["inputs"]),
                             _ports(info["outputs"]), ", ".join(info["scalars"]) or "-",
                             info["summary"]))
    Console(width=160).print(table)
    return status
