"""Every code block of docs/tutorial.md, run as a reader would run it.

Blocks, by their fence's info string:

``console``
    ``$ command`` lines are run in order (``cd DIR`` changes directory); the lines
    after a command are its expected output: each must match a line of its stdout,
    in order, with ``...`` standing for anything (a line of only ``...`` is skipped).
``console build``
    The same, when the open FPGA toolchain is installed (YoWASP Yosys and
    nextpnr-ice40, openFPGALoader); skipped and counted otherwise.
``console board``
    Needs a real board: never run, counted.
``python``
    Saved to a file and run with the environment's Python, in the current directory.
``LANG file=PATH``
    An excerpt of a file ``hetflow new`` wrote: its pieces between ``...`` lines
    must appear in that file, in order, verbatim.

Any other block fails the test: nothing in the tutorial goes unchecked.  The
commands run in a throwaway virtual environment that sees this environment's
packages (hetflow among them), so ``pip install -e .`` really installs the
reader's project without touching this environment.
"""

import os
import subprocess
import sys

import pytest

from ..conftest import ROOT
from .pages import Reader, blocks, check_excerpt, have_build_tools, venv_sees_this_environment

TUTORIAL = ROOT / "docs" / "tutorial.md"


# A venv, pip install, two simulator runs and a bitstream build: ~1-2 min, run in CI because
# it is the proof that a fresh user project works end to end.
def test_every_tutorial_block_runs(tmp_path, record_property):
    found = blocks(TUTORIAL.read_text())
    assert len(found) >= 10
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = venv_sees_this_environment(venv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    work = tmp_path / "work"
    work.mkdir()
    reader = Reader(python, work, env)
    ran, skipped = 0, []
    for line, info, body in found:
        where = f"tutorial.md:{line}"
        lang, marks = (info[0] if info else ""), info[1:]
        files = [m.partition("=")[2] for m in marks if m.startswith("file=")]
        if files:
            check_excerpt(body, reader.cwd / files[0], where)
        elif lang == "console" and marks == ["board"]:
            skipped.append(f"{where} (needs a board)")
            continue
        elif lang == "console" and marks == ["build"] and not have_build_tools():
            skipped.append(f"{where} (needs YoWASP Yosys/nextpnr-ice40 and openFPGALoader)")
            continue
        elif lang == "console" and marks in ([], ["build"]):
            reader.console(body, where)
        elif lang == "python" and not marks:
            script = tmp_path / f"block_{line}.py"
            script.write_text(body)
            reader.run(f"python {script}", where)
        else:
            pytest.fail(f"{where}: block ```{' '.join(info)} is neither run nor checked; "
                        f"use console, console build, console board, python or LANG file=PATH")
        ran += 1
    print(f"tutorial: {ran} blocks run or checked, {len(skipped)} skipped: {skipped}")
    print("\n".join(f"  {seconds:6.1f} s  {command}" for command, seconds in reader.times))
    record_property("tutorial_blocks_skipped", "; ".join(skipped))
    board = [s for s in skipped if "board" in s]
    assert len(board) == 1, skipped          # exactly the "run it on a board" block
    assert ran == len(found) - len(skipped)
    # This test is also hetflow's end-to-end test of a generated project really installed
    # with pip into a fresh venv: keep those steps in the tutorial.
    commands = [command for command, _ in reader.times]
    for step in ("hetflow new demo_kernel", "pip install -e .", "pytest -q", "hetflow kernels",
                 "hetflow verify demo_kernel --param lanes=2 --seed 3"):
        assert step in commands, f"the tutorial no longer runs `{step}`"
