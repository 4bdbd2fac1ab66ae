"""The ECP5 netlist check in CI: saxpy on the ULX3S, its multipliers MULT18X18D cells
simulated with hetflow's own model (see test_netlist.py for the rest)."""

from hetflow.boards.netlistsim import verify_netlist

from ..conftest import needs_verilator
from .test_netlist import _check_pass


@needs_verilator
def test_saxpy_netlist_on_ulx3s_with_the_mult18x18d_model(tmp_path):
    result = verify_netlist("saxpy", "ulx3s-85f", workdir=tmp_path)
    _check_pass(result, "ulx3s-85f", {"MULT18X18D": 3})
    assert "synth_ecp5 -top hetflow_saxpy" in result.synthesis.commands
