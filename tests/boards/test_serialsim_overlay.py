"""An overlay's served SoC (bridge and UART in the loop) at the protocol level.

Raw requests through the serial backend's link, at the offsets of
:class:`~hetflow.link.boardmap.BoardMap`: PING's register window, the
instances' windows, the manifest words, a chain and an instance in one
``RUN``, against the golden models.  The host client's overlay jobs are
tested where the client lives.
"""

import numpy as np
import pytest

from hetflow.backends.serial_link import SerialLink
from hetflow.boards.serialsim import SerialSocSimulation
from hetflow.hw.job import from_memory_image, memory_image
from hetflow.hw.overlay import parse_overlay
from hetflow.hw.overlay.manifest import decode_manifest
from hetflow.hw.regmap import kernel_id
from hetflow.link import protocol as P
from hetflow.link.boardmap import INSTANCE_STRIDE, MANIFEST_BASE, BoardMap
from hetflow.link.client import BoardRequestError

from ..conftest import SMALL_PIPELINE_TOML as PIPELINE
from ..conftest import pipeline_script, small_pipeline_call

TEST_BAUD = 3_000_000


@pytest.fixture(scope="module")
def served():
    overlay = parse_overlay(PIPELINE, source="pipeline.toml")
    with SerialSocSimulation(overlay, baud=TEST_BAUD) as sim:
        link = SerialLink(sim.port, TEST_BAUD, timeout=2.0)
        try:
            link.settle()
            yield overlay, BoardMap(overlay), link
        finally:
            link.close()


def test_ping_instance_windows_and_manifest(served):
    overlay, bmap, link = served
    info = link.call(P.PING)
    assert info.register_size == bmap.register_space == MANIFEST_BASE + 4 * len(bmap.manifest)
    assert info.channels == len(bmap.channels) == 5
    for name, unit in bmap.units.items():
        assert link.call(P.REG_READ, unit.offset("id"))[0] == kernel_id(unit.kernel.name)
    words = [link.call(P.REG_READ, MANIFEST_BASE + 4 * i)[0] for i in range(len(bmap.manifest))]
    assert decode_manifest(words) == bmap.describe()
    link.call(P.REG_WRITE, 3 * INSTANCE_STRIDE, 7)              # a hole: ignored, reads 0
    assert link.call(P.REG_READ, 3 * INSTANCE_STRIDE)[0] == 0
    with pytest.raises(BoardRequestError) as exc:
        link.call(P.REG_READ, bmap.register_space)
    assert P.STATUS[exc.value.status].name == "BAD_REGISTER"


def test_chain_and_instance_in_one_run_equal_the_golden_models(served):
    _, bmap, link = served
    jobs, regions, _, expected = small_pipeline_call(bmap, np.random.default_rng(5), 300, 9)
    link.call(P.RESET, 4)
    assert link.call(P.RUN, 2000) == (P.RUN_BUDGET, 2000)       # nothing started: the budget
    for ch, address, beats in regions:
        if not ch.output:
            data = memory_image(ch.port, jobs[ch.unit].streams[ch.port.name], ch.stride)
            link.call(P.MEM_WRITE, address, data=data)
        link.call(P.DMA_SETUP, ch.index, address, beats)
    for name in ("gemm0", "crc0", "fir0"):
        unit = bmap.unit(name)
        for word, value in unit.kernel.map.word_writes(jobs[name].registers):
            link.call(P.REG_WRITE, unit.base + 4 * word, value)
    for name in ("gemm0", "crc0", "fir0"):                       # a chain: last instance first
        link.call(P.REG_WRITE, bmap.unit(name).offset("ctrl"), 1)
    reason, cycles = link.call(P.RUN, 100_000)
    assert reason == P.RUN_DONE and cycles < 100_000
    outputs = {}
    for ch, address, beats in regions:
        if ch.output:
            raw = link.call(P.MEM_READ, address, beats * ch.stride)
            outputs[(ch.unit, ch.port.name)] = from_memory_image(
                ch.port, raw, ch.stride, jobs[ch.unit].expect[ch.port.name])
    assert set(outputs) == set(expected)
    for key, want in expected.items():
        np.testing.assert_array_equal(outputs[key], want)


@pytest.mark.parametrize("argv, message", [
    (["--overlay", "{dir}/bad.toml"],
     "hetflow serve: error: {dir}/bad.toml:5: instance 'crc0': unknown kernel 'crc33'"),
    (["crc32", "--overlay", "{dir}/pipeline.toml"],
     "hetflow serve: error: --overlay serves the instances its file lists; drop KERNEL"),
    ([], "hetflow serve: error: name a KERNEL to serve, or an overlay with --overlay FILE"),
])
def test_serve_overlay_bad_input(argv, message, tmp_path, capsys):
    from hetflow.cli import main
    (tmp_path / "pipeline.toml").write_text(PIPELINE)
    (tmp_path / "bad.toml").write_text(PIPELINE.replace('"crc32"', '"crc33"'))
    assert main(["serve", *[a.format(dir=tmp_path) for a in argv], "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(dir=tmp_path)) and err.count("\n") == 1


def test_the_host_reads_the_design_and_runs_one_script_as_the_cpu_does():
    """``hetflow.open("serial:PTY")`` with nothing given: the manifest tells the design, and
    the host script every overlay device runs (on smaller data: the UART is simulated bit by
    bit) gives what the cpu's golden models give."""
    import zlib

    import hetflow

    overlay = parse_overlay(PIPELINE, source="pipeline.toml")
    rng = np.random.default_rng(11)
    x = rng.integers(-2000, 2000, 200).astype(np.int16)
    h = rng.integers(-50, 50, 4).astype(np.int16)
    a = rng.integers(-100, 100, (3, 9)).astype(np.int8)
    b = rng.integers(-100, 100, (9, 2)).astype(np.int8)

    with hetflow.open("cpu", overlay=overlay) as cpu:
        want = pipeline_script(cpu, x, h, a, b)
    with SerialSocSimulation(overlay, baud=TEST_BAUD) as sim, \
            hetflow.open("serial:" + sim.port, baudrate=TEST_BAUD, timeout=2.0) as dev:
        assert dev.design.name == "pipeline"
        got = pipeline_script(dev, x, h, a, b)
    fir = (np.convolve(x.astype(np.int64), h.astype(np.int64))[:len(x)]
           & 0xFFFFFFFF).astype("<u4")
    assert got["kernels"] == want["kernels"] == ["fir0", "crc0", "gemm0"]
    assert got["chains"] == want["chains"] == ["fir0_crc0"]
    assert got["crc"][0] == want["crc"][0] == got["crc2"][0] == zlib.crc32(fir.tobytes())
    for result in (got["c"], got["c2"], want["c"]):
        np.testing.assert_array_equal(result, a.astype(np.int32) @ b.astype(np.int32))
