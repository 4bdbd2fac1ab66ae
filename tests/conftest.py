from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "sim" / "fixtures"

#: The overlay of docs/overlays.md and of the demo (hetflow.demo.demo_overlay): FIR -> CRC-32
#: chained on the fabric, plus a GEMM; its builds are shared by the tests that use it.
PIPELINE_TOML = """\
name = "pipeline"

[instances]
fir0 = { kernel = "fir", taps = 16 }
crc0 = { kernel = "crc32", lanes = 4 }
gemm0 = { kernel = "gemm", rows = 2, cols = 4 }

[[stream]]
from = "fir0.y"
to = "crc0.data"
depth = 32
reinterpret = true
"""

#: :data:`PIPELINE_TOML`'s design made small enough to simulate a whole SoC (a 4-tap FIR, a
#: 2x2 GEMM, an 8-deep FIFO): the overlay SoC in amaranth.sim and served behind its UART.
SMALL_PIPELINE_TOML = """\
name = "pipeline"

[instances]
fir0 = { kernel = "fir", taps = 4 }
crc0 = { kernel = "crc32", lanes = 4 }
gemm0 = { kernel = "gemm", rows = 2, cols = 2 }

[[stream]]
from = "fir0.y"
to = "crc0.data"
depth = 8
reinterpret = true
"""


@pytest.fixture
def fixtures_on_path(monkeypatch):
    """Make the test-only kernel modules importable as ``faulty_kernels:...``."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    return FIXTURES


@pytest.fixture
def pipeline_toml(tmp_path):
    """:data:`PIPELINE_TOML` as the file ``pipeline.toml``."""
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE_TOML)
    return path


def install_kernel_plugin(directory, name, version, kernels):
    """Leave in ``directory`` what pip leaves of a distribution ``name`` whose ``hetflow.kernels``
    entry points are ``kernels`` (``{kernel name: "module:Class"}``)."""
    dist = directory / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(
        "[hetflow.kernels]\n" + "".join(f"{k} = {v}\n" for k, v in kernels.items()))


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
