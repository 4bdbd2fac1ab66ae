"""Post-synthesis netlists through the RTL's bench and golden model (real Yosys, real Verilator).

The two CI checks (gemm on the iCEBreaker: SB_MAC16, here; saxpy on the ULX3S: hetflow's
MULT18X18D model, in test_netlist_ecp5.py so that the two run on both CI workers) each
synthesise and compile a netlist: 87-130 s apiece from a cold netlist cache on 2 busy
cores (about 57 s of CPU, the compile over 80 % of it), 13 s when cached.  The
broken-on-purpose kernel and every other kernel and board are marked slow (86-261 s
each, cold), to keep CI within its time.
"""

import os
import subprocess
import sys

import pytest

from hetflow.boards.netlist import (Netlist, NetlistError, cell_models, check_models,
                                    netlist_board, netlist_boards)
from hetflow.boards.netlistsim import verify_netlist
from hetflow.hw.errors import HetflowError
from hetflow.hw.registry import kernel_names

from ..conftest import FIXTURES, ROOT, needs_verilator, one_line_error

BOARDS = "icebreaker, ulx3s-85f, orangecrab"


def hetflow(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True,
                          cwd=ROOT, text=True, timeout=1200, env={**os.environ, **(env or {})})


def _check_pass(result, board, cells):
    assert result.passed, (result.summary(), result.netlist and result.netlist.errors)
    assert result.rtl.target == "RTL" and result.netlist.target == f"{board} netlist"
    # Synthesis changes neither what is computed nor when.
    assert result.netlist.cycles_per_unit == result.rtl.cycles_per_unit is not None
    assert result.netlist.cases == result.rtl.cases == 20
    for cell, count in cells.items():
        assert result.synthesis.cells.get(cell) == count, result.synthesis.cells
    assert result.summary().startswith(f"PASS {result.kernel} ")


@needs_verilator
def test_gemm_netlist_on_icebreaker(tmp_path):
    result = verify_netlist("gemm", "icebreaker", workdir=tmp_path)
    _check_pass(result, "icebreaker", {"SB_MAC16": 8})
    assert "synth_ice40 -dsp -top hetflow_gemm" in result.synthesis.commands
    assert result.netlist.unit == "MAC"


