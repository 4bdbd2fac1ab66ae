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
    lock-step, applies ``compute(*payloads)`` and emits the results on
    ``out`` through one register stage, then raises ``ctl.finish`` after the
    last output beat is accepted.  Each payload is the stream's
    ``data.ArrayLayout`` view (``x[i]`` is lane ``i``, typed as the port's
    dtype); ``compute`` returns one value per output lane.
    """
    # The job's size is fixed from the start pulse on (the shell ignores register
    # writes while busy), so it is needed only at start: it loads two down-counters,
    # and "more input to take" / "all output given" are kept as registers updated
    # one beat ahead.  Comparing live counters against ``beats`` instead (a 32-bit
    # magnitude compare behind the ``len`` adder) sat in front of every stream's
    # ready, the payload register's enable and ``finish``: the kernel's longest path
    # on the iCE40UP5K.  What remains between registers is a decrement and a
    # compare with 1.
    beats = beats_of(m, ctl.length, lanes)
    to_take = Signal.like(beats, name="to_take")     # input beat sets not yet taken
    to_give = Signal.like(beats, name="to_give")     # output beats not yet accepted
    more = Signal(name="more")                       # == (to_take != 0)
    all_given = Signal(name="all_given")             # == (to_give == 0)

    out_free = ~out.valid | out.ready
    all_valid = Cat(s.valid for s in ins).all()
    fire = ctl.busy & more & all_valid & out_free
    for s in ins:
        m.d.comb += s.ready.eq(ctl.busy & more & out_free & all_valid)

    with m.If(ctl.start):
        m.d.sync += [to_take.eq(beats), to_give.eq(beats),
                     more.eq(beats != 0), all_given.eq(beats == 0), out.valid.eq(0)]
    with m.Else():
        with m.If(out.valid & out.ready):
            m.d.sync += [out.valid.eq(0), to_give.eq(to_give - 1), all_given.eq(to_give == 1)]
        with m.If(fire):
            m.d.sync += [to_take.eq(to_take - 1), more.eq(to_take != 1), out.valid.eq(1),
                         out.payload.eq(Cat(*compute(*[s.payload for s in ins])))]

    m.d.comb += ctl.finish.eq(ctl.busy & all_given)
