"""The README's first command: the demo pipeline on cpu and the simulated board."""

import numpy as np

from hetflow.demo import run_pipeline

from .test_cli import hetflow, one_line_error


def test_demo_cli_agrees_on_cpu_and_sim():
    proc = hetflow("demo", "--samples", "1024", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("PASS demo: 2 devices (cpu, sim) agree; crc32 0x")
    table = "\n".join(lines)
    for kernel in ("fir taps=16", "gemm 2x4 tiles", "crc32"):
        assert kernel in table
    assert "DIFFERS" not in table and table.count("equal") == 3


def test_pipeline_steps_report_cycles_on_sim():
    steps = run_pipeline("sim", samples=512)
    assert [s.kernel for s in steps] == ["fir taps=16", "gemm 2x4 tiles", "crc32"]
    fir, gemm, crc = steps
    assert fir.cycles >= 512 and gemm.cycles > 0 and crc.cycles > 0
    cpu = run_pipeline("cpu", samples=512)
    for a, b in zip(steps, cpu):
        assert np.array_equal(a.result, b.result)


def test_demo_bad_input():
    one_line_error(hetflow("demo", "--samples", "100"),
                   "--samples 100 is out of range; allowed a positive multiple of 64")
    one_line_error(hetflow("demo", "--devices", "cpu,gpu"),
                   "unknown device 'gpu'; choose one of: cpu, sim, pynq, serial:PORT")