@pytest.mark.slow
@needs_verilator
def test_a_kernel_right_in_rtl_and_wrong_in_its_netlist_is_caught(fixtures_on_path):
    """UninitBiasSaxpy relies on a register with an undefined initial value."""
    from faulty_kernels import BIAS

    proc = hetflow("verify", "faulty_kernels:UninitBiasSaxpy", "--netlist", "icebreaker",
                   "--count", "4", "--seed", "3", "-q", env={"PYTHONPATH": str(FIXTURES)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("PASS uninit_bias_saxpy lanes=1: 4/4 cases passed")
    assert any(l.startswith("FAIL uninit_bias_saxpy lanes=1 (icebreaker netlist): ")
               for l in lines)
    mismatch = next(l.strip() for l in lines if l.strip().startswith("mismatch: "))
    # case 0, output z, element 0: the netlist added the ROM's word the RTL never read.
    head, got = mismatch.split(" got ")
    expected = int(head.split(" expected ")[1])
    assert head.startswith("mismatch: case 0: z[0] expected ")
    assert (int(got) - expected) % 2**32 == BIAS
    assert lines[-1].startswith("FAIL uninit_bias_saxpy lanes=1, icebreaker netlist (ice40): ")
    assert f"; first: case 0: z[0] expected {expected} got {got}" in lines[-1]
    assert "(RTL passed)" in lines[-1]
    waves = [l.split("waveform: ")[1] for l in lines if "waveform: " in l]
    assert waves and os.path.exists(waves[0])


@pytest.mark.slow
@needs_verilator
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
@pytest.mark.parametrize("kernel", kernel_names())
def test_every_kernel_netlist(tmp_path, kernel, board):
    if (kernel, board) in (("gemm", "icebreaker"), ("saxpy", "ulx3s-85f")):
        pytest.skip("a CI test above")
    result = verify_netlist(kernel, board, workdir=tmp_path)
    _check_pass(result, board, {})


# ---- bad input: one line, nothing started, nothing written ---------------------------------

@pytest.mark.parametrize("args, message", [
    (["gemm", "--netlist", "nope"],
     f"unknown board 'nope' for a netlist simulation; choose one of: {BOARDS}"),
    (["gemm", "--netlist", "tangnano9k"],
     f"board 'tangnano9k' (gowin) has no netlist simulation: hetflow has cell models for ice40 "
     f"and ecp5 only; choose one of: {BOARDS}"),
    (["gemm", "--netlist", "icebreaker", "--sim", "icarus"],
     "--netlist simulates with verilator only; drop --sim icarus"),
    (["nope", "--netlist", "icebreaker"], "unknown kernel 'nope'; known kernels: "),
    (["gemm", "--netlist", "icebreaker", "--param", "rows=0"],
     "gemm: parameter 'rows' = 0 is out of range; allowed 1..16"),
    (["gemm", "--netlist", "icebreaker", "--count", "0"],
     "--count 0 is out of range; allowed 1 or more"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    cache = tmp_path / "cache"
    proc = hetflow("verify", *args, env={"HETFLOW_CACHE": str(cache)})
    one_line_error(proc, f"hetflow verify: error: {message}")
    assert not cache.exists()


def test_netlist_boards_come_from_the_registry():
    assert ", ".join(netlist_boards()) == BOARDS
    assert netlist_board("ulx3s-85f").family == "ecp5"
    with pytest.raises(HetflowError, match=r"^unknown board 'ice' for a netlist simulation; "
                                           rf"choose one of: {BOARDS}$"):
        verify_netlist("gemm", "ice")


def test_api_refuses_other_simulators(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFLOW_CACHE", str(tmp_path / "cache"))
    with pytest.raises(HetflowError, match=r"^netlists are simulated with verilator only, "
                                           r"not 'icarus'; drop --sim icarus$"):
        verify_netlist("gemm", "icebreaker", sim="icarus")
    assert not (tmp_path / "cache").exists()


# ---- cells a netlist may not use ---------------------------------------------------------

def _netlist(tmp_path, cells, text=""):
    path = tmp_path / "netlist.v"
    path.write_text(text)
    return Netlist("k", "ulx3s-85f", "ecp5", "hetflow_k", path, [], cells=cells)


def test_a_black_box_cell_is_refused(tmp_path):
    # Yosys's ECP5 cells_sim.v declares the DP16KD block RAM as a black box: simulated, its
    # outputs would be undriven, not the RAM's data.
    netlist = _netlist(tmp_path, {"LUT4": 10, "DP16KD": 1, "$scopeinfo": 1})
    with pytest.raises(NetlistError, match=r"^the ulx3s-85f netlist of k uses DP16KD, which no "
                                           r"simulation model describes \(DP16KD only as a black "
                                           r"box\); it cannot be simulated faithfully: try "
                                           r"a board of another family$"):
        check_models(netlist, *cell_models("ecp5"))
    with pytest.raises(NetlistError, match=r"uses SB_LUT4, which no simulation model describes; "):
        check_models(_netlist(tmp_path, {"SB_LUT4": 1}), *cell_models("ecp5"))
    check_models(_netlist(tmp_path, {"LUT4": 1, "TRELLIS_FF": 2, "CCU2C": 1, "PFUMX": 1,
                                     "TRELLIS_DPR16X4": 1}), *cell_models("ecp5"))
    check_models(_netlist(tmp_path, {"SB_LUT4": 1, "SB_MAC16": 1, "SB_RAM40_4K": 1,
                                     "SB_DFFESR": 1, "SB_CARRY": 1}), *cell_models("ice40"))


MULT = """  MULT18X18D {params}\\m0  (
    .A0(a[0]),
    .B0(b[0]),
    .P0(p[0]),
    .SIGNEDA(1'h1),
    .SIGNEDB(1'h0),
    .SOURCEA({source}){extra}
  );
"""


@pytest.mark.parametrize("params, source, extra, message", [
    ('#(\n    .REG_OUTPUT_CLK("CLK0")\n  ) ', "1'h0", "",
     'uses MULT18X18D m0 with REG_OUTPUT_CLK="CLK0", which hetflow\'s model does not cover'),
    ('#(\n    .MULT_BYPASS("ENABLED")\n  ) ', "1'h0", "",
     'uses MULT18X18D m0 with MULT_BYPASS="ENABLED", which'),
    ("", "s", "", "drives SOURCEA of MULT18X18D m0 with s; hetflow's model covers operands "
                  "from A and B only"),
    ("", "1'h0", ",\n    .ROA0(r)", "uses output ROA0 of MULT18X18D m0, which hetflow's model "
                                    "does not drive"),
])
def test_mult18x18d_outside_the_model_is_refused(tmp_path, params, source, extra, message):
    netlist = _netlist(tmp_path, {"MULT18X18D": 1},
                       MULT.format(params=params, source=source, extra=extra))
    with pytest.raises(NetlistError, match="^the ulx3s-85f netlist of k " + message.replace(
            "(", r"\(").replace(")", r"\)")):
        check_models(netlist, *cell_models("ecp5"))


def test_mult18x18d_as_yosys_maps_it_is_accepted(tmp_path):
    netlist = _netlist(tmp_path, {"MULT18X18D": 1},
                       MULT.format(params="", source="1'h0", extra=",\n    .SOURCEB(1'h0)"))
    check_models(netlist, *cell_models("ecp5"))
