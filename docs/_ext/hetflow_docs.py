"""Sphinx extension: generate the reference pages of the hetflow docs from the code.

At ``builder-inited`` (before Sphinx reads any source) it writes, under
``docs/reference/``:

* ``cli/index.md`` and ``cli/<command>.md``: one page per sub-command of
  ``hetflow.cli.build_parser()``, with its ``--help`` text;
* ``kernels.md``: the built-in kernels, from the kernel registry;
* ``boards.md``: the supported boards, from ``hetflow.boards.registry`` (a
  note instead when that module is missing).

Pages are rewritten only when their text changes, so incremental builds stay
incremental; pages of commands that no longer exist are removed.
"""

import argparse
import os
from contextlib import contextmanager
from pathlib import Path

#: Width of the generated ``--help`` text (argparse reads $COLUMNS).
HELP_COLUMNS = 90


def _write(path, text, written):
    path.parent.mkdir(parents=True, exist_ok=True)
    written.add(path)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _cell(value):
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@contextmanager
def _columns(n):
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_commands():
    """``{name: sub-parser}`` of every ``hetflow`` sub-command, in CLI order."""
    from hetflow.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, dict(sub.choices)


def _cli_pages(out, written):
    parser, commands = cli_commands()
    with _columns(HELP_COLUMNS):
        top_help = parser.format_help()
        helps = {name: p.format_help() for name, p in commands.items()}
    rows = []
    for name, p in commands.items():
        summary = (p.description or "").strip().splitlines()[0] if p.description else ""
        rows.append((f"[`hetflow {name}`]({name}.md)", summary))
        _write(out / f"{name}.md",
               f"# hetflow {name}\n\n"
               f"<!-- Generated from hetflow.cli.build_parser() by docs/_ext/hetflow_docs.py. -->\n\n"
               f"{summary}\n\n"
               f"```text\n$ hetflow {name} --help\n{helps[name].rstrip()}\n```\n", written)
    toctree = "\n".join(f"{name}" for name in commands)
    _write(out / "index.md",
           "# Command line\n\n"
           "Every page here is generated from the `hetflow` command itself (its argparse "
           "parser) when the documentation is built.\n\n"
           f"```text\n$ hetflow --help\n{top_help.rstrip()}\n```\n\n"
           + _table(("command", "what it does"), rows)
           + f"\n```{{toctree}}\n:hidden:\n\n{toctree}\n```\n", written)


def _allowed(q):
    return "/".join(map(str, q["choices"])) if q["choices"] else f"{q['min']}..{q['max']}"


def _ports(ports):
    return ", ".join(f"{p['name']}:{p['dtype']}" + (f"×{p['lanes']}" if p["lanes"] > 1 else "")
                     for p in ports)


def _kernels_page(path, written):
    from importlib.metadata import entry_points
    from hetflow.hw.registry import get_kernel

    # Only hetflow's own kernels: a user's kernels installed in the same environment
    # are not part of hetflow's documentation.
    names = sorted(ep.name for ep in entry_points(group="hetflow.kernels")
                   if ep.value.startswith("hetflow."))
    rows = []
    for name in names:
        info = get_kernel(name).describe()
        params = ", ".join(f"{q['name']}={q['default']} ({_allowed(q)})"
                           for q in info["params"]) or "-"
        rows.append((f"`{name}`", info["summary"], params, _ports(info["inputs"]),
                     _ports(info["outputs"]), ", ".join(info["scalars"]) or "-"))
    _write(path,
           "# Built-in kernels\n\n"
           "<!-- Generated from the kernel registry by docs/_ext/hetflow_docs.py. -->\n\n"
           "Generated from the kernel registry (`hetflow kernels` prints the same). Ports are "
           "`name:dtype`, `×N` for N elements per beat at the default parameters.\n\n"
           + _table(("kernel", "computes", "parameters (default, allowed)", "inputs",
                     "outputs", "runtime scalars"), rows), written)


def _boards_page(path, written):
    head = ("# Supported boards\n\n"
            "<!-- Generated from hetflow.boards.registry by docs/_ext/hetflow_docs.py. -->\n\n")
    try:
        from hetflow.boards.registry import boards
        listed = list(boards())
    except (ImportError, AttributeError) as exc:
        _write(path, head + "```{note}\nThe board registry (`hetflow.boards.registry`) is not "
                            f"available in this build of hetflow ({type(exc).__name__}: {exc}), "
                            "so no board table could be generated.\n```\n", written)
        return
    rows = []
    for b in listed:
        d = b.describe()
        r = d["resources"]
        memory = d["memory"]
        rows.append((
            f"`{d['name']}`", d["title"], f"{d['device']} ({d['package']})",
            r["lut"], r["ff"], f"{r['bram']} × {r['bram_kbits']} kbit", r["dsp"],
            f"{d['clock']['mhz']:g} MHz", f"{memory['bytes'] // 1024} KiB {memory['kind']}",
            d["program"]["note"],
            "yes" if d["available"] else f"no: {d['reason']}"))
    links = []
    for b in listed:
        u = b.describe()["usb_uart"]
        links.append((f"`{b.name}`", u["chip"] if u["on_board"] else f"{u['chip']} (external)",
                      f"{u['max_baud']:,}", f"{u['default_baud']:,}", u["note"],
                      u["source"]))
    _write(path, head +
           "Generated from the board registry (`hetflow boards` prints the same). Resources "
           "are the totals of the FPGA; *SoC memory* is the memory the kernel's DMA reads and "
           "writes on that board. *Builds here* says whether this machine's toolchain was "
           "able to build for the board when these pages were generated.\n\n"
           + _table(("board", "name", "FPGA", "LUT", "FF", "block RAM", "DSP", "clock",
                     "SoC memory", "programming", "builds here"), rows)
           + "\n## Serial link\n\n"
           "The host reaches a board's bridge through a USB-UART chip (`hetflow.boards.usbuart`). "
           "*Default baud* is the fastest rate that chip makes (FTDI's fractional divisor, "
           "`base / (n + k/8)`) and the board's oscillator makes within 2 % (whole cycles per "
           "bit, at least 4): `hetflow build` uses it unless given `--baud`, refuses a rate "
           "the chip or the clock cannot make, and writes it to `report.json`, where "
           "`hetflow.open('serial:PORT', board=DIR)` reads it. Another SoC clock (`--freq`) "
           "has its own default.\n\n"
           + _table(("board", "USB-UART", "max baud", "default baud", "what it is", "source"),
                    links), written)


def generate(srcdir):
    """Write the generated pages under ``srcdir/reference``; return the paths written."""
    out = Path(srcdir) / "reference"
    written = set()
    _cli_pages(out / "cli", written)
    _kernels_page(out / "kernels.md", written)
    _boards_page(out / "boards.md", written)
    _write(out / "index.md",
           "# Reference\n\nGenerated from the code when the documentation is built.\n\n"
           "```{toctree}\n:maxdepth: 1\n\ncli/index\nkernels\nboards\n```\n", written)
    for path in out.rglob("*.md"):
        if path not in written:     # a command that no longer exists
            path.unlink()
    return sorted(written)


def _on_builder_inited(app):
    generate(app.srcdir)


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
