"""Reading what Yosys and nextpnr say about a build, and the build's report.json.

Sources, best first:

* nextpnr's ``--report`` JSON (``top.report.json``): ``utilization``
  (``{cell type: {used, available}}``) and ``fmax`` (``{clock: {achieved,
  constraint}}``);
* nextpnr's log (``top.tim``): the "Device utilisation" table and the
  "Max frequency for clock" lines, used when the JSON is missing (a failed
  placement writes no JSON, but its log says what did not fit);
* Yosys's log (``top.rpt``): the last ``stat`` (cell counts), for the
  flip-flop count on iCE40 (nextpnr packs flip-flops into logic cells there).
"""

import json
import re
from pathlib import Path

from .errors import ReportError

__all__ = ["parse_nextpnr_report", "parse_nextpnr_log", "parse_yosys_stat", "resources",
           "pick_fmax", "overused", "describe_overuse", "first_error", "load_report",
           "REPORT_FIELDS",
           "CELL_RESOURCES"]

#: nextpnr cell types behind each report resource, per family.
CELL_RESOURCES = {
    "ice40": {"lut": ("ICESTORM_LC",), "bram": ("ICESTORM_RAM",), "dsp": ("ICESTORM_DSP",),
              "spram": ("ICESTORM_SPRAM",)},
    "ecp5": {"lut": ("TRELLIS_COMB",), "ff": ("TRELLIS_FF",), "bram": ("DP16KD",),
             "dsp": ("MULT18X18D",)},
    # Gowin: ALU cells (carry logic) occupy LUTs too; multipliers are counted in
    # 18x18 equivalents (see GOWIN_DSP_WEIGHT).
    "gowin": {"lut": ("LUT4", "ALU"), "ff": ("DFF",), "bram": ("BSRAM",), "dsp": ()},
}
#: 18x18-multiplier equivalents of each Gowin DSP cell type.
GOWIN_DSP_WEIGHT = {"MULT9X9": 0.5, "MULT18X18": 1, "MULTALU18X18": 1, "MULTADDALU18X18": 2,
                    "MULTALU36X18": 2, "MULT36X36": 4}
#: What a cell type is called in a "does not fit" message.
CELL_NAMES = {"ICESTORM_LC": "logic cells", "ICESTORM_RAM": "block RAMs (EBR)",
              "ICESTORM_DSP": "DSPs (SB_MAC16)", "ICESTORM_SPRAM": "SPRAM blocks",
              "TRELLIS_COMB": "LUT4s", "TRELLIS_FF": "flip-flops", "DP16KD": "block RAMs (DP16KD)",
              "MULT18X18D": "multipliers (MULT18X18D)", "TRELLIS_SLICE": "slices",
              "SB_IO": "I/O pins", "TRELLIS_IO": "I/O pins", "LUT4": "LUT4s", "ALU": "ALU cells",
              "DFF": "flip-flops", "BSRAM": "block RAMs (BSRAM)", "MULT18X18": "multipliers "
              "(MULT18X18)", "MULT9X9": "multipliers (MULT9X9)"}

#: Fields every report.json has.
REPORT_FIELDS = ("board", "device", "kernel", "params", "lut_used", "lut_total", "ff_used",
                 "ff_total", "bram_used", "bram_total", "dsp_used", "dsp_total", "fmax_mhz",
                 "target_mhz", "timing_met", "bitstream", "sha256", "build_s", "tools")

