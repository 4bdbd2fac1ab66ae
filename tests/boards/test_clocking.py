"""PLL dividers, checked against the IceStorm/Trellis tools shipped by YoWASP."""

import re
import subprocess

import pytest

from hetflow.boards.clocking import ecp5_pll, ice40_pll
from hetflow.hw.errors import ParamError
from hetflow.tools import find


@pytest.mark.parametrize("fout", [16, 24, 30, 48, 50.25, 100])
def test_ice40_pll_matches_icepll(fout):
    tool = find("yowasp-icepll")
    if tool is None:
        pytest.skip("yowasp-icepll not installed (pip install 'hetflow[boards]')")
    out = subprocess.run([tool.path, "-i", "12", "-o", str(fout)], capture_output=True, text=True,
                         timeout=120).stdout
    want = {k: int(v) for k, v in re.findall(r"^(DIVR|DIVF|DIVQ|FILTER_RANGE):\s*(\d+)", out,
                                             re.M)}
    assert len(want) == 4, out
    got = ice40_pll(12.0, fout)
    assert got.params == want
    achieved = float(re.search(r"F_PLLOUT:\s+([\d.]+) MHz \(achieved\)", out).group(1))
    assert got.fout_mhz == pytest.approx(achieved, abs=1e-3)


@pytest.mark.parametrize("fin, fout", [(25, 20), (25, 60), (25, 100), (48, 48.5), (25, 33.333)])
def test_ecp5_pll_matches_ecppll(tmp_path, fin, fout):
    tool = find("yowasp-ecppll")
    if tool is None:
        pytest.skip("yowasp-ecppll not installed (pip install 'hetflow[boards]')")
    subprocess.run([tool.path, "-i", str(fin), "-o", str(fout), "-f", "pll.v"], cwd=tmp_path,
                   capture_output=True, timeout=120, check=True)
    text = (tmp_path / "pll.v").read_text()
    want = {k: int(v) for k, v in re.findall(r"\.(CLKI_DIV|CLKFB_DIV|CLKOP_DIV)\((\d+)\)", text)}
    assert len(want) == 3, text
    got = ecp5_pll(float(fin), float(fout))
    assert {k: got.params[k] for k in want} == want
    assert got.params["CLKOP_CPHASE"] == got.params["CLKOP_DIV"] - 1


def test_pll_range_errors():
    with pytest.raises(ParamError) as e:
        ice40_pll(12.0, 300)
    assert str(e.value) == "iCE40 PLL output 300 MHz is out of range; allowed 16..275 MHz"
    with pytest.raises(ParamError) as e:
        ecp5_pll(25.0, 1.0)
    assert str(e.value) == "ECP5 PLL output 1 MHz is out of range; allowed 3.125..400 MHz"
