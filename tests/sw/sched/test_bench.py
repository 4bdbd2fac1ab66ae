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


def test_mixed_workload_on_cpu_and_sim():
    result = bench.real_workload_bench(repeats=1)
    rows = result["rows"]
    assert set(rows) == set(POLICIES)
    assert all(r["correct"] for r in rows.values())
    assert rows["cpu-only"]["on_sim"] == 0 and rows["fpga-only"]["on_sim"] == 13
    for r in rows.values():
        assert r["measured"] > 0 and r["predicted"] > 0
    # The simulated board is much slower than the cpu in wall time: fpga-only is the worst.
    assert rows["fpga-only"]["measured"] > rows["cpu-only"]["measured"]
    assert result["lower_bound"] <= rows["heft"]["predicted"]
    assert result["tasks"] == 23


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
