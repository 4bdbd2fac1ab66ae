"""What each part of a board build costs: cells per component, and the shell's logic cells.

A bitstream build synthesises the design flattened (Yosys ``synth_* -top top``),
so its netlist no longer says which cell belongs to the kernel and which to
the shell.  :func:`measure` answers that with a second, hierarchical look at
the same design, after the build:

1. **Yosys, hierarchy kept**: the build's own synthesis commands
   (:func:`~hetflow.boards.synthesis.synthesis_commands`) with ``-noflatten``
   added to the ``synth_*`` command, on the build's ``top.il``.  Amaranth
   writes one module per instance (``top.soc.dma``, ``top.bridge``, ...), so
   the cells of each module are the cells of one instance.  These give the
   per-component ``lut``, ``ff``, ``bram``, ``dsp`` (and ``carry`` on iCE40):
   *synthesised cells*, before packing.
2. **nextpnr, pack only**: the hierarchical netlist packed into the family's
   logic cells (``--pack-only``; no placement, so it takes seconds).  nextpnr
   names each packed cell after the cell it came from, behind its instance
   path (``soc.dma.ch0_left_...``), which gives each component's ``lc``:
   *logic cells after packing* (iCE40 ``ICESTORM_LC``: one LUT4 + one
   flip-flop + one carry; ECP5 ``TRELLIS_COMB``: one LUT4 or half a carry).
   Cells the packer makes itself (constant drivers, carry-chain feed-ins)
   belong to no instance and are counted as ``packer``.

Component of an instance path (under ``top``): ``soc.kernel`` is the kernel
instance; in an overlay's SoC, ``soc.fabric.NAME`` is instance ``NAME`` (a
component of that name); ``soc.dma``, ``soc.memory``, ``bridge`` and
``uart`` are what their names say; everything else (``soc`` itself: address
decode, read mux, SoC registers, an overlay's manifest ROM and the FIFOs of
its streams; ``cd_sync``/``clocking``: reset and PLL) is ``glue``.

Synthesised without flattening, no optimisation crosses a module boundary, so
the hierarchical counts add up to a little more than the real build (crc32 on
the iCEBreaker: 3,219 packed logic cells against 3,044 placed).  ``shell_lc``
is therefore taken from the real build: **the logic cells the placed design
uses (nextpnr's report) minus the kernel instances' packed logic cells** --
everything the kernels do not account for, the packer's own cells included.
"""

import json
import os
import shlex
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from ..cache import tool_environment
from .report import first_error
from .synthesis import synthesis_commands

__all__ = ["COMPONENTS", "KERNEL_COMPONENTS", "component_of", "yosys_counts", "packed_lcs",
           "pack_command", "measure", "shell_lc", "COMPONENT_FAMILIES"]

#: Instance path prefixes (below ``top``) and the component they belong to, first match wins.
COMPONENTS = (("soc.kernel", "kernel"), ("soc.dma", "dma"), ("soc.memory", "memory"),
              ("bridge", "bridge"), ("uart", "uart"))
#: Components that are kernel instances (the rest is the shell).
KERNEL_COMPONENTS = ("kernel",)
#: Families whose builds get a per-component split, and their packed logic cell type.
COMPONENT_FAMILIES = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}

#: Yosys cell types counted in each field, with weights (an ECP5 CCU2C is two LUT4s).
_YOSYS_FIELDS = {
    "ice40": {"lut": {"SB_LUT4": 1}, "carry": {"SB_CARRY": 1}, "bram": {"SB_RAM40_4K": 1},
              "dsp": {"SB_MAC16": 1}, "spram": {"SB_SPRAM256KA": 1}},
    "ecp5": {"lut": {"LUT4": 1, "CCU2C": 2}, "ff": {"TRELLIS_FF": 1}, "bram": {"DP16KD": 1},
             "dsp": {"MULT18X18D": 1}},
}
#: Timeout (seconds) of each of the two tool runs.
MEASURE_TIMEOUT = 900.0


def component_of(path, instances=()):
    """The component an instance path below ``top`` belongs to (``"soc.dma.ch0_fifo"``: dma).

    ``instances`` are an overlay's instance names (``soc.fabric.fir0...``: fir0).
    """
    for name in instances:
        prefix = f"soc.fabric.{name}"
        if path == prefix or path.startswith(prefix + "."):
            return name
    for prefix, name in COMPONENTS:
        if path == prefix or path.startswith(prefix + "."):
            return name
    return "glue"


def _ff(cell_type, family):
    if family == "ice40":
        return cell_type.startswith("SB_DFF")
    return False


