"""Building blocks shared by kernel cores."""

from amaranth.hdl import Cat, Signal

__all__ = ["elementwise", "beats_of"]


def beats_of(m, length, lanes):
    """Signal holding ceil(length / lanes), for ``lanes`` a power of two."""
    shift = lanes.bit_length() - 1
    beats = Signal(32 - shift + 1, name="beats")
    m.d.comb += beats.eq((length + lanes - 1) >> shift)
    return beats


def elementwise(m, ctl, ins, out, lanes, compute):
    """An element-wise core: one output beat per set of input beats.

    Consumes ``ceil(len/lanes)`` beats from every stream of ``ins`` in
    lock-step, applies ``compute(*payloads)`` (which returns one value per
    lane) and emits the results on ``out`` through one register stage, then
    raises ``ctl.finish`` after the last output beat is accepted.
    """
    beats = beats_of(m, ctl.length, lanes)
    taken = Signal(32, name="taken")
    given = Signal(32, name="given")

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
