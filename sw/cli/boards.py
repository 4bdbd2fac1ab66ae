"""List the boards hetflow builds for: part, resources, clock, memory, USB-UART, programming.

The USB-UART column names the chip the host reaches the board's serial bridge
through (``ext.`` when the board has none and an external adapter is assumed)
and its fastest rate; "default baud" is the fastest rate both that chip and
the board's oscillator make (:func:`hetflow.boards.usbuart.default_baud`), the
rate ``hetflow build`` uses unless given ``--baud``.
"""

import json

from .common import cells


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def run(args):
    from ..boards.build import resolve_tools
    from ..boards.errors import ToolchainMissing
    from ..boards.registry import boards
    infos = []
    for b in boards():
        info = b.describe()
        try:
            resolve_tools(b, "yowasp")
            info["toolchain"] = "yowasp: ok"
        except ToolchainMissing as exc:
            info["toolchain"] = f"yowasp: {exc}"
        infos.append(info)
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title="hetflow boards")
    for col in ("name", "device", "LUT", "FF", "BRAM", "DSP", "clock", "SoC memory",
                "USB-UART (max baud)", "default baud", "program (openFPGALoader)",
                "build tools"):
        table.add_column(col)
    for b in infos:
        r = b["resources"]
        bram = f"{r['bram']} x {r['bram_kbits']} kbit"
        mem = f"{b['memory']['bytes'] // 1024} KiB {b['memory']['kind']}"
        status = b["toolchain"] if b["available"] else f"unavailable: {b['reason']}"
        u = b["usb_uart"]
        chip = f"{u['chip']}{'' if u['on_board'] else ' (ext.)'} ({u['max_baud']:,})"
        table.add_row(*cells(b["name"], f"{b['device']} ({b['package']})", r["lut"], r["ff"],
                             bram, r["dsp"], f"{b['clock']['mhz']:g} MHz", mem, chip,
                             f"{u['default_baud']:,}",
                             " ".join(b["program"]["args"]), status))
    Console(width=200).print(table)
    return 0