_UTIL_LINE = re.compile(r"^Info:\s+([A-Za-z0-9_$]+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)
_FMAX_LINE = re.compile(
    r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((PASS|FAIL) at ([\d.]+) MHz\)")
# nextpnr-ecp5 states LUT and flip-flop use before packing, not in the device table.
_ECP5_TOTALS = {"TRELLIS_COMB": re.compile(r"^Info:\s+Total LUT4s:\s+(\d+)/\s*(\d+)", re.M),
                "TRELLIS_FF": re.compile(r"^Info:\s+Total DFFs:\s+(\d+)/\s*(\d+)", re.M)}
_STAT_CELL = re.compile(r"^\s+(\d+)\s+([A-Za-z_$][\w$]*)\s*$", re.M)


def parse_nextpnr_report(text):
    """``(utilization, fmax)`` from the text of nextpnr's ``--report`` JSON.

    ``utilization`` is ``{cell type: (used, available)}``, ``fmax`` is
    ``{clock: (achieved MHz, constraint MHz)}``.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"nextpnr report is not JSON: {exc}") from None
    util = {k: (int(v["used"]), int(v["available"]))
            for k, v in data.get("utilization", {}).items()}
    fmax = {k: (float(v["achieved"]), float(v["constraint"]))
            for k, v in data.get("fmax", {}).items()}
    return util, fmax


def parse_nextpnr_log(text):
    """``(utilization, fmax)`` from a nextpnr log; the last table / lines win."""
    util = {}
    for name, pattern in _ECP5_TOTALS.items():
        for used, avail in pattern.findall(text):
            util[name] = (int(used), int(avail))
    for name, used, avail in _UTIL_LINE.findall(text):
        util[name] = (int(used), int(avail))
    fmax = {}
    for clock, achieved, _, constraint in _FMAX_LINE.findall(text):
        fmax[clock] = (float(achieved), float(constraint))
    return util, fmax


def parse_yosys_stat(text):
    """Cell counts ``{cell type: count}`` of the last ``stat`` in a Yosys log.

    The design-hierarchy total is used when present (it includes submodules).
    """
    blocks = text.split("Printing statistics.")
    if len(blocks) < 2:
        return {}
    last = blocks[-1]
    if "=== design hierarchy ===" in last:
        last = last.split("=== design hierarchy ===", 1)[1]
    # Stop at the next pass; counts are indented "N   CELLTYPE" lines.
    last = re.split(r"\n\d+\.\d*\.? Executing|\nEnd of script", last)[0]
    cells = {}
    for count, name in _STAT_CELL.findall(last):
        # Cell types are upper-case primitives or $internal cells; lower-case
        # words are statistics (wires, cells) or module names (top).
        if not (name[0].isupper() or name.startswith("$")):
            continue
        cells[name] = int(count)
    return cells


def _ff_from_yosys(cells, family):
    if family == "ice40":
        return sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
    if family == "ecp5":
        return sum(n for c, n in cells.items() if c in ("TRELLIS_FF",)) or None
    return sum(n for c, n in cells.items() if c.startswith("DFF")) or None


def resources(family, util, yosys_cells, board):
    """Report fields ``<res>_used`` / ``<res>_total`` for lut, ff, bram, dsp, spram."""
    out = {}
    totals = {"lut": board.lut, "ff": board.ff, "bram": board.bram, "dsp": board.dsp,
              "spram": board.spram}
    for res, total in totals.items():
        cells = CELL_RESOURCES.get(family, {}).get(res, ())
        used = [util[c][0] for c in cells if c in util]
        avail = [util[c][1] for c in cells if c in util]
        out[f"{res}_used"] = sum(used) if used else None
        out[f"{res}_total"] = sum(avail) if avail else total
    if family == "gowin":
        out["lut_total"] = util["LUT4"][1] if "LUT4" in util else board.lut
        used = sum(w * util[c][0] for c, w in GOWIN_DSP_WEIGHT.items() if c in util)
        out["dsp_used"] = int(-(-used // 1)) if any(c in util for c in GOWIN_DSP_WEIGHT) else None
    if family == "ecp5" and out["lut_used"] is None and "TRELLIS_SLICE" in util:
        used, avail = util["TRELLIS_SLICE"]
        out["lut_used"], out["lut_total"] = 2 * used, 2 * avail   # two LUT4s per slice
    if out["ff_used"] is None:
        out["ff_used"] = _ff_from_yosys(yosys_cells, family)
    return out


def pick_fmax(fmax):
    """``(achieved, constraint)`` of the SoC clock: the ``sync`` clock, else the slowest."""
    # nextpnr also times constant nets it routes on a global buffer ($PACKER_GND_NET...).
    real = {c: v for c, v in fmax.items() if "$PACKER_" not in c and "GND" not in c
            and "VCC" not in c}
    if not real:
        return None, None
    for clock, value in real.items():
        if "pll_out" in clock or "cd_sync" in clock or clock.endswith("sync.clk"):
            return value
    return min(real.values())


def overused(util):
    """``[(cell type, used, available)]`` of resources used beyond the part's total."""
    return [(c, u, a) for c, (u, a) in util.items() if a and u > a]


def describe_overuse(util):
    """One phrase per overused resource: ``"16 DSPs (SB_MAC16), the part has 8"``."""
    return [f"{u} {CELL_NAMES.get(c, c)}, the part has {a}" for c, u, a in overused(util)]


def first_error(text):
    """The first ``ERROR:`` line of a tool log (without the prefix), or ``None``."""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("ERROR:"):
            return s[len("ERROR:"):].strip()
    return None


def load_report(directory):
    """Read and check ``DIR/report.json``; return the dict.

    Raises :class:`ReportError` when the file is missing, not JSON, or lacks
    a field every report has.
    """
    path = Path(directory) / "report.json"
    if not Path(directory).is_dir():
        raise ReportError(f"build directory {directory} does not exist")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ReportError(f"{path} does not exist; is {directory} the --out of a "
                          f"successful 'hetflow build'?") from None
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    missing = [f for f in REPORT_FIELDS if not isinstance(data, dict) or f not in data]
    if missing:
        raise ReportError(f"{path} lacks {', '.join(missing)}; not a hetflow build report")
    return data
