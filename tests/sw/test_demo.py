"""The README's first command: the demo pipeline on cpu and the simulated board."""

import re

import numpy as np
import pytest

from hetflow.demo import link_summary, run_pipeline

from .test_boardtime import write_build
from .test_cli import hetflow, one_line_error


CALLS = ["fir0 -> crc0 chained", "gemm0 2x4 tiles", "fir0 separate", "crc0 separate"]
_LINK = re.compile(r"^link bytes on sim: fir0 -> crc0 chained ([\d,]+) B, the same steps as "
                   r"separate calls ([\d,]+) B \((\d\.\d\d)x\); goal chained <= 0.5x "
                   r"separate: (met|NOT met)$")


def test_demo_cli_agrees_on_cpu_and_sim():
    proc = hetflow("demo", "--samples", "1024", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("PASS demo: 2 devices (cpu, sim) agree; crc32 0x")
    table = "\n".join(lines)
    for call in CALLS:
        assert call in table
    assert "DIFFERS" not in table and table.count("equal") == 4
    (found,) = [m.groups() for m in map(_LINK.match, lines) if m]
    chained, separate, ratio, met = found
    assert f"{_num(chained) / _num(separate):.2f}" == ratio
    assert met == ("met" if 2 * _num(chained) <= _num(separate) else "NOT met")


def test_pipeline_steps_report_cycles_and_link_bytes_on_sim():
    steps = run_pipeline("sim", samples=512)
    assert [s.kernel for s in steps] == CALLS
    chain, gemm, fir, crc = steps
    assert chain.cycles >= 512 and gemm.cycles > 0 and fir.cycles >= 512 and crc.cycles >= 512
    assert chain.kernels == ("fir", "crc32") and gemm.kernels == ("gemm",)
    # The separate calls carry the filtered signal (512 int32) out and back in; the chain not.
    chained, separate = link_summary(steps)
    assert chained == chain.link.bytes and separate == fir.link.bytes + crc.link.bytes
    assert separate - chained > 2 * 512 * 4
    cpu = run_pipeline("cpu", samples=512)
    assert link_summary(cpu) is None
    for a, b in zip(steps, cpu):
        assert np.array_equal(a.result, b.result)
    assert chain.result[0] == crc.result[0]


def test_demo_bad_input():
    one_line_error(hetflow("demo", "--samples", "100"),
                   "--samples 100 is out of range; allowed a positive multiple of 64")
    one_line_error(hetflow("demo", "--devices", "cpu,gpu"),
                   "unknown device 'gpu'; choose one of: cpu, sim, pynq, serial:PORT")


_PREDICTED = re.compile(r"^predicted board time (.+) on sim: ([\d,.]+) ms = ([\d,.]+) compute "
                        r"\(([\d,]+) cycles\) \+ ([\d,.]+) link \(([\d,]+) bytes\) \+ "
                        r"([\d,.]+) turnaround \((\d+) exchange\(s\), \d+ requests\)$")


def _num(text):
    return float(text.replace(",", ""))


def test_demo_with_a_build_predicts_board_time(tmp_path):
    build = write_build(tmp_path / "crc32-icebreaker")
    proc = hetflow("demo", "--samples", "256", "-q", "--board", build, "--turnaround-ms", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "icebreaker (predicted)" in proc.stdout
    assert ("predicted, not measured: icebreaker build of crc32: 12 MHz clock (Fmax 40 MHz), "
            "3,000,000 baud 8N1, 2 ms turnaround per exchange") in lines
    assert "(fir, gemm: as if built for icebreaker at the same clock and baud rate)" in lines
    found = [m.groups() for m in map(_PREDICTED.match, lines) if m]
    assert [f[0] for f in found] == CALLS
    for _, total, compute, cycles, link, nbytes, turnaround, exchanges in found:
        # cycles at 12 MHz, ten bits a byte at 3 MBaud, 2 ms an exchange.
        assert _num(compute) == pytest.approx(_num(cycles) / 12e3, abs=1e-3)
        assert _num(link) == pytest.approx(_num(nbytes) * 10 / 3e6 * 1e3, abs=1e-3)
        assert _num(turnaround) == pytest.approx(2 * int(exchanges), abs=1e-3)
        assert _num(total) == pytest.approx(_num(compute) + _num(link) + _num(turnaround),
                                            abs=2e-3)


def test_demo_board_bad_input(tmp_path):
    one_line_error(hetflow("demo", "--board", tmp_path / "nowhere"),
                   f"hetflow demo: error: build directory {tmp_path / 'nowhere'} does not exist")
    one_line_error(hetflow("demo", "--board", write_build(tmp_path / "b"), "--turnaround-ms",
                           "-1"),
                   "hetflow demo: error: --turnaround-ms -1 is out of range; allowed 0 or more")
