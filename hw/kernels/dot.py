"""``dot``: sum(x[i]*y[i]) of two int16 vectors, exact in an int64 accumulator."""

import numpy as np
from amaranth.hdl import Module, Signal, signed

from ..errors import StimulusError
from ..job import Job, split_elementwise
from ..core import KernelCore
from ..kernel import Kernel
from ..spec import Param, Port
from ..stimuli import full, random_ints
from .pipeline import beats_of

__all__ = ["Dot", "DotCore"]

#: Largest job: ``len`` is a 32-bit register.
MAX_LEN = 2**32 - 1


class DotCore(KernelCore):
    """The hardware of :class:`Dot`.

    Products registered (the DSP output register), then summed into a 64-bit
    accumulator; the sum is offered once every beat is taken and added.
    """

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        lanes = self.p.lanes
        x, y, out = self.x, self.y, self.out

        beats = beats_of(m, ctl.length, lanes)
        taken = Signal(32)
        more = taken < beats
        both_valid = x.valid & y.valid
        fire = ctl.busy & more & both_valid
        # Take a beat only when both streams offer one, so they stay in lock-step.
        m.d.comb += [x.ready.eq(ctl.busy & more & both_valid),
                     y.ready.eq(ctl.busy & more & both_valid)]

        # Stage 1: the products, registered (the DSP output register).
        prods = [Signal(signed(32), name=f"prod{i}") for i in range(lanes)]
        prods_valid = Signal()
        # Stage 2: the accumulator (the sum truncates to 64 bits: int64 wrap).
        acc = Signal(signed(64))

        with m.If(ctl.start):
            m.d.sync += [taken.eq(0), prods_valid.eq(0), acc.eq(0)]
        with m.Else():
            m.d.sync += prods_valid.eq(fire)
            with m.If(fire):
                m.d.sync += taken.eq(taken + 1)
                for i, prod in enumerate(prods):
                    xi, yi = x.payload[i], y.payload[i]        # signed(16) lanes
                    m.d.sync += prod.eq(xi * yi)
            with m.If(prods_valid):
                m.d.sync += acc.eq(acc + sum(prods))

        # The result is ready once every beat is taken and the last products are
        # in the accumulator; valid depends only on state, so it holds until taken.
        m.d.comb += [out.valid.eq(ctl.busy & ~more & ~prods_valid),
                     out.payload.eq(acc),
                     ctl.finish.eq(out.valid & out.ready)]
        return m


class Dot(Kernel):
    """Dot product ``out = sum(x[i] * y[i])`` of two int16 vectors.

    Semantics
    ---------
    Each product is an exact 32-bit signed value and the sum is kept in a
    64-bit two's complement accumulator (int64 wrap-around).  With at most
    2**32 - 1 elements of magnitude at most 2**30 the sum stays below 2**62,
    so it never actually wraps: the result is the exact dot product.  An
    empty job (``len`` = 0) gives 0.

    Stream layout
    -------------
    ``x`` and ``y`` carry ``lanes`` int16 elements per beat, element ``i`` in
    payload bits ``[16*i, 16*(i+1))``; ``ceil(len/lanes)`` beats are consumed
    from each, in lock-step.  The host pads the last beat with zeros, which
    add nothing to the sum.  ``out`` carries one int64 beat at the end.

    Registers
    ---------
    Only the common ``len`` (number of elements).

    Resources
    ---------
    ``lanes`` 16x16 signed multipliers (one DSP each) with a registered output,
    an adder tree of ``lanes`` products and one 64-bit accumulator.  No memory.

    Throughput
    ----------
    One beat per cycle, i.e. ``1/lanes`` cycles per element, plus a few
    cycles of latency per job (pipeline drain and the result beat).
    """

    name = "dot"
    summary = "out = sum(x*y), int16 inputs, int64 accumulator"
    core = DotCore
    params = (Param("lanes", 1, 1, 8, "elements per cycle per input", choices=(1, 2, 4, 8)),)
    scalars = ()

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int16", p.lanes), Port("y", "int16", p.lanes))

    @classmethod
    def outputs(cls, p):
        return (Port("out", "int64", 1, doc="the dot product"),)

    @classmethod
    def golden(cls, p, inputs, scalars):
        # int64 matches the accumulator; NumPy's int64 dot wraps like it would.
        x = inputs["x"].astype(np.int64)
        y = inputs["y"].astype(np.int64)
        return {"out": np.array([np.dot(x, y)], dtype=np.int64)}

    @classmethod
    def split_elements(cls, p, inputs, scalars, n):
        """Pieces of ``n`` elements; their int64 sums add with the accumulator's wrap-around."""
        calls, _ = split_elementwise(inputs, scalars, n, ())

        def merge(results):
            parts = np.array([r["out"][0] for r in results], dtype=np.int64)
            return {"out": np.array([parts.sum(dtype=np.int64)], dtype=np.int64)}
        return calls, merge

    @classmethod
    def prepare(cls, p, inputs, scalars):
        inputs, scalars = cls.check_call(p, inputs, scalars)
        for name in ("x", "y"):
            if inputs[name].ndim != 1:
                raise StimulusError(f"dot: input '{name}' has shape {inputs[name].shape}; "
                                    f"expected a 1-D array")
        n = len(inputs["x"])
        if len(inputs["y"]) != n:
            raise StimulusError(f"dot: input 'y' has {len(inputs['y'])} elements but 'x' "
                                f"has {n}; they must be equal")
        if n > MAX_LEN:
            raise StimulusError(f"dot: length {n} is out of range; allowed 0..{MAX_LEN}")
        return Job(registers={"len": n}, streams=dict(inputs),
                   expect={"out": cls.output_length(p, n)})

    @classmethod
    def output_length(cls, p, n):
        return 1

    @classmethod
    def throughput(cls, p):
        return float(p.lanes), "element"

    @classmethod
    def cases(cls, p, rng, count):
        info = np.iinfo(np.int16)
        out = [
            # Shortest jobs: nothing to sum, then a single element.
            (np.zeros(0, np.int16), np.zeros(0, np.int16)),
            (random_ints(rng, "int16", 1), random_ints(rng, "int16", 1)),
            # Largest positive products; 17 is not a multiple of any lanes > 1.
            (full("int16", 17, "max"), full("int16", 17, "max")),
            # min*min = 2**30, the largest product: a long job reaches ~2**40.
            (full("int16", 999, "min"), full("int16", 999, "min")),
            # min*max: the most negative product.
            (full("int16", 9, "min"), np.full(9, info.max, np.int16)),
            (random_ints(rng, "int16", 1000), random_ints(rng, "int16", 1000)),
        ]
        while len(out) < count:
            n = int(rng.integers(1, 64, endpoint=True))
            out.append((random_ints(rng, "int16", n), random_ints(rng, "int16", n)))
        return [({"x": x, "y": y}, {}) for x, y in out[:count]]
