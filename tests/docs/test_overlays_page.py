"""The code blocks of docs/overlays.md: the file is written, each Python block runs, each
console command parses (the overlay verification it shows runs in tests/sim)."""

import shlex
import subprocess
import sys

from hetflow.cli import build_parser
from hetflow.hw.overlay import Overlay, OverlayError, load_overlay

from ..conftest import ROOT
from .pages import blocks

PAGE = ROOT / "docs" / "overlays.md"


def test_overlays_page(tmp_path):
    found = blocks(PAGE.read_text())
    for line, info, body in found:
        if info[:1] == ["toml"]:
            name = info[1].split("=", 1)[1]
            (tmp_path / name).write_text(body)
        elif info == ["python"]:
            done = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, timeout=120,
                                  capture_output=True, text=True)
            assert done.returncode == 0, f"overlays.md:{line}:\n{done.stderr}"
        elif info == ["console"]:
            for command in body.splitlines():
                words = shlex.split(command.removeprefix("$ "))
                assert words[0] == "hetflow", f"overlays.md:{line}: {command}"
                args = build_parser().parse_args(words[1:])
                assert args.overlay == "pipeline.toml"
        else:
            assert info == ["text"], f"overlays.md:{line}: unexpected block {info}"
    # The Python description equals the file's; the quoted error is the one the file gives.
    namespace = {}
    python = next(body for _, info, body in found if info == ["python"])
    exec(compile(python, "overlays.md", "exec"), namespace)
    assert isinstance(namespace["overlay"], Overlay)
    assert namespace["overlay"].describe() == load_overlay(tmp_path / "pipeline.toml").describe()
    quoted = next(body for _, info, body in found if info == ["text"]).strip()
    broken = tmp_path / "pipeline.toml"
    broken.write_text(broken.read_text().replace("reinterpret = true", ""))
    try:
        load_overlay(broken)
    except OverlayError as exc:
        assert str(exc).replace(str(broken), "pipeline.toml") == quoted
    else:
        raise AssertionError("the broken file was accepted")
