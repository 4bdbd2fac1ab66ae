"""List every tool the flow uses, where it was found, and what is missing for which command."""

import json

from .common import cells


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def run(args):
    from ..doctor import check_tools
    tools = check_tools()
    if args.json:
        print(json.dumps([t.__dict__ for t in tools], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title="hetflow doctor")
    for col in ("tool", "status", "where", "version", "needed for"):
        table.add_column(col, overflow="fold")
    for t in tools:
        table.add_row(*cells(t.name, "ok" if t.found else "MISSING", t.where, t.version,
                             t.needed_for))
    console = Console(width=160)
    console.print(table)
    missing = [t for t in tools if not t.found]
    for t in missing:
        console.print(f"missing {t.name}: needed for {t.needed_for}; install with: {t.hint}",
                      highlight=False, markup=False)
    if not missing:
        console.print("all tools found")
    return 0
