"""hetflow schedule / models / calibrate, run as a user runs them (subprocesses)."""

import json
import os
import subprocess
import sys

import pytest

from hetflow.cli.models import spread
from hetflow.sched.taskmodel import Model
from hetflow.sched.work import Work

from ...conftest import PIPELINE_TOML, ROOT, needs_verilator, one_line_error
from ..test_bench_graphfile import BAD

GRAPH = {"devices": ["cpu", "fpga"],
         "tasks": {"load": {"cost": {"cpu": 1.0}},
                   "fir": {"cost": {"cpu": 4.0, "fpga": 1.0}, "kernel": "fir"},
                   "gemm": {"cost": {"cpu": 6.0, "fpga": 2.0}, "kernel": "gemm"},
                   "crc": {"cost": {"cpu": 0.5, "fpga": 1.5}},
                   "store": {"cost": {"cpu": 0.5}}},
         "edges": [["load", "fir", 0.5], ["load", "gemm", 0.5], ["fir", "crc", 0.25],
                   ["gemm", "crc", 0.25], ["crc", "store"]]}


def hetflow(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *map(str, args)],
                          capture_output=True, cwd=cwd, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(GRAPH))
    return path


def test_schedule_json(graph_file):
    proc = hetflow("schedule", "--graph", graph_file, "--policy", "heft", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["makespan"] == 5.75
    assert out["placement"] == {"load": "cpu", "fir": "fpga", "gemm": "fpga", "crc": "cpu",
                                "store": "cpu"}
    assert out["start"]["gemm"] == 1.5 and out["finish"]["store"] == 5.75
    assert out["lower_bound"] == 4.0 and out["slr"] == pytest.approx(5.75 / 4)


@pytest.mark.parametrize("policy,makespan", [("heft", "5.75"), ("dmda", "5.75"),
                                             ("eager", "6"), ("cpu-only", "12"),
                                             ("fpga-only", "6.5")])
def test_schedule_table(graph_file, policy, makespan):
    proc = hetflow("schedule", "--graph", graph_file, "--policy", policy)
    assert proc.returncode == 0, proc.stderr
    assert "task" in proc.stdout and "device" in proc.stdout and "gemm" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith(f"makespan {makespan} s; lower bound 4 s")


def test_schedule_plot(graph_file, tmp_path):
    png = tmp_path / "gantt.png"
    proc = hetflow("schedule", "--graph", graph_file, "--policy", "dmda", "--plot", png)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Gantt chart: {png}" in proc.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("data,message", BAD, ids=[m.split(": ", 1)[1][:40] for _, m in BAD])
def test_schedule_bad_graph_is_one_line_exit_2(tmp_path, data, message):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(data))
    line = one_line_error(hetflow("schedule", "--graph", path), message)
    assert line.startswith("hetflow schedule: error: g.json: ")


def test_schedule_other_bad_input(graph_file, tmp_path):
    one_line_error(hetflow("schedule", "--graph", graph_file, "--policy", "best"),
                   "hetflow schedule: error: unknown policy 'best'; choose one of: heft, dmda, "
                   "eager, cpu-only, fpga-only")
    one_line_error(hetflow("schedule", "--graph", tmp_path / "none.json"),
                   f"hetflow schedule: error: graph file {tmp_path / 'none.json'} does not exist")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2,")
    one_line_error(hetflow("schedule", "--graph", bad),
                   "hetflow schedule: error: bad.json: not valid JSON: Expecting value at line 1")
    only_cpu = tmp_path / "cpu.json"
    only_cpu.write_text(json.dumps({"devices": ["cpu"], "tasks": {"a": {"cost": {"cpu": 1}}}}))
    one_line_error(hetflow("schedule", "--graph", only_cpu, "--policy", "fpga-only"),
                   "hetflow schedule: error: cpu.json: fpga-only: the graph has no fpga device "
                   "(devices: cpu (cpu))")
    fpga_task = tmp_path / "f.json"
    fpga_task.write_text(json.dumps({"devices": ["cpu", "fpga"],
                                     "tasks": {"a": {"cost": {"fpga": 1}}}}))
    one_line_error(hetflow("schedule", "--graph", fpga_task, "--policy", "cpu-only"),
                   "hetflow schedule: error: f.json: cpu-only: task 'a' has no cost on a cpu "
                   "device (cpu); it cannot run there")
    one_line_error(hetflow("schedule", "--graph", graph_file, "--plot", tmp_path / "g.svg"),
                   "the chart is a PNG; give a file name ending in .png")
    one_line_error(hetflow("schedule", "--graph", graph_file, "--plot", tmp_path / "no" / "g.png"),
                   "does not exist")
    one_line_error(hetflow("schedule"), "the following arguments are required: --graph")


