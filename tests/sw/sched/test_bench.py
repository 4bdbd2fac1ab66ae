"""The schedule benchmark: random DAGs, and the mixed workload on cpu + sim."""

import argparse

import pytest
from rich.console import Console

from hetflow.hw.errors import HetflowError
from hetflow.sched import bench
from hetflow.sched.policies import POLICIES


def test_random_dag_part(tmp_path):
    console = Console(width=120, record=True)
    png = tmp_path / "heft.png"
    result = bench.run_schedule_bench(sizes=(10, 30), out_degrees=(2,), ccrs=(0.1, 5.0),
                                      betas=(0.5,), graphs=2, real=False, console=console,
                                      plot=png)
    text = console.export_text()
    assert "8 random DAGs" in text and "SLR CCR 0.1" in text and "SLR CCR 5" in text
    policies = result["random"]["policies"]
    assert set(policies) == set(POLICIES)
    for p, r in policies.items():
        assert r["slr"] >= 1.0 and r["speedup"] > 0
    assert policies["heft"]["slr"] <= policies["eager"]["slr"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "real" not in result


@pytest.mark.slow
def test_mixed_workload_on_cpu_and_sim():
    result = bench.real_workload_bench(repeats=1, warmup=1)
    rows = result["rows"]
    assert set(rows) == set(POLICIES)
    assert all(r["correct"] for r in rows.values())
    # 27 tasks: 4 channels of fir, quantise, gemm, bytes, crc, analyse; crc_raw, fft, gather.
    assert result["tasks"] == 27
    assert rows["cpu-only"]["on_sim"] == 0 and rows["fpga-only"]["on_sim"] == 13
    for r in rows.values():
        assert r["measured"] > 0 and r["predicted"] > 0
        assert r["min"] <= r["measured"] <= r["max"]
        assert r["error"] == pytest.approx((r["predicted"] - r["measured"]) / r["measured"])
        assert r["ratio"] > 0
    # The simulated board is much slower than the cpu in wall time: fpga-only is the worst.
    assert rows["fpga-only"]["measured"] > rows["cpu-only"]["measured"]
    # heft and dmda chose among their own schedules and the baselines.
    for p in ("heft", "dmda"):
        assert rows[p]["choice"] in (p, f"{p} on contended costs", f"{p} refined", "cpu-only",
                                     "fpga-only")
    assert set(result["candidates"]) >= {"heft", "cpu-only", "fpga-only"}
    assert result["choice"] in result["candidates"]
    # The bound holds in the model the predictions come from: no prediction is below it.
    assert result["lower_bound"] <= min(r["predicted"] for r in rows.values()) * (1 + 1e-9)
    b = result["bounds"]
    assert b["contended"] >= b["area"] * (1 - 1e-9)
    assert result["lower_bound"] == max(b["critical_path"], b["contended"])
    # What each device wins: every kernel has a time on both devices, NumPy steps on the cpu.
    alone = result["tasks_alone"]
    assert {"fir", "gemm", "crc32"} <= set(alone)
    for kind, row in alone.items():
        assert ("sim" in row) == (kind in ("fir", "gemm", "crc32"))
        assert all(cell["slowdown"] >= 1.0 for label, cell in row.items() if label != "tasks")


def _rows(**measured):
    best = min(measured["cpu-only"], measured["fpga-only"])
    rows = {p: {"measured": m, "predicted": m, "error": 0.0, "min": m, "max": m,
                "choice": p, "ratio": m / best} for p, m in measured.items()}
    return rows


def test_goals_are_checked_strictly():
    rows = _rows(**{"heft": 0.100, "dmda": 0.104, "eager": 0.2, "cpu-only": 0.102,
                    "fpga-only": 0.4})
    # The median run's plan was cpu-only's, but not every run's: judged by the ratio.
    rows["heft"]["choice"], rows["heft"]["choices"] = "cpu-only", {"cpu-only": 3,
                                                                  "heft refined": 2}
    rows["eager"]["error"] = -0.25
    verdicts = bench.goals(rows, lower_bound=0.093)
    lines = [line for _, line in verdicts]
    assert [met for met, _ in verdicts] == [True, True, False, False, False]
    assert lines[0] == ("goal met: heft 100.0 ms <= best single device (cpu-only, 102.0 ms): "
                        "0.980x (median of same-round ratios); it ran the cpu-only plan")
    assert lines[1] == ("goal met: heft's plan within 10% of the lower bound (1.08x of 93.0 ms "
                        "predicted; measured 1.08x)")
    assert lines[2].startswith("goal not met: dmda 104.0 ms is 1.020x the best single device "
                               "(cpu-only, 102.0 ms; median of same-round ratios)")
    assert lines[3] == ("goal not met: dmda's plan is 1.12x the lower bound 93.0 ms predicted, "
                        "not within 10% (measured 1.12x)")
    assert lines[4] == ("goal not met: predictions within 20% for 4 of 5 policies (heft +0%, "
                        "dmda +0%, eager -25%, cpu-only +0%, fpga-only +0%)")


def test_a_policy_that_chose_the_best_single_device_plan_meets_the_first_goal():
    rows = _rows(**{"heft": 0.103, "dmda": 0.103, "eager": 0.2, "cpu-only": 0.102,
                    "fpga-only": 0.4})
    rows["heft"]["choice"], rows["heft"]["choices"] = "cpu-only", {"cpu-only": 5}
    # dmda ran the cpu-only plan in 4 runs of 5 and its own in one: judged by its ratio.
    rows["dmda"]["choice"], rows["dmda"]["choices"] = "cpu-only", {"cpu-only": 4, "dmda": 1}
    lines = [line for _, line in bench.goals(rows, lower_bound=0.1)]
    assert lines[0] == ("goal met: heft chose the best single device's plan (cpu-only) itself; "
                        "measured 1.010x of it (median of same-round ratios: the spread between "
                        "runs of one plan)")
    assert lines[2].startswith("goal not met: dmda 103.0 ms is 1.010x the best single device")


def test_the_bound_goal_judges_the_plan_by_its_prediction():
    # Measured runs stray from the model (noise, load); the bound is the model's.
    rows = _rows(**{"heft": 0.120, "dmda": 0.095, "eager": 0.2, "cpu-only": 0.125,
                    "fpga-only": 0.4})
    rows["heft"]["predicted"], rows["dmda"]["predicted"] = 0.105, 0.115
    lines = [line for _, line in bench.goals(rows, lower_bound=0.1)]
    assert lines[1] == ("goal met: heft's plan within 10% of the lower bound (1.05x of 100.0 ms "
                        "predicted; measured 1.20x)")
    assert lines[3] == ("goal not met: dmda's plan is 1.15x the lower bound 100.0 ms predicted, "
                        "not within 10% (measured 0.95x)")


def parse(*argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv,message", [
    (("--sizes", "10,x"), "--sizes '10,x' is not a comma-separated list of integers"),
    (("--sizes", "0"), "--sizes 0: task counts must be 1 or more"),
    (("--beta", "3"), "--beta 3 is out of range; allowed 0..2"),
    (("--ccr", "-1"), "--ccr -1: ratios must be >= 0"),
    (("--out-degree", "0"), "--out-degree 0: out-degrees must be 1 or more"),
    (("--graphs", "0", "--no-real"), "--graphs 0 is out of range; allowed 1 or more"),
    (("--warmup", "-1", "--no-real"), "--warmup -1 is out of range; allowed 0 or more"),
    (("--plot", "x.svg"), "--plot x.svg: the chart is a PNG; give a file name ending in .png"),
])
def test_bench_arguments_are_checked(argv, message):
    with pytest.raises(HetflowError) as info:
        bench.run(parse(*argv, "-q"))
    assert str(info.value) == message


def test_bench_command_random_only(capsys):
    assert bench.run(parse("--sizes", "8", "--out-degree", "1", "--ccr", "1", "--beta", "0.5",
                           "--graphs", "1", "--no-real", "-q")) == 0
    out = capsys.readouterr().out
    assert "1 random DAGs" in out and "random DAGs: heft SLR" in out
