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


def pipeline_script(dev, x, h, a, b):
    """One host script for a pipeline overlay (fir0 -> crc0 chained, gemm0), run unchanged
    on every device: the chain, the GEMM, then both started at once."""
    out = {"kernels": list(dev.kernels), "chains": list(dev.chains)}
    out["crc"] = dev.fir0_crc0(x, h=h)
    out["c"] = dev.gemm0(a, b)
    runs = [dev.gemm0.start(a, b), dev.fir0_crc0.start(x=x, fir0={"h": h})]
    out["c2"], out["crc2"] = (run.wait(timeout=120) for run in runs)
    return out


def refuses_what_the_pipeline_does_not_offer(dev, x, h):
    """The one-line refusals every device running the pipeline overlay gives: a chained
    instance called alone, an unknown instance, a kernel asked for by its parameters."""
    from hetflow.hw.errors import HetflowError, StimulusError
    with pytest.raises(StimulusError, match=r"^fir0 is chained on the fabric \(fir0.y -> "
                                            r"crc0.data\) and cannot be called alone; call "
                                            r"its chain, dev.fir0_crc0\(...\)$"):
        dev.fir0(x, h=h)
    with pytest.raises(AttributeError, match=rf"^device {dev.name} has no instance or chain "
                                             r"'fir1'; its overlay has: fir0, crc0, gemm0, "
                                             r"fir0_crc0$"):
        dev.fir1
    with pytest.raises(HetflowError, match=r"^overlay 'pipeline' has no instance of "
                                           r"fir\(taps=8\); call an instance by name: "
                                           r"dev.fir0, dev.crc0, dev.gemm0$"):
        dev.kernel("fir", taps=8)


def small_pipeline_call(bmap, rng, n, k):
    """One call of :data:`SMALL_PIPELINE_TOML`'s chain on ``n`` samples and of its GEMM on
    ``k``-deep matrices, as one job on a board of ``bmap`` (its
    :class:`~hetflow.link.boardmap.BoardMap`): ``(jobs, regions, size, expected)``, the
    jobs by instance, ``(channel, address, beats)`` of every channel laid out as the host
    lays them out (:func:`~hetflow.link.job_layout.job_layout`, instance after instance), the
    bytes of board memory they take, and the golden outputs by ``(instance, port)``."""
    import numpy as np

    from hetflow.hw.overlay import compose, derive_jobs
    from hetflow.link.job_layout import job_layout

    overlay = bmap.overlay
    chain = overlay.chains["fir0_crc0"]
    inputs = {("fir0", "x"): rng.integers(-2000, 2000, n).astype(np.int16)}
    scalars = {"fir0": {"h": rng.integers(-50, 50, 4).astype(np.int16)}}
    ab = {"a": rng.integers(-100, 100, (2, k)).astype(np.int8),
          "b": rng.integers(-100, 100, (k, 2)).astype(np.int8)}
    jobs = derive_jobs(overlay, chain, inputs, scalars)
    gemm = overlay.instances["gemm0"]
    jobs["gemm0"] = gemm.kernel_cls.prepare(gemm.params, ab, {})
    expected = compose(overlay, chain, inputs, scalars)
    expected[("gemm0", "c")] = gemm.kernel_cls.model(gemm.params, ab, {})["c"].reshape(-1)
    regions, base = [], 0
    for name, unit in bmap.units.items():
        layout, base = job_layout(unit.channels, jobs[name], base)
        regions += list(layout.values())
    return jobs, regions, base, expected


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
