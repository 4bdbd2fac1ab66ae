"""The figures of 'hetflow bench build' (the builds themselves are in test_build.py)."""

import pytest

from hetflow.bench.build import (dma_words_per_element, elements_per_cycle, filling_gemm,
                                  run_build_bench)
from hetflow.hw.registry import get_kernel


def test_elements_per_cycle_of_the_builtin_kernels():
    def epc(name, **params):
        k = get_kernel(name)
        return elements_per_cycle(k, k.bind(**params))
    assert epc("saxpy", lanes=4) == (4.0, "element")
    assert epc("gemm") == (8.0, "MAC")
    assert epc("crc32", lanes=2) == (2.0, "byte")
    assert epc("fir") == (1.0, "sample")


def test_dma_words_per_element():
    def words(name, **params):
        k = get_kernel(name)
        return dma_words_per_element(k, k.bind(**params))
    assert words("saxpy") == 3.0            # x, y, z: one 32-bit word each
    assert words("saxpy", lanes=8) == 3.0   # 8-word beats carry 8 elements
    assert words("gemm") == 2 / 8           # one a and one b access per 8 MACs
    assert words("crc32", lanes=1) == 1.0   # a byte costs a whole access


def test_filling_gemm():
    assert filling_gemm(8) == {"rows": 2, "cols": 4}
    assert filling_gemm(156) == {"rows": 12, "cols": 13}
    assert filling_gemm(28) == {"rows": 4, "cols": 7}


@pytest.mark.slow
def test_bench_table(tmp_path):
    rows = run_build_bench(boards=("icebreaker",), kernels=("crc32",), fill_gemm=False,
                           out_root=tmp_path)
    (row,) = rows
    assert row["dsp_used"] == 0 and row["throughput"] == 4 * row["fmax_mhz"] * 1e6


def test_shell_lc_lines_per_build_and_largest_per_board():
    from hetflow.bench.build import shell_lc_lines
    rows = [{"kernel": "crc32", "board": "icebreaker", "params": {"lanes": 1}, "shell_lc": 900},
            {"kernel": "saxpy", "board": "icebreaker", "params": {"lanes": 1}, "shell_lc": 950},
            {"kernel": "gemm", "board": "ulx3s-85f", "params": {}, "error": "failed"},
            {"kernel": "fir", "board": "ulx3s-85f", "params": {"taps": 16}, "shell_lc": 700}]
    assert shell_lc_lines(rows) == ["shell_lc_icebreaker_crc32_lanes1=900",
                                    "shell_lc_icebreaker_saxpy_lanes1=950",
                                    "shell_lc_ulx3s-85f_fir_taps16=700",
                                    "shell_lc_icebreaker=950", "shell_lc_ulx3s-85f=700"]


def test_report_is_the_table_then_the_shell_lines(capsys):
    from rich.console import Console

    from hetflow.bench.build import print_report
    rows = [{"kernel": "crc32", "board": "icebreaker", "params": {"lanes": 1}, "lut_used": 2883,
             "lut_total": 5280, "dsp_used": 0, "dsp_total": 8, "fmax_mhz": 21.09, "build_s": 95.0,
             "cached": False, "shell_lc": 2550, "unit": "byte", "elements_per_cycle": 1,
             "throughput": 21.09e6, "dma_bound": 21.09e6},
            {"kernel": "gemm", "board": "icebreaker", "params": {}, "error": "failed"}]
    print_report(rows, Console(width=150))
    out = capsys.readouterr().out
    assert "hetflow bench build" in out and "crc32 lanes=1" in out and "failed: failed" in out
    assert out.splitlines()[-2:] == ["shell_lc_icebreaker_crc32_lanes1=2550",
                                     "shell_lc_icebreaker=2550"]