def yosys_counts(netlist, family, top="top", instances=()):
    """``{component: {lut, ff, bram, dsp, ...}}`` from a hierarchical Yosys JSON netlist.

    ``netlist`` is the parsed ``write_json`` of a design synthesised with
    ``-noflatten``; each module ``top.<path>`` is one instance.  ``instances``
    as for :func:`component_of`.
    """
    fields = _YOSYS_FIELDS[family]
    out = defaultdict(Counter)
    for name, module in netlist["modules"].items():
        if name != top and not name.startswith(top + "."):
            continue                       # a cell library module, not an instance
        comp = "glue" if name == top else component_of(name[len(top) + 1:], instances)
        counts = out[comp]
        for cell in module.get("cells", {}).values():
            kind = cell["type"]
            if _ff(kind, family):
                counts["ff"] += 1
            for field, weights in fields.items():
                if kind in weights:
                    counts[field] += weights[kind]
    return {comp: {f: counts.get(f, 0) for f in _fields(family)} for comp, counts in out.items()}


def _fields(family):
    return list(dict.fromkeys(("lut", "ff", "bram", "dsp", *_YOSYS_FIELDS[family])))


def packed_lcs(packed, family, instances=()):
    """``{component: logic cells}`` from nextpnr's ``--write`` JSON of a packed design."""
    lc_type = COMPONENT_FAMILIES[family]
    out = Counter()
    for module in packed["modules"].values():
        for name, cell in module.get("cells", {}).items():
            if cell["type"] != lc_type:
                continue
            if name.startswith("$"):
                out["packer"] += 1
            else:
                out[component_of(name, instances)] += 1
    return dict(out)


def pack_command(script, netlist, written):
    """nextpnr's arguments to pack ``netlist`` and write it to ``written``.

    ``script`` is the text of the build plan's ``build_top.sh``: its nextpnr
    line gives the part, the package and the constraints; the options that
    place, route, time and write results are dropped.
    """
    for line in script.splitlines():
        words = shlex.split(line)
        if words and words[0].startswith("$NEXTPNR"):
            break
    else:
        raise ValueError("the build script runs no nextpnr")
    drop_with_value = {"--seed", "--report", "--log", "--asc", "--textcfg", "--json",
                       "--write", "--freq"}
    args, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in drop_with_value:
            skip = True
        elif word not in ("--timing-allow-fail", "-q", "--quiet"):
            args.append(word)
    return args + ["--pack-only", "--json", netlist, "--write", written, "-q"]


def _run(argv, cwd, timeout, log):
    env = {**os.environ, **tool_environment()}
    with open(Path(cwd) / log, "wb") as out:
        try:
            return subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return None


def measure(build_dir, board, tools, top="top", timeout=MEASURE_TIMEOUT, instances=()):
    """Per-component costs of the build in ``build_dir`` (it holds ``top.il``, ``build_top.sh``).

    Parameters
    ----------
    build_dir : path
    board : Board
    tools : list of BoardTool
        The build's resolved tools (the same Yosys and nextpnr run here).
    instances : tuple of str
        An overlay's instance names: each is a component of its own.

    Returns
    -------
    (dict or None, str or None)
        ``{component: {lut, ff, bram, dsp, ..., lc}}`` and ``None``, or
        ``None`` and one line saying why there is no split.
    """
    if board.family not in COMPONENT_FAMILIES:
        return None, f"no per-component split for the {board.family} family"
    d = Path(build_dir)
    path = {t.env: t.path for t in tools}
    pnr_env = next(t.env for t in tools if t.env.startswith("NEXTPNR"))
    commands = []
    for c in synthesis_commands(board, top):
        commands.append(c.replace(f" -top {top}", f" -noflatten -top {top}")
                        if c.startswith("synth") else c)
    script = [f"read_rtlil {top}.il", *commands, "write_json components.json"]
    (d / "components.ys").write_text("\n".join(script) + "\n")
    code = _run([path["YOSYS"], "-q", "-l", "components.rpt", "-s", "components.ys"], d,
                timeout, "components.out")
    if code != 0:
        why = "timeout" if code is None else (first_error(_read(d / "components.rpt"))
                                              or f"exit {code}")
        return None, f"hierarchical synthesis failed: {why}"
    netlist = json.loads((d / "components.json").read_text())
    counts = yosys_counts(netlist, board.family, top, instances)
    argv = [path[pnr_env], *pack_command(_read(d / f"build_{top}.sh"), "components.json",
                                         "components.packed.json")]
    code = _run(argv, d, timeout, "components.pack.log")
    if code != 0:
        why = "timeout" if code is None else (first_error(_read(d / "components.pack.log"))
                                              or f"exit {code}")
        return None, f"packing the hierarchical netlist failed: {why}"
    lcs = packed_lcs(json.loads((d / "components.packed.json").read_text()), board.family,
                     instances)
    empty = {f: 0 for f in _fields(board.family)}
    out = {}
    for comp in sorted(set(counts) | set(lcs)):
        out[comp] = {**counts.get(comp, empty), "lc": lcs.get(comp, 0)}
    return out, None


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def shell_lc(lc_used, components, kernels=KERNEL_COMPONENTS):
    """Logic cells of the placed design that are not the kernel instances' (see the module doc).

    ``kernels`` are the components that are kernel instances (an overlay's
    instance names).  ``None`` when either number is unknown.
    """
    if lc_used is None or not components:
        return None
    return lc_used - sum(components[c]["lc"] for c in kernels if c in components)
