"""Parsing Yosys/nextpnr output (captured from real builds in tests/boards/logs/)."""

import json
from pathlib import Path

import pytest

from hetflow.boards.errors import ReportError
from hetflow.boards.registry import get_board
from hetflow.boards.report import (describe_overuse, first_error, load_report,
                                   parse_nextpnr_log, parse_nextpnr_report, parse_yosys_stat,
                                   pick_fmax, resources)

LOGS = Path(__file__).parent / "logs"


def test_nextpnr_report_json_ice40():
    util, fmax = parse_nextpnr_report((LOGS / "icebreaker_saxpy.report.json").read_text())
    assert util["ICESTORM_LC"] == (1870, 5280)
    assert util["ICESTORM_DSP"] == (3, 8)
    assert util["ICESTORM_SPRAM"] == (4, 4)
    # The constant net nextpnr routes globally is not the SoC clock.
    achieved, constraint = pick_fmax(fmax)
    assert achieved == pytest.approx(25.2175, abs=1e-3)
    assert constraint == pytest.approx(12.0, abs=1e-3)


def test_nextpnr_log_ecp5_totals_and_last_fmax():
    util, fmax = parse_nextpnr_log((LOGS / "ulx3s_saxpy.tim").read_text())
    assert util["TRELLIS_COMB"] == (1467, 83640)
    assert util["TRELLIS_FF"] == (673, 83640)
    assert util["DP16KD"] == (32, 208)
    assert util["MULT18X18D"] == (3, 156)
    # The log has a pre-routing estimate (77.20) and the final figure (71.75): the last wins.
    assert fmax == {"$glbnet$bridge.clk": (71.75, 25.0)}


def test_yosys_stat_counts_cells_of_the_whole_design():
    cells = parse_yosys_stat((LOGS / "icebreaker_saxpy.rpt").read_text())
    assert cells["SB_MAC16"] == 3
    assert cells["SB_SPRAM256KA"] == 4
    assert cells["SB_LUT4"] == 1371
    assert "top" not in cells and "wires" not in cells
    assert parse_yosys_stat("no statistics here") == {}


def test_resources_of_an_ice40_build():
    util, _ = parse_nextpnr_report((LOGS / "icebreaker_saxpy.report.json").read_text())
    cells = parse_yosys_stat((LOGS / "icebreaker_saxpy.rpt").read_text())
    res = resources("ice40", util, cells, get_board("icebreaker"))
    assert res["lut_used"] == 1870 and res["lut_total"] == 5280
    assert res["dsp_used"] == 3 and res["dsp_total"] == 8
    assert res["bram_used"] == 0 and res["bram_total"] == 30
    assert res["ff_used"] == 265 + 505 + 137       # SB_DFF* cells from Yosys
    assert res["spram_used"] == 4


def test_does_not_fit_is_read_from_the_log():
    text = (LOGS / "nofit_ice40.tim").read_text()
    util, _ = parse_nextpnr_log(text)
    assert describe_overuse(util) == ["5697 logic cells, the part has 5280",
                                      "24 DSPs (SB_MAC16), the part has 8"]
    assert first_error(text).startswith("Unable to place cell")
    assert first_error("Info: fine\n") is None


def _report(tmp_path, **changes):
    data = {f: 1 for f in ("board", "device", "kernel", "params", "lut_used", "lut_total",
                           "ff_used", "ff_total", "bram_used", "bram_total", "dsp_used",
                           "dsp_total", "fmax_mhz", "target_mhz", "timing_met", "bitstream",
                           "sha256", "build_s", "tools")}
    data.update(changes)
    (tmp_path / "report.json").write_text(json.dumps(data))
    return data


def test_load_report_errors(tmp_path):
    with pytest.raises(ReportError) as e:
        load_report(tmp_path / "nope")
    assert str(e.value) == f"build directory {tmp_path / 'nope'} does not exist"
    with pytest.raises(ReportError) as e:
        load_report(tmp_path)
    assert str(e.value) == (f"{tmp_path / 'report.json'} does not exist; is {tmp_path} the "
                            f"--out of a successful 'hetflow build'?")
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(ReportError) as e:
        load_report(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'report.json'} is not valid JSON (")
    data = _report(tmp_path)
    del data["sha256"], data["fmax_mhz"]
    (tmp_path / "report.json").write_text(json.dumps(data))
    with pytest.raises(ReportError) as e:
        load_report(tmp_path)
    assert str(e.value) == (f"{tmp_path / 'report.json'} lacks fmax_mhz, sha256; not a "
                            f"hetflow build report")


def test_component_rows_put_the_kernel_first():
    from hetflow.cli.report import component_rows
    comp = {"lut": 1, "ff": 2, "bram": 0, "dsp": 0, "lc": 3}
    report = {"components": {"uart": comp, "packer": {**comp, "lut": 0}, "kernel": comp,
                             "bridge": {**comp, "carry": 4}, "dma": comp}}
    assert [r[0] for r in component_rows(report)] == ["kernel", "dma", "bridge", "uart", "packer"]
    assert component_rows(report)[2] == ("bridge", 3, 1, 2, 4, 0, "-", 0)
    assert component_rows(report)[0][4] == "-"          # no carry count (ECP5)
    assert component_rows({"components": None}) == component_rows({}) == []
