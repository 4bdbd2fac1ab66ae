"""Builds of an overlay: the plan, the per-instance split, the report, bad input.

The real builds (the demo overlay on ulx3s-85f, a small one on icebreaker) are slow;
everything else here takes seconds (dry runs and made-up netlists).
"""

import json
import os
import re

import pytest

from hetflow.boards.build import build, default_out_dir
from hetflow.boards.components import component_of, packed_lcs, shell_lc
from hetflow.boards.design import BuildDesign, fitting_phrase
from hetflow.cli import main

from ..conftest import PIPELINE_TOML as PIPELINE, ROOT

INSTANCES = ("fir0", "crc0", "gemm0")


@pytest.fixture
def pipeline(pipeline_toml):
    return pipeline_toml


def _cli_error(capsys, argv):
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_dry_run_names_the_overlay_and_its_directory(pipeline, capsys):
    assert main(["build", "--overlay", str(pipeline), "--board", "ulx3s-85f", "--dry-run",
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["kernel"] is None and plan["label"] == "overlay pipeline"
    assert list(plan["overlay"]["instances"]) == list(INSTANCES)
    assert plan["overlay"]["instances"]["gemm0"] == {"kernel": "gemm",
                                                     "params": {"rows": 2, "cols": 4}}
    assert plan["overlay"]["streams"] == [{"from": "fir0.y", "to": "crc0.data", "depth": 32,
                                           "reinterpret": True}]
    assert plan["out_dir"] == os.path.join("build", "pipeline-ulx3s-85f")
    assert default_out_dir(None, "icebreaker", overlay=pipeline).name == "pipeline-icebreaker"


def test_overlay_paths_are_components_of_their_own():
    assert component_of("soc.fabric.fir0.core", INSTANCES) == "fir0"
    assert component_of("soc.fabric.gemm0", INSTANCES) == "gemm0"
    # The chain's FIFO, the fabric itself and the manifest ROM belong to the shell.
    assert component_of("soc.fabric.fifo_fir0_y", INSTANCES) == "glue"
    assert component_of("soc.fabric", INSTANCES) == "glue"
    assert component_of("soc.manifest", INSTANCES) == "glue"
    packed = {"modules": {"top": {"cells": {
        "soc.fabric.fir0.core.a_LC": {"type": "ICESTORM_LC"},
        "soc.fabric.crc0.b_LC": {"type": "ICESTORM_LC"},
        "soc.fabric.fifo_fir0_y.c_LC": {"type": "ICESTORM_LC"},
        "soc.dma.d_LC": {"type": "ICESTORM_LC"}}}}}
    lcs = packed_lcs(packed, "ice40", INSTANCES)
    assert lcs == {"fir0": 1, "crc0": 1, "glue": 1, "dma": 1}
    assert shell_lc(10, {k: {"lc": v} for k, v in lcs.items()}, INSTANCES) == 8


def test_what_does_not_fit_is_named_by_instance():
    comps = {"fir0": {"lc": 2417, "dsp": 1}, "crc0": {"lc": 610, "dsp": 0},
             "gemm0": {"lc": 1120, "dsp": 8}, "bridge": {"lc": 2000, "dsp": 0},
             "glue": {"lc": 601, "dsp": 0}}
    assert fitting_phrase("ICESTORM_LC", comps, INSTANCES) == \
        "fir0 2,417, gemm0 1,120, crc0 610, the shell 2,601"
    assert fitting_phrase("ICESTORM_DSP", comps, INSTANCES) == "gemm0 8, fir0 1, the shell 0"
    assert fitting_phrase("SB_IO", comps, INSTANCES) is None
    assert fitting_phrase("ICESTORM_LC", None, INSTANCES) is None


@pytest.mark.parametrize("argv, message", [
    (["crc32", "--overlay", "{p}", "--board", "icebreaker"],
     "hetflow build: error: --overlay builds the instances its file lists; drop KERNEL"),
    (["--overlay", "{p}", "-p", "lanes=2", "--board", "icebreaker"],
     "hetflow build: error: --overlay builds the instances its file lists; drop --param"),
    (["--board", "icebreaker"],
     "hetflow build: error: name a KERNEL to build, or an overlay with --overlay FILE"),
    (["--overlay", "{d}/missing.toml", "--board", "icebreaker"],
     "hetflow build: error: overlay file {d}/missing.toml does not exist"),
    (["--overlay", "{d}/bad.toml", "--board", "icebreaker"],
     "hetflow build: error: {d}/bad.toml:5: instance 'crc0': unknown kernel 'crc33'; known "
     "kernels: conv2d, crc32, dot, fir, gemm, saxpy"),
])
def test_bad_overlay_builds(argv, message, pipeline, capsys):
    d = pipeline.parent
    (d / "bad.toml").write_text(PIPELINE.replace('"crc32"', '"crc33"'))
    argv = [a.format(p=pipeline, d=d) for a in argv]
    assert _cli_error(capsys, ["build", *argv, "--out", str(d / "out")]) == \
        message.format(d=d)
    assert not (d / "out" / "report.json").exists()


def test_report_cli_prints_the_overlay_and_its_instances_first(tmp_path, capsys):
    from hetflow.cli.report import component_rows, rows
    report = {"kernel": None, "params": {}, "board": "ulx3s-85f", "device": "LFE5U-85F",
              **BuildDesign(overlay=_overlay(tmp_path)).report_fields()}
    comp = {"lut": 1, "ff": 2, "bram": 0, "dsp": 0, "lc": 3}
    report["components"] = {"dma": comp, "gemm0": comp, "glue": comp, "fir0": comp,
                            "crc0": comp}
    assert [r[0] for r in component_rows(report)] == ["fir0", "crc0", "gemm0", "dma", "glue"]
    shown = rows({**report, "lut_used": 1, "lut_total": 2, "ff_used": 1, "bram_used": 0,
                  "bram_total": 1, "dsp_used": 0, "dsp_total": 1, "fmax_mhz": 50.0,
                  "target_mhz": 25, "timing_met": True, "bitstream": "top.bit",
                  "sha256": "0" * 64, "build_s": 1.0, "tools": {}})
    assert shown[:5] == [("overlay", "pipeline"), ("instance", "fir0: fir(taps=16)"),
                         ("instance", "crc0: crc32(lanes=4)"),
                         ("instance", "gemm0: gemm(rows=2, cols=4)"),
                         ("stream", "fir0.y -> crc0.data (depth 32, reinterpret)")]


def _overlay(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE)
    return path


@pytest.mark.slow
def test_demo_overlay_on_ulx3s(tmp_path):
    result = build(None, "ulx3s-85f", overlay=_overlay(tmp_path), out_dir=tmp_path / "out")
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert r == result.report and r["kernel"] is None
    assert list(r["overlay"]["instances"]) == list(INSTANCES)
    comps = r["components"]
    assert set(INSTANCES) <= set(comps)
    assert {"dma", "memory", "bridge", "uart", "glue"} <= set(comps)
    assert comps["gemm0"]["dsp"] == 8 and comps["fir0"]["dsp"] == 16
    assert r["shell_lc"] == r["lut_used"] - sum(comps[n]["lc"] for n in INSTANCES)
    assert r["timing_met"]


@pytest.mark.slow
def test_demo_overlay_does_not_fit_the_icebreaker(tmp_path, capsys):
    out = tmp_path / "out"
    err = _cli_error(capsys, ["build", "--overlay", str(_overlay(tmp_path)), "--board",
                              "icebreaker", "--out", str(out), "-q"])
    # fir taps=16 takes 16 SB_MAC16 and gemm 2x4 eight: the UP5K has 8.  Cell counts move
    # with the toolchain's version; the DSPs do not.
    assert re.fullmatch(
        r"hetflow build: error: overlay pipeline does not fit icebreaker \(iCE40UP5K\): "
        r"(it needs \d+ logic cells, the part has 5280 \(fir0 [\d,]+, crc0 [\d,]+, gemm0 "
        r"[\d,]+, the shell [\d,]+\); )?(it needs )?24 DSPs \(SB_MAC16\), the part has 8 "
        r"\(fir0 16, gemm0 8, the shell 0\) \(log: " + re.escape(str(out / "top.tim")) + r"\)",
        err), err
    assert not (out / "report.json").exists() and not (out / "top.bin").exists()


@pytest.mark.slow
def test_a_small_overlay_fits_the_icebreaker(tmp_path):
    result = build(None, "icebreaker", overlay=ROOT / "examples" / "fir_crc_icebreaker.toml",
                   out_dir=tmp_path / "out")
    r = result.report
    assert list(r["overlay"]["instances"]) == ["fir0", "crc0"]
    assert r["overlay"]["streams"] == [{"from": "fir0.y", "to": "crc0.data", "depth": 16,
                                        "reinterpret": True}]
    comps = r["components"]
    assert comps["fir0"]["dsp"] == 4 and comps["crc0"]["dsp"] == 0 == comps["bridge"]["dsp"]
    assert r["lut_used"] <= r["lut_total"] == 5280 and r["dsp_used"] == 4
    assert r["shell_lc"] == r["lut_used"] - comps["fir0"]["lc"] - comps["crc0"]["lc"]
    assert r["timing_met"] and (tmp_path / "out" / "top.bin").exists()
