from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "sim" / "fixtures"


@pytest.fixture
def fixtures_on_path(monkeypatch):
    """Make the test-only kernel modules importable as ``faulty_kernels:...``."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    return FIXTURES


def have_verilator():
    from hetflow.sim.toolchain import SimulatorMissing, find_simulator
    try:
        find_simulator("verilator")
        return True
    except SimulatorMissing:
        return False


HAVE_VERILATOR = have_verilator()
needs_verilator = pytest.mark.skipif(not HAVE_VERILATOR, reason="verilator is not installed")


def have_icarus():
    from hetflow.tools import find
    return find("iverilog") is not None and find("vvp") is not None


def one_line_error(proc, text):
    """Assert a CLI run failed the way every bad input must: exit 2, one line, no traceback."""
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert text in lines[0], lines[0]
    return lines[0]
