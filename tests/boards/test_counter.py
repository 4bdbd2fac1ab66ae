"""The loadable counter: plain arithmetic in simulation, one logic cell a bit on the iCE40.

The iCE40 version (``SB_LUT4`` + ``SB_CARRY`` instances, the load strobe on the
carry chain's second operand) is proven equal to the plain one with Yosys:
both read with the family's own cell models, a miter of the two, and a
temporal induction over every load/step/data sequence from reset.
"""

import re
import subprocess

import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator
from amaranth_boards.icebreaker import ICEBreakerPlatform

from hetflow.boards.counter import Counter
from hetflow.boards.netlist import cell_models
from hetflow.boards.registry import get_board
from hetflow.boards.toolchain import resolve_board_tools
from hetflow.hw.errors import ParamError

PROOF = """\
read_verilog cells.v
read_rtlil ice40.il
hierarchy -top ice40
proc
flatten
rename ice40 ice40_flat
read_rtlil generic.il
proc
miter -equiv -flatten -make_outputs generic ice40_flat miter
hierarchy -top miter
sat -verify -tempinduct -prove trigger 0 -set-init-zero -seq 1 miter
"""


def _cells(names=("SB_LUT4", "SB_CARRY")):
    """The models of ``names`` from Yosys's iCE40 ``cells_sim.v`` (the whole file takes minutes)."""
    text = cell_models("ice40")[0][0].read_text()
    prelude = text[:re.search(r"^module ", text, re.M).start()]
    return prelude + "".join(re.search(rf"^module {name}\b.*?^endmodule\n", text, re.M | re.S)
                             .group(0) for name in names)


@pytest.mark.parametrize("width", [1, 2, 6])
@pytest.mark.parametrize("down", [False, True])
def test_ice40_counter_equals_plain_arithmetic(tmp_path, width, down):
    yosys = next(t for t in resolve_board_tools(get_board("icebreaker")) if t.env == "YOSYS")
    (tmp_path / "cells.v").write_text(_cells())
    (tmp_path / "generic.il").write_text(rtlil.convert(Counter(width, down=down), name="generic"))
    (tmp_path / "ice40.il").write_text(rtlil.convert(Counter(width, down=down), name="ice40",
                                                     platform=ICEBreakerPlatform()))
    (tmp_path / "proof.ys").write_text(PROOF)
    proc = subprocess.run([yosys.path, "-q", "-s", "proof.ys"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_counter_loads_and_steps_both_ways():
    for down in (False, True):
        dut = Counter(4, down=down)
        seen = []

        async def bench(ctx):
            for load, data, step in [(1, 14, 0), (0, 0, 1), (0, 0, 1), (0, 9, 0), (1, 3, 1),
                                     (0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 1)]:
                ctx.set(dut.load, load)
                ctx.set(dut.data, data)
                ctx.set(dut.step, step)
                await ctx.tick()
                seen.append(ctx.get(dut.count))

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        if down:
            assert seen == [14, 13, 12, 12, 3, 2, 1, 0, 15]
        else:
            assert seen == [14, 15, 0, 0, 3, 4, 5, 6, 7]


def test_counter_rejects_bad_width():
    with pytest.raises(ParamError) as e:
        Counter(0)
    assert str(e.value) == "counter width must be a positive integer, not 0"
