"""Calibrating a device opened with an overlay: its units, each model once (cpu device, so
no simulator build; tests/sw/sched/test_units.py and test_cli.py time the simulated board)."""

import pytest

import hetflow
from hetflow.hw.errors import HetflowError
from hetflow.hw.overlay import Overlay
from hetflow.sched.calibrate import calibrate
from hetflow.sched.perfmodel import PerfModels


def two_gemms():
    overlay = Overlay("two_gemms")
    overlay.add("fir0", "fir", taps=16)
    overlay.add("crc0", "crc32", lanes=4)
    overlay.add("gemm0", "gemm", rows=2, cols=4)
    overlay.add("gemm1", "gemm", rows=2, cols=4)
    overlay.connect("fir0.y", "crc0.data", depth=32, reinterpret=True)
    return overlay


def test_instances_that_share_a_model_are_timed_once(tmp_path):
    models = PerfModels(tmp_path / "m.json")
    with hetflow.open("cpu", overlay=two_gemms()) as dev:
        rows = calibrate(dev, models, sizes=[256, 1024], repeats=2)
    assert [(r["key"], r["n"]) for r in rows] == [("gemm(cols=4, rows=2)", 256),
                                                  ("gemm(cols=4, rows=2)", 1024)]
    assert [(m.key, m.device, m.runs()) for m in models] == [("gemm(cols=4, rows=2)", "cpu", 4)]


def test_an_overlay_of_chains_only_has_nothing_to_calibrate(tmp_path):
    overlay = Overlay("chained")
    overlay.add("fir0", "fir", taps=16)
    overlay.add("crc0", "crc32", lanes=4)
    overlay.connect("fir0.y", "crc0.data", depth=32, reinterpret=True)
    with hetflow.open("cpu", overlay=overlay) as dev:
        with pytest.raises(HetflowError) as info:
            calibrate(dev, PerfModels(tmp_path / "m.json"), sizes=[256])
        assert str(info.value) == ("overlay 'chained' has no instance to calibrate: every "
                                   "instance is in a chain (fir0_crc0), and a chain learns "
                                   "from its runs")
