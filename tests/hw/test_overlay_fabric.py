"""An overlay's fabric alone in amaranth.sim: instances programmed over their register
buses, a chain fed and drained with gaps and back-pressure, results equal to the composed
golden models."""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hetflow.hw.job import pack_beats, unpack_beats
from hetflow.hw.overlay import Overlay, compose, derive_jobs
from hetflow.hw.overlay.fabric import OverlayFabric, StreamFIFO


def overlay():
    ov = Overlay("pipe")
    ov.add("fir0", "fir", taps=4)
    ov.add("crc0", "crc32", lanes=4)
    ov.add("dot0", "dot", lanes=1)
    ov.connect("fir0.y", "crc0.data", depth=2, reinterpret=True)
    return ov


def test_members_are_the_unchained_ports():
    fabric = OverlayFabric(overlay())
    Fragment.get(fabric, None)          # elaborates (and uses) every shell and FIFO
    members = {name: sorted(m.signature.members) for name, m in fabric.signature.members.items()}
    assert members == {"fir0": ["csr", "x"], "crc0": ["crc", "csr"], "dot0": ["csr", "out", "x", "y"]}
    assert [p.name for p in fabric.host_ports("crc0")[1]] == ["crc"]
    assert fabric.host_ports("crc0")[0] == ()


def test_stream_fifo_refuses_unequal_widths():
    with pytest.raises(ValueError, match="^a StreamFIFO joins payloads of equal width, not 32 "
                                         "and 8 bits$"):
        StreamFIFO(32, 8, 4)


async def write(ctx, csr, word, value):
    ctx.set(csr.addr, word)
    ctx.set(csr.w_data, int(value) & 0xFFFFFFFF)
    ctx.set(csr.w_stb, 1)
    await ctx.tick()
    ctx.set(csr.w_stb, 0)


async def program(ctx, fabric, name, job):
    csr = getattr(fabric, name).csr
    for word, value in fabric.shells[name].map.word_writes(job.registers):
        await write(ctx, csr, word, value)


def test_chain_and_instance_equal_the_golden_models():
    ov = overlay()
    fabric = OverlayFabric(ov)
    rng = np.random.default_rng(5)
    x = rng.integers(-2**15, 2**15, 23, dtype=np.int16)
    h = rng.integers(-2**15, 2**15, 4, dtype=np.int16)
    dx, dy = (rng.integers(-2**15, 2**15, 9, dtype=np.int16) for _ in range(2))
    chain = ov.chains["fir0_crc0"]
    inputs, scalars = {("fir0", "x"): x}, {"fir0": {"h": h}}
    jobs = derive_jobs(ov, chain, inputs, scalars)
    expected = compose(ov, chain, inputs, scalars)[("crc0", "crc")]
    dot_job = ov.instances["dot0"].kernel_cls.prepare(ov.instances["dot0"].params,
                                                      {"x": dx, "y": dy}, {})
    feeds = {(fabric.fir0.x, fabric.shells["fir0"].in_ports[0]): list(x),
             (fabric.dot0.x, fabric.shells["dot0"].in_ports[0]): list(dx),
             (fabric.dot0.y, fabric.shells["dot0"].in_ports[1]): list(dy)}
    drains = {"crc": (fabric.crc0.crc, []), "out": (fabric.dot0.out, [])}

    async def testbench(ctx):
        for name, job in (("crc0", jobs["crc0"]), ("fir0", jobs["fir0"]), ("dot0", dot_job)):
            await program(ctx, fabric, name, job)
        for name in ("crc0", "fir0", "dot0"):
            await write(ctx, getattr(fabric, name).csr, 0, 1)          # ctrl: start
        queues = {key: [pack_beats(key[1], [v])[0] for v in values]
                  for key, values in feeds.items()}
        for cycle in range(3000):
            for (port, _), queue in queues.items():
                offer = bool(queue) and rng.random() < 0.7               # valid gaps
                ctx.set(port.valid, offer)
                if offer:
                    ctx.set(port.payload.as_value(), queue[0])
            for port, got in drains.values():
                ctx.set(port.ready, rng.random() < 0.4)                  # back-pressure
            await ctx.delay(1e-9)
            for (port, _), queue in queues.items():
                if ctx.get(port.valid) and ctx.get(port.ready):
                    queue.pop(0)
            for port, got in drains.values():
                if ctx.get(port.valid) and ctx.get(port.ready):
                    got.append(ctx.get(port.payload.as_value()))
            await ctx.tick()
            if all(got for _, got in drains.values()) and not any(queues.values()):
                break

    sim = Simulator(fabric)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    crc_port = fabric.shells["crc0"].out_ports[0]
    out_port = fabric.shells["dot0"].out_ports[0]
    assert unpack_beats(crc_port, drains["crc"][1], 1)[0] == expected[0]
    golden = ov.instances["dot0"].kernel_cls.golden(ov.instances["dot0"].params,
                                                    {"x": dx, "y": dy}, {})["out"]
    assert unpack_beats(out_port, drains["out"][1], 1)[0] == golden[0]