def test_calibrate_then_models(tmp_path):
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    proc = hetflow("models", env=env)
    assert proc.returncode == 0 and "no performance models stored yet" in proc.stdout
    proc = hetflow("calibrate", "--device", "cpu", "--kernels", "fir:taps=8", "crc32",
                   "--sizes", "1024,4096,16384", "--repeats", "2", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == \
        f"stored 2 model(s) for cpu in {tmp_path / 'pm.json'}"
    assert "fir(taps=8)" in proc.stdout and "16,384 element" in proc.stdout
    proc = hetflow("models", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    rows = {(r["key"], r["device"]): r for r in out["models"]}
    assert set(rows) == {("fir(taps=8)", "cpu"), ("crc32(lanes=4)", "cpu")}
    assert rows[("fir(taps=8)", "cpu")]["runs"] == 6 and rows[("fir(taps=8)", "cpu")]["fit"]
    proc = hetflow("models", env=env)
    assert proc.returncode == 0 and "fir(taps=8)" in proc.stdout and "cycles/unit" in proc.stdout


def test_models_shows_the_measured_slowdown(tmp_path):
    from hetflow.sched.perfmodel import PerfModels
    path = tmp_path / "pm.json"
    models = PerfModels(path)
    models.record("gemm(cols=16, rows=16)", "cpu", Work(1e6), 0.010, unit="MAC")
    models.record("gemm(cols=16, rows=16)", "cpu", Work(1e6), 0.015, unit="MAC", overlap=1.0)
    models.record("crc32(lanes=4)", "cpu", Work(1e4), 1e-4, unit="byte")
    models.save()
    env = {"HETFLOW_PERFMODELS": str(path)}
    out = json.loads(hetflow("models", "--json", env=env).stdout)
    rows = {r["key"]: r for r in out["models"]}
    gemm, crc = rows["gemm(cols=16, rows=16)"], rows["crc32(lanes=4)"]
    assert gemm["slowdown"] == pytest.approx(1.5) and gemm["shared_runs"] == 1
    assert gemm["runs"] == 2 and gemm["predicted_s"] == pytest.approx(0.010)
    assert crc["slowdown"] is None and crc["shared_runs"] == 0
    assert gemm["spread"] is None                   # 2 runs: too few to tell
    proc = hetflow("models", env=env)
    assert proc.returncode == 0 and "shared slowdown" in proc.stdout
    assert "1.50x (1 run)" in proc.stdout


def test_models_shows_the_spread_of_the_runs(tmp_path):
    from hetflow.sched.perfmodel import PerfModels
    path = tmp_path / "pm.json"
    models = PerfModels(path)
    for seconds in (0.9, 1.0, 1.0, 1.1, 1.2):             # mean 1.04: spread 2 x 0.058
        models.record("crc32(lanes=4)", "cpu", Work(1e4), seconds, unit="byte")
    models.save()
    env = {"HETFLOW_PERFMODELS": str(path)}
    out = json.loads(hetflow("models", "--json", env=env).stdout)
    assert out["models"][0]["spread"] == pytest.approx(2 * (1.1 / 1.04 - 1))
    proc = hetflow("models", env=env)
    assert proc.returncode == 0 and "+-12%" in proc.stdout


def test_spread_is_how_far_runs_stray_from_the_model():
    m = Model("k", "cpu")
    m.record(Work(100), 1.0)
    m.record(Work(100), 1.0)
    assert spread(m) is None                          # too few runs to tell
    # Runs alone at 0.9, 1.0, 1.0, 1.1, 1.2 s: the bucket's mean is 1.04 s; deviations
    # 0.135, 0.038, 0.038, 0.058, 0.154 -> median 0.058, doubled.
    for seconds in (0.9, 1.1, 1.2):
        m.record(Work(100), seconds)
    assert spread(m) == pytest.approx(2 * (1.1 / 1.04 - 1))
    # A shared run is compared with the time alone stretched by the slowdown: here it is
    # its own slowdown (1.5 = 1.56 / 1.04), so it deviates by 0: the median of six is now
    # between 0.038 and 0.058, doubled: 0.1 / 1.04.
    m.record(Work(100), 1.56, overlap=1.0)
    assert m.slowdown()[0] == pytest.approx(1.5)
    assert spread(m) == pytest.approx(0.1 / 1.04)


def test_calibrate_sim_records_cycles(tmp_path):
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    proc = hetflow("calibrate", "--device", "sim", "--kernels", "crc32", "--sizes", "1000,8000",
                   "--repeats", "1", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(hetflow("models", "--json", env=env).stdout)
    (row,) = out["models"]
    assert row["device"] == "sim" and row["cycles_fit"][1] == pytest.approx(0.25, rel=0.01)


def test_models_corrupt_file_is_one_warning_line(tmp_path):
    path = tmp_path / "pm.json"
    path.write_text("{oops")
    proc = hetflow("models", env={"HETFLOW_PERFMODELS": str(path)})
    assert proc.returncode == 0
    assert proc.stderr.strip() == (
        f"hetflow models: warning: perf models file {path} is not valid JSON (Expecting "
        f"property name enclosed in double quotes at line 1); starting with no models (it is "
        f"kept as pm.json.corrupt when models are next saved)")


def test_calibrate_bad_input(tmp_path):
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    one_line_error(hetflow("calibrate", "--device", "gpu", env=env),
                   "hetflow calibrate: error: unknown device 'gpu'; choose one of: cpu, sim")
    one_line_error(hetflow("calibrate", "--device", "cpu", "--kernels", "fri", env=env),
                   "hetflow calibrate: error: ")
    one_line_error(hetflow("calibrate", "--device", "cpu", "--kernels", "fir:taps=99", env=env),
                   "fir: parameter 'taps' = 99 is out of range; allowed 1..64")
    one_line_error(hetflow("calibrate", "--device", "cpu", "--kernels", "fir:taps", env=env),
                   "--kernels 'fir:taps': 'taps' is not NAME=VALUE (e.g. fir:taps=16)")
    one_line_error(hetflow("calibrate", "--device", "cpu", "--sizes", "10,x", env=env),
                   "--sizes '10,x' is not a comma-separated list of integers")
    one_line_error(hetflow("calibrate", "--device", "cpu", "--sizes", "0", env=env),
                   "--sizes '0': sizes must be positive integers")
    one_line_error(hetflow("calibrate", "--device", "cpu", "--repeats", "0", env=env),
                   "--repeats 0 is out of range; allowed 1 or more")
    assert not (tmp_path / "pm.json").exists()


@needs_verilator
def test_calibrate_the_units_of_an_overlay_on_sim(tmp_path, pipeline_toml):
    # The demo's design (tests/conftest.py PIPELINE_TOML): its simulator build is shared.
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    proc = hetflow("calibrate", "--device", "sim", "--overlay", pipeline_toml, "--sizes",
                   "256,1024", "--repeats", "1", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hetflow calibrate: sim with overlay pipeline.toml" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == \
        f"stored 1 model(s) for sim in {tmp_path / 'pm.json'}"
    out = json.loads(hetflow("models", "--json", env=env).stdout)
    # gemm0 is the one unit of its kernel; fir0 and crc0 are chained (the chain learns).
    (row,) = out["models"]
    assert (row["key"], row["device"], row["runs"]) == ("gemm(cols=4, rows=2)", "sim", 2)
    assert row["cycles_fit"] is not None


def test_calibrate_overlay_bad_input(tmp_path, pipeline_toml):
    env = {"HETFLOW_PERFMODELS": str(tmp_path / "pm.json")}
    error = "hetflow calibrate: error: "
    missing = tmp_path / "nope.toml"
    assert one_line_error(hetflow("calibrate", "--overlay", missing, env=env), "") == \
        f"{error}overlay file {missing} does not exist"
    assert one_line_error(hetflow("calibrate", "--overlay", pipeline_toml, "--kernels", "gemm",
                                  env=env), "") == \
        (f"{error}--kernels and --overlay both choose what to calibrate; with --overlay the "
         f"overlay's units are calibrated, give one or the other")
    assert one_line_error(hetflow("calibrate", "--overlay", pipeline_toml, "--board", tmp_path,
                                  env=env), "") == \
        (f"{error}--board predicts a board's time from a kernel's build, not an overlay's; "
         f"calibrate the overlay on sim without --board")
    chained = tmp_path / "chained.toml"
    chained.write_text(PIPELINE_TOML.replace('gemm0 = { kernel = "gemm", rows = 2, cols = 4 }\n',
                                             "").replace('"pipeline"', '"chained"'))
    assert one_line_error(hetflow("calibrate", "--device", "cpu", "--overlay", chained,
                                  env=env), "") == \
        (f"{error}overlay 'chained' has no instance to calibrate: every instance is in a chain "
         f"(fir0_crc0), and a chain learns from its runs")
    assert not (tmp_path / "pm.json").exists()
