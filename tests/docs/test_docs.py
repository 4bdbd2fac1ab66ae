"""The documentation builds with Sphinx without a single warning, with its generated pages."""

import subprocess
import sys
import time

import pytest

from hetflow.cli import build_parser

from ..conftest import ROOT

DOCS = ROOT / "docs"


def commands():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from hetflow_docs import cli_commands
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return list(cli_commands()[1])


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    pytest.importorskip("sphinx", reason="pip install -e '.[docs]'")
    pytest.importorskip("myst_parser", reason="pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("docs") / "html"
    t0 = time.monotonic()
    # The documented one command, with -W: any warning fails the build.
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-b", "html", str(DOCS), str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    print(f"docs build: {time.monotonic() - t0:.1f} s")
    return out


def test_docs_build_without_warnings(html):
    for page in ("index", "concepts", "tutorial", "authoring", "api", "reference/index",
                 "reference/kernels", "reference/boards"):
        assert (html / f"{page}.html").is_file(), page


def test_one_page_per_cli_command(html):
    names = commands()
    assert "new" in names and "verify" in names
    for name in names:
        text = (html / "reference" / "cli" / f"{name}.html").read_text()
        assert f"hetflow {name}" in text and "usage: hetflow" in text, name
    parser = build_parser()
    assert len(names) == len(parser._subparsers._group_actions[0].choices)


def test_generated_tables(html):
    kernels = (html / "reference" / "kernels.html").read_text()
    for name in ("saxpy", "dot", "fir", "gemm", "conv2d", "crc32"):
        assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span>" \
            in kernels, name
    boards = (html / "reference" / "boards.html").read_text()
    try:
        from hetflow.boards.registry import board_names
    except ImportError:
        assert "not available in this build" in boards
    else:
        for name in board_names():
            assert name in boards, name


def test_api_reference_has_docstrings(html):
    api = (html / "api.html").read_text()
    for text in ("hetflow.open", "hetflow.hw.Kernel", "golden", "hetflow.sim.verify.verify",
                 "validate_kernel_class", "create_project"):
        assert text in api, text
