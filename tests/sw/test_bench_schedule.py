"""``hetflow bench schedule``: random DAGs and the mixed workload on cpu + sim.

No timing is asserted: only that the figures are there, parse, and that the
workload's results equal the NumPy computation.
"""

import pytest
from rich.console import Console

from hetflow.bench.schedule import print_report, real_workload_bench, run_schedule_bench
from hetflow.cli import main
from hetflow.sched.policies import POLICIES


def test_random_dag_part():
    console = Console(width=120, record=True)
    result = run_schedule_bench(sizes=(10, 30), out_degrees=(2,), ccrs=(0.1, 5.0), betas=(0.5,),
                                graphs=2, real=False)
    print_report(result, console)
    text = console.export_text()
    assert "8 random DAGs" in text and "SLR CCR 0.1" in text and "SLR CCR 5" in text
    policies = result.random["policies"]
    assert set(policies) == set(POLICIES)
    for r in policies.values():
        assert r["slr"] >= 1.0 and r["speedup"] > 0
    assert policies["heft"]["slr"] <= policies["eager"]["slr"]
    # Every policy's figures side by side as key=value lines.
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line
                  and " " not in line)
    assert values["random_dags"] == "8"
    for p in POLICIES:
        assert float(values[f"random_slr_{p}"]) == pytest.approx(policies[p]["slr"], abs=1e-3)
    assert result.real is None and result.ok


@pytest.mark.slow
def test_mixed_workload_on_cpu_and_sim():
    result = real_workload_bench(repeats=1, warmup=1)
    rows = result["rows"]
    assert set(rows) == set(POLICIES)
    assert all(r["correct"] for r in rows.values())
    # 27 tasks: 4 channels of fir, quantise, gemm, bytes, crc, analyse; crc_raw, fft, gather.
    assert result["tasks"] == 27
    assert rows["cpu-only"]["on_sim"] == 0 and rows["fpga-only"]["on_sim"] == 13
    for p, r in rows.items():
        assert r["measured"] > 0 and r["predicted"] > 0 and r["ratio"] > 0
        assert r["min"] <= r["measured"] <= r["max"]
        assert r["error"] == pytest.approx((r["predicted"] - r["measured"]) / r["measured"])
        # The plan that ran is named, and who made it.
        assert r["plan"] == p if r["choice"] == p else r["plan"].startswith(f"{p} chose ")
    assert rows["fpga-only"]["measured"] > rows["cpu-only"]["measured"]
    for p in ("heft", "dmda"):
        assert rows[p]["choice"] in (p, "cpu-only", "fpga-only")
    b = result["bounds"]
    assert b["contended"] >= b["area"] * (1 - 1e-9)
    assert b["lower_bound"] == max(b["critical_path"], b["contended"])


@pytest.mark.parametrize("argv,message", [
    (("--sizes", "10,x"), "--sizes '10,x' is not a comma-separated list of integers"),
    (("--sizes", "0"), "--sizes 0 is out of range; allowed 1 or more"),
    (("--beta", "3"), "--beta 3 is out of range; allowed 0..2"),
    (("--ccr", "-1"), "--ccr -1 is out of range; allowed 0 or more"),
    (("--out-degree", "0"), "--out-degree 0 is out of range; allowed 1 or more"),
    (("--graphs", "0", "--no-real"), "--graphs 0 is out of range; allowed 1 or more"),
    (("--warmup", "-1", "--no-real"), "--warmup -1 is out of range; allowed 0 or more"),
    (("--sizes", ","), "--sizes is empty"),
    (("--repeats", "0"), "--repeats 0 is out of range; allowed 1 or more"),
    (("--plot", "x.svg"), "--plot x.svg: the chart is a PNG; give a file name ending in .png"),
    (("--plot", "/nonexistent/x.png"),
     "cannot write /nonexistent/x.png: directory /nonexistent does not exist"),
])
def test_bench_arguments_are_checked(capsys, argv, message):
    assert main(["bench", "schedule", *argv, "-q"]) == 2
    assert capsys.readouterr().err == f"hetflow bench: error: {message}\n"


def test_bench_command_random_only(capsys, tmp_path):
    png = tmp_path / "heft.png"
    assert main(["bench", "schedule", "--sizes", "8", "--out-degree", "1", "--ccr", "1",
                 "--beta", "0.5", "--graphs", "1", "--no-real", "--plot", str(png), "-q"]) == 0
    out = capsys.readouterr().out
    assert "1 random DAGs" in out and "random_slr_heft=" in out and "random_best_eager=" in out
    assert f"Gantt chart: {png}" in out and png.read_bytes()[:4] == b"\x89PNG"
