"""``clamp``: limit int16 samples to [lo, hi], lo and hi set at run time."""

import numpy as np
from amaranth.hdl import Module, Mux

from hetflow.hw import Kernel, KernelCore, Param, Port, Register
from hetflow.hw.kernels.pipeline import elementwise
from hetflow.hw.stimuli import lengths, random_ints


class ClampCore(KernelCore):
    """The hardware of :class:`Clamp`."""

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        lo, hi = ctl.regs.lo, ctl.regs.hi

        def compute(x):
            lanes = []
            for i in range(self.p.lanes):
                v = x[i]                         # lane i, signed(16)
                raised = Mux(v < lo, lo, v)
                lanes.append(Mux(raised > hi, hi, raised)[:16])
            return lanes

        elementwise(m, ctl, [self.x], self.y, self.p.lanes, compute)
        return m


class Clamp(Kernel):
    """y[i] = min(max(x[i], lo), hi) on int16 samples, ``lanes`` per cycle.

    If lo > hi the result is hi (the max is applied first, like ``np.clip``).
    Resources: two comparators per lane, no multipliers.
    """

    name = "clamp"
    summary = "clip int16 samples to [lo, hi]"
    core = ClampCore
    params = (Param("lanes", 1, 1, 8, "elements per cycle", choices=(1, 2, 4, 8)),)
    scalars = ("lo", "hi")

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int16", p.lanes),)

    @classmethod
    def outputs(cls, p):
        return (Port("y", "int16", p.lanes),)

    @classmethod
    def registers(cls, p):
        return (Register("lo", bits=16, signed=True), Register("hi", bits=16, signed=True))

    @classmethod
    def golden(cls, p, inputs, scalars):
        x = inputs["x"]
        return {"y": np.minimum(np.maximum(x, np.int16(scalars["lo"])), np.int16(scalars["hi"]))}

    @classmethod
    def cases(cls, p, rng, count):
        out = []
        for n in lengths(rng, count):
            lo, hi = sorted(int(v) for v in random_ints(rng, "int16", 2))
            out.append(({"x": random_ints(rng, "int16", n)}, {"lo": lo, "hi": hi}))
        return out
