"""The element-wise core of hw/kernels/pipeline.py, cycle by cycle against a reference.

The reference is the first, straightforward form of the core (compare a
counter with ``ceil(len/lanes)`` every cycle).  The core in use keeps those
comparisons in registers for timing; it must not change anything a stream
partner or the shell can see: ready, valid, payload and finish on every cycle.
"""

import random

import pytest
from amaranth.hdl import Cat, Module, Signal
from amaranth.sim import Simulator

from hetflow.hw.kernels.pipeline import beats_of, elementwise


def _reference(m, ctl, ins, out, lanes, compute):
    beats = beats_of(m, ctl.length, lanes)
    taken = Signal(32)
    given = Signal(32)
    out_free = ~out.valid | out.ready
    more = taken < beats
    all_valid = Cat(s.valid for s in ins).all()
    fire = ctl.busy & more & all_valid & out_free
    for s in ins:
        m.d.comb += s.ready.eq(ctl.busy & more & out_free & all_valid)
    with m.If(ctl.start):
        m.d.sync += [taken.eq(0), given.eq(0), out.valid.eq(0)]
    with m.Else():
        with m.If(out.valid & out.ready):
            m.d.sync += [out.valid.eq(0), given.eq(given + 1)]
        with m.If(fire):
            m.d.sync += [taken.eq(taken + 1), out.valid.eq(1),
                         out.payload.eq(Cat(*compute(*[s.payload for s in ins])))]
    m.d.comb += ctl.finish.eq(ctl.busy & (given == beats))


class _Stream:
    def __init__(self, width, name):
        self.valid = Signal(name=f"{name}_valid")
        self.ready = Signal(name=f"{name}_ready")
        self.payload = Signal(width, name=f"{name}_payload")


class _Ctl:
    """The part of the shell's Control the core sees, with the shell's busy rule."""

    def __init__(self, m, name, start, length):
        self.start, self.length = start, length
        self.busy = Signal(name=f"{name}_busy")
        self.finish = Signal(name=f"{name}_finish")
        with m.If(start):
            m.d.sync += self.busy.eq(1)
        with m.Elif(self.busy & self.finish):
            m.d.sync += self.busy.eq(0)


def _core(m, name, build, lanes, start, length, valids, payloads, ready):
    ctl = _Ctl(m, name, start, length)
    ins = [_Stream(8 * lanes, f"{name}_in{i}") for i in range(2)]
    out = _Stream(8 * lanes, f"{name}_out")
    for s, v, d in zip(ins, valids, payloads):
        m.d.comb += [s.valid.eq(v), s.payload.eq(d)]
    m.d.comb += out.ready.eq(ready)

    def compute(a, b):
        return [(a[8 * i:8 * i + 8] + b[8 * i:8 * i + 8])[:8] for i in range(lanes)]

    build(m, ctl, ins, out, lanes, compute)
    return [ctl.busy, ctl.finish, out.valid, out.payload] + [s.ready for s in ins]


@pytest.mark.parametrize("lanes", [1, 4])
def test_same_as_reference_every_cycle(lanes):
    m = Module()
    start, length, ready = Signal(), Signal(32), Signal()
    valids = [Signal(), Signal()]
    payloads = [Signal(8 * lanes), Signal(8 * lanes)]
    args = (lanes, start, length, valids, payloads, ready)
    got = _core(m, "dut", elementwise, *args)
    want = _core(m, "ref", _reference, *args)
    rng = random.Random(lanes)
    # Lengths around the lane count, zero, and last a large one that is not finished
    # (the counters' upper bits), each job started with random stream stalls.
    lengths = [0, 1, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, 37, 5, 0, 0xFFFF_FFFF]
    seen = {"finish": 0, "fire": 0}

    async def bench(ctx):
        for n in lengths:
            ctx.set(length, n)          # the shell only writes len while idle
            await ctx.tick()
            ctx.set(start, 1)
            await ctx.tick()
            ctx.set(start, 0)
            for cycle in range(400):
                for v, d in zip(valids, payloads):
                    ctx.set(v, rng.random() < 0.7)
                    ctx.set(d, rng.getrandbits(8 * lanes))
                ctx.set(ready, rng.random() < 0.6)
                a, b = [ctx.get(s) for s in got], [ctx.get(s) for s in want]
                assert a == b, f"len={n} cycle {cycle}: got {a}, reference {b}"
                seen["fire"] += a[4] and ctx.get(valids[0]) and ctx.get(valids[1])
                if a[1]:
                    seen["finish"] += 1
                await ctx.tick()
                if not ctx.get(want[0]):
                    break

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # Every job but the huge one finished, and data did flow.
    assert seen["finish"] == len(lengths) - 1 and seen["fire"] > 50, seen
