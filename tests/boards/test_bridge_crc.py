"""The bridge's CRC-32 engine (hetflow.boards.bridge.crc), in amaranth.sim, against zlib."""

import random
import zlib

import pytest
from amaranth.sim import Simulator

from hetflow.boards.bridge.crc import SerialCrc32
from hetflow.hw.errors import ParamError


def run(engine, steps):
    """Offer each step to ``engine`` as soon as it is ready, with random gaps.

    A step is ``("byte", b)``, ``("turn",)`` or ``("clear",)``; after each,
    the bench waits until the engine is ready again and notes its value and
    the cycles the step took.  Returns ``[(value, cycles), ...]``.
    """
    rng = random.Random(1)
    port = engine.port
    seen = []

    async def bench(ctx):
        for step in steps:
            await ctx.tick().repeat(rng.choice([1, 1, 3]))
            start = 0
            if step[0] == "clear":
                ctx.set(port.clear, 1)
                assert not ctx.get(port.byte.ready)     # nothing is taken while clearing
                await ctx.tick()
                ctx.set(port.clear, 0)
            else:
                ctx.set(port.byte.payload, {"data": step[1] if step[0] == "byte" else 0xA5,
                                            "turn": step[0] == "turn"})
                ctx.set(port.byte.valid, 1)
                assert ctx.get(port.byte.ready)
                await ctx.tick()
                ctx.set(port.byte.valid, 0)
                start = 1
                while not ctx.get(port.byte.ready):
                    start += 1
                    await ctx.tick()
            seen.append((ctx.get(port.value), start))

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("bits_per_cycle", [1, 2, 4, 8])
def test_bytes_fold_as_zlib_does_and_turns_rotate_a_byte(bits_per_cycle):
    message = bytes(random.Random(bits_per_cycle).randrange(256) for _ in range(7))
    steps = ([("byte", b) for b in message] + [("turn",)] * 4
             + [("clear",), ("byte", 0x31), ("turn",)])
    seen = run(SerialCrc32(bits_per_cycle), steps)
    want = [zlib.crc32(message[:i + 1]) for i in range(len(message))]
    crc = want[-1]
    want += [(crc >> 8 * k | crc << 32 - 8 * k) & 0xFFFFFFFF for k in (1, 2, 3, 4)]
    one = zlib.crc32(b"1")
    want += [0, one, (one >> 8 | one << 24) & 0xFFFFFFFF]
    assert [v for v, _ in seen] == want
    # A byte (or a turn) keeps the engine for 8 // bits_per_cycle cycles in all.
    assert {c for (_, c), s in zip(seen, steps) if s[0] != "clear"} == {8 // bits_per_cycle}


@pytest.mark.parametrize("bits_per_cycle", [0, 3, 16, "1"])
def test_bad_bits_per_cycle(bits_per_cycle):
    with pytest.raises(ParamError, match=rf"^CRC engine bits_per_cycle = {bits_per_cycle!r} is "
                                         r"not allowed; choose one of 1, 2, 4, 8$"):
        SerialCrc32(bits_per_cycle)
