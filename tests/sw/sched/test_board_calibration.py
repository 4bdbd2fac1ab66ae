"""Calibrating a board that is not attached: predicted board time from sim and a build."""

import json

import numpy as np
import pytest

import hetflow
from hetflow.boardtime import BoardTiming
from hetflow.hw.errors import HetflowError
from hetflow.sched.calibrate import calibrate
from hetflow.sched.executor import Executor
from hetflow.sched.graph import Graph
from hetflow.sched.perfmodel import PerfModels

from ...conftest import needs_verilator, one_line_error
from ..test_boardtime import write_build
from .test_cli import hetflow as hetflow_cli


class Unplugged:
    """A board planned for but not attached: planning needs only its device name."""

    name = "serial:icebreaker"


@needs_verilator
def test_calibrated_board_costs_are_its_predicted_time(tmp_path):
    timing = BoardTiming.from_build(write_build(tmp_path / "b"))
    models = PerfModels(tmp_path / "m.json")
    with hetflow.open("sim", memory_size=timing.memory_size) as sim:
        rows = calibrate(sim, models, kernels=[("crc32", {})], sizes=[3000], repeats=1,
                         timing=timing, board_device="serial:icebreaker")
        handle = sim.kernel("crc32")
        cycles, link = handle.last_cycles, handle.last_link
    (row,) = rows
    assert row["predicted"] == pytest.approx(timing.seconds(cycles, link))
    model = models.model(row["key"], "serial:icebreaker")
    (sample,) = model.samples
    assert sample["seconds"] == row["predicted"] and sample["cycles"] == cycles
    assert models.model(row["key"], "sim").samples[0]["seconds"] == row["seconds"]

    # A plan places tasks on the board before it is plugged in, from those costs.
    g = Graph()
    g.kernel("crc32")(np.zeros(3000, np.uint8), name="crc")
    with hetflow.open("cpu") as cpu:
        plan = Executor({"cpu": cpu, "board": Unplugged()}, models=models).plan(g, "heft")
    assert plan.sources["crc"]["board"] == "history"
    assert plan.costs.cost["crc"]["board"] == pytest.approx(row["predicted"])


def test_calibrate_refuses_a_board_without_its_name(tmp_path):
    timing = BoardTiming.from_build(write_build(tmp_path / "b"))
    with pytest.raises(HetflowError) as e:
        calibrate(None, PerfModels(tmp_path / "m.json"), timing=timing)
    assert str(e.value) == "calibrating a board from its build needs the board's device name"


@needs_verilator
def test_calibrate_cli_with_a_build(tmp_path):
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    build = write_build(tmp_path / "b")
    proc = hetflow_cli("calibrate", "--device", "sim", "--kernels", "crc32", "--sizes", "2000",
                       "--repeats", "1", "-q", "--board", build, env=env)
    assert proc.returncode == 0, proc.stderr
    assert ("stored 1 model(s) for serial:icebreaker: predicted, not measured (icebreaker "
            "build of crc32: 12 MHz clock (Fmax 40 MHz), 3,000,000 baud 8N1, 1 ms turnaround "
            "per exchange)") in proc.stdout
    saved = json.loads((tmp_path / "pm.json").read_text())
    (models,) = saved["machines"].values()
    assert set(models["models"]["crc32(lanes=4)"]) == {"sim", "serial:icebreaker"}


def test_calibrate_board_bad_input(tmp_path):
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    build = write_build(tmp_path / "b")
    one_line_error(hetflow_cli("calibrate", "--device", "cpu", "--board", build, env=env),
                   "hetflow calibrate: error: --board predicts a board's time from simulated "
                   "calls; use it with --device sim, not cpu")
    one_line_error(hetflow_cli("calibrate", "--board-device", "serial:/dev/ttyUSB1", env=env),
                   "hetflow calibrate: error: --board-device names the models of --board DIR; "
                   "give --board too")
    one_line_error(hetflow_cli("calibrate", "--board", build, "--board-device", "gpu", env=env),
                   "hetflow calibrate: error: unknown device 'gpu'")
    assert not (tmp_path / "pm.json").exists()
