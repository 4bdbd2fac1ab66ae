"""The frame bridge's safety proofs (hetflow.formal.bridge), with the real yowasp-sby.

The quick tests run two mutants, which must fail naming their property, and the CRC
proof of a scripted empty frame; a scripted 9-byte frame that writes to the bus (with its
covers) and the full plan (``python -m hetflow.formal``) are slow tests.
"""

import gc
import warnings
from pathlib import Path

import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

import hetflow.formal.bridge as bridge_module
from hetflow.formal import bmc, cover
from hetflow.formal.__main__ import PLAN, RETRY_DEPTH, main
from hetflow.formal.bridge import BridgeHarness
from hetflow.hw.errors import ParamError
from hetflow.link.framing import encode_frame
from hetflow.link.protocol import RESET, encode_request

SOLVER = "boolector"
SOURCE = Path(bridge_module.__file__)


def line_of(message):
    """``file:line`` of the property with ``message`` in the harness source."""
    lines = SOURCE.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if f'"{message}"' in line)
    # The message may sit on the continuation line of the Assert(...) call.
    while "Assert(" not in lines[number - 1] and "Cover(" not in lines[number - 1]:
        number -= 1
    return f"{SOURCE}:{number}"



def test_a_forged_crc_is_caught(kept):
    # A scripted empty frame: its last CRC byte comes at step 10, the bridge commits it a
    # cycle later and begins the response (BAD_LENGTH: no request header) at step 21.
    result = bmc(BridgeHarness("crc", mutation="forge_crc", frame=0), depth=22, solver=SOLVER)
    kept(result)
    assert result.status == "FAIL", result.summary()
    (failed,) = result.failed
    message = "a response only to a frame whose CRC matched"
    assert failed.name == message
    assert failed.src == line_of(message)
    assert failed.step == 21
    assert result.trace.is_file()


def test_an_oversized_length_must_be_dropped_at_once(kept):
    result = bmc(BridgeHarness("oversize", mutation="lax_limits"), depth=12, solver=SOLVER)
    kept(result)
    assert result.status == "FAIL", result.summary()
    message = "an oversized length is dropped at once"
    assert [(c.name, c.src) for c in result.failed] == [(message, line_of(message))]
    assert result.failed[0].step == 7       # reset, sync, seq, 4 length bytes: 7 cycles


def test_an_empty_frame_is_answered_only_with_its_crc():
    proof = bmc(BridgeHarness(properties="crc", frame=0), depth=22, solver=SOLVER)
    assert proof.status == "PASS", proof.summary()
    assert proof.method == "bounded, depth 22"


@pytest.mark.slow
def test_one_frame_reaches_the_bus_only_with_its_crc():
    harness = dict(properties="crc", frame=9)
    covers = cover(BridgeHarness(**harness), depth=44, solver=SOLVER)
    assert covers.status == "PASS", covers.summary()
    steps = {c.name: c.step for c in covers.covers}
    # 19 bytes in, the CRC judged, then the executor reads 17 stored bytes (the first
    # already on the ring's read port), decides, writes.
    assert steps["a good frame writes to the bus"] == 41
    assert steps["a bad-CRC frame is received whole and dropped"] == 20
    proof = bmc(BridgeHarness(**harness), depth=44, solver=SOLVER)
    assert proof.status == "PASS", proof.summary()
    assert proof.method == "bounded, depth 44"


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_the_retry_depth_reaches_the_retrys_answer():
    # The retry set's cover needs the shortest writing request (RESET), its execution and
    # response, the same frame again and the start of its answer.  Simulated on the
    # harness's own bridge at the fastest pace the harness allows (bytes back to back while
    # the bridge is idle or receiving, the transmit side always ready), formal step 0
    # being the reset cycle: RETRY_DEPTH must reach that step, and no further.
    bridge = BridgeHarness("retry").bridge
    frame = encode_frame(1, encode_request(RESET, 1))
    seen = {}

    async def host(ctx):
        ctx.set(bridge.tx.ready, 1)
        step = 1
        for name in ("request", "retry"):
            sent = 0
            while sent < len(frame) or ctx.get(bridge.busy):
                allowed = sent < len(frame) and (not ctx.get(bridge.busy)
                                                 or ctx.get(bridge.receiving))
                ctx.set(bridge.rx.valid, allowed)
                ctx.set(bridge.rx.payload, frame[min(sent, len(frame) - 1)])
                took = allowed and ctx.get(bridge.rx.ready)
                if ctx.get(bridge.bus.w_stb):
                    seen.setdefault(f"{name} writes", step)
                if ctx.get(bridge.tx.valid):
                    seen.setdefault(f"{name} answered", step)
                    if name == "retry":
                        return
                await ctx.tick()
                step += 1
                sent += took

    sim = Simulator(bridge)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.run_until(1e-3)
    assert seen == {"request writes": 41, "request answered": 42,
                    "retry answered": RETRY_DEPTH - 1}, seen


@pytest.mark.parametrize("kwargs, message", [
    ({"properties": "liveness"}, "bridge property set 'liveness' is not known"),
    ({"properties": "crc", "mutation": "no_crc"}, "bridge mutation 'no_crc' is not known"),
    ({"properties": "crc", "frame": 13}, "scripted frame length 13 is not allowed; use 0..12"),
])
def test_bad_harness_parameters(kwargs, message):
    with warnings.catch_warnings():
        # The half-made harness is never elaborated: Amaranth would say so when it is freed.
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ParamError, match=message) as info:
            BridgeHarness(**kwargs)
        del info
        gc.collect()


def test_every_property_set_has_covers_a_proof_and_a_failing_mutant():
    for properties in ("crc", "retry", "oversize"):
        lines = [(mode, options.get("mutation"), expect)
                 for _, p, mode, _, options, expect in PLAN if p == properties]
        assert ("cover", None, "PASS") in lines
        assert ("bmc", None, "PASS") in lines
        assert any(m is not None and e == "FAIL" for _, m, e in lines)


@pytest.mark.slow
def test_the_whole_plan(capsys):
    assert main([]) == 0, capsys.readouterr().out


def test_a_run_that_times_out_is_unknown_and_says_how_far_it_got(kept):
    # On a free line, the CRC set does not finish depth 40 in seconds (see docs/formal.md).
    result = bmc(BridgeHarness("crc"), depth=40, solver=SOLVER, timeout=8)
    kept(result)
    assert result.status == "UNKNOWN", result.summary()
    assert "timed out after 8 s" in result.detail
    assert result.steps is not None and result.steps < 40
    assert result.workdir.is_dir()
