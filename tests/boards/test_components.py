"""The per-component split of a build (the real one runs in test_build.py's saxpy build)."""

import pytest

from hetflow.boards.build import NAME, _plan
from hetflow.boards.components import (component_of, pack_command, packed_lcs, shell_lc,
                                       yosys_counts)
from hetflow.boards.registry import get_board
from hetflow.hw.registry import get_kernel
from hetflow.hw.shell import Shell


def test_instance_paths_name_their_component():
    assert component_of("soc.kernel") == "kernel"
    assert component_of("soc.kernel.core") == "kernel"
    assert component_of("soc.dma.ch0_fifo") == "dma"
    assert component_of("soc.memory") == "memory"
    assert component_of("bridge") == "bridge"
    assert component_of("uart.uart.receiver") == "uart"
    # The SoC's own decode and read mux, the reset/PLL, and names merely starting alike.
    assert component_of("soc") == "glue"
    assert component_of("cd_sync") == "glue"
    assert component_of("soc.kernel_csr__w_stb_SB_LUT4_O") == "glue"


@pytest.mark.parametrize("board, part", [("icebreaker", ["--up5k", "--package", "sg48",
                                                         "--pcf", "top.pcf"]),
                                         ("ulx3s-85f", ["--85k", "--package", "CABGA381", "--speed", "6",
                                                        "--lpf", "top.lpf"])])
def test_pack_command_keeps_the_part_and_constraints_of_the_build(board, part):
    plan, _ = _plan(Shell(get_kernel("crc32")), get_board(board), None, 1)
    argv = pack_command(plan.files[f"build_{NAME}.sh"], "h.json", "p.json")
    assert argv == part + ["--pack-only", "--json", "h.json", "--write", "p.json", "-q"]
    with pytest.raises(ValueError, match="the build script runs no nextpnr"):
        pack_command("yosys -s top.ys\n", "h.json", "p.json")


def test_counts_follow_the_instances():
    # The shapes of Yosys's write_json (hierarchy kept) and nextpnr's --write.
    netlist = {"modules": {
        "top": {"cells": {"a": {"type": "SB_LUT4"}, "soc": {"type": "top.soc"}}},
        "top.soc.dma": {"cells": {"b": {"type": "SB_LUT4"}, "c": {"type": "SB_DFFESR"},
                                  "d": {"type": "SB_CARRY"}}},
        "top.soc.kernel.core": {"cells": {"e": {"type": "SB_MAC16"}, "f": {"type": "SB_LUT4"}}},
        "SB_LUT4": {"cells": {}},
    }}
    counts = yosys_counts(netlist, "ice40")
    assert counts["dma"] == {"lut": 1, "ff": 1, "bram": 0, "dsp": 0, "carry": 1, "spram": 0}
    assert counts["kernel"]["dsp"] == 1 and counts["glue"]["lut"] == 1
    packed = {"modules": {"top": {"cells": {
        "soc.dma.x_LC": {"type": "ICESTORM_LC"}, "soc.kernel.core.y_LC": {"type": "ICESTORM_LC"},
        "soc.z_LC": {"type": "ICESTORM_LC"}, "$nextpnr_ICESTORM_LC_1": {"type": "ICESTORM_LC"},
        "soc.kernel.core.m": {"type": "ICESTORM_DSP"}}}}}
    lcs = packed_lcs(packed, "ice40")
    assert lcs == {"dma": 1, "kernel": 1, "glue": 1, "packer": 1}
    comps = {name: {"lc": n} for name, n in lcs.items()}
    assert shell_lc(100, comps) == 99
    assert shell_lc(None, comps) is None and shell_lc(100, None) is None
