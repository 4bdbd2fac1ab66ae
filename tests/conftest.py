import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "sim" / "fixtures"


@pytest.fixture
def fixtures_on_path(monkeypatch):
    """Make the test-only kernel modules importable as ``faulty_kernels:...``."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    return FIXTURES


def have_icarus():
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
