"""The netlist simulation runs exactly the Yosys synthesis a bitstream build runs."""

import pytest

from hetflow.boards.build import NAME, _plan
from hetflow.boards.registry import board_names, get_board
from hetflow.boards.synthesis import synthesis_commands
from hetflow.hw.registry import get_kernel
from hetflow.hw.shell import Shell


@pytest.mark.parametrize("board", board_names())
def test_synthesis_commands_are_the_build_plans(board):
    board = get_board(board)
    plan, _ = _plan(Shell(get_kernel("saxpy")), board, None, 1)
    script = [" ".join(line.split()) for line in plan.files[f"{NAME}.ys"].splitlines()]
    commands = synthesis_commands(board, NAME)
    start = script.index(f"read_rtlil {NAME}.il") + 1
    assert [c for c in script[start:] if c and not c.startswith("#")][:len(commands)] == commands
    assert any(c.startswith(f"synth_{board.family} ") for c in commands)
    if board.family == "ice40":
        assert f"synth_ice40 -dsp -top {NAME}" in commands


def test_synthesis_commands_name_the_top():
    assert synthesis_commands(get_board("ulx3s-85f"), "hetflow_gemm") == [
        "rename -hide w:*[[]*", "synth_ecp5 -top hetflow_gemm"]
