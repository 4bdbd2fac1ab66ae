"""``saxpy``: z = a*x + y on int32 vectors, wrapping like int32 C arithmetic."""

import numpy as np
from amaranth.hdl import Module

from ..core import KernelCore
from ..kernel import Kernel
from ..spec import Param, Port, Register
from ..job import split_elementwise
from ..stimuli import full, lengths, random_ints
from .pipeline import elementwise

__all__ = ["Saxpy", "SaxpyCore"]


class SaxpyCore(KernelCore):
    """The hardware of :class:`Saxpy`.

    ``lanes`` lanes of a*x[i] + y[i] behind one output register stage (see
    :func:`~hetflow.hw.kernels.pipeline.elementwise`).
    """

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        a = ctl.regs.a

        def compute(x, y):
            # x[i], y[i]: lane i, signed(32) as the port's dtype says.
            return [(a * x[i] + y[i])[:32] for i in range(self.p.lanes)]

        elementwise(m, ctl, [self.x, self.y], self.z, self.p.lanes, compute)
        return m


class Saxpy(Kernel):
    """z[i] = a*x[i] + y[i] (int32, wrap-around), ``lanes`` elements per cycle.

    Resources: ``lanes`` 32x32 multipliers (DSPs), one output register stage.
    Throughput: ``lanes`` elements per cycle without back-pressure.
    """

    name = "saxpy"
    summary = "z = a*x + y, int32 wrap-around"
    core = SaxpyCore
    params = (Param("lanes", 1, 1, 8, "elements per cycle", choices=(1, 2, 4, 8)),)
    scalars = ("a",)

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int32", p.lanes), Port("y", "int32", p.lanes))

    @classmethod
    def outputs(cls, p):
        return (Port("z", "int32", p.lanes),)

    @classmethod
    def registers(cls, p):
        return (Register("a", signed=True, doc="scale factor"),)

    @classmethod
    def golden(cls, p, inputs, scalars):
        x = inputs["x"].astype(np.int64)
        y = inputs["y"].astype(np.int64)
        z = (np.int64(scalars["a"]) * x + y) & 0xFFFFFFFF
        return {"z": z.astype(np.uint32).view(np.int32)}

    @classmethod
    def split_elements(cls, p, inputs, scalars, n):
        """Element-wise: any cut works; the pieces' outputs are concatenated."""
        return split_elementwise(inputs, scalars, n, ("z",))

    @classmethod
    def throughput(cls, p):
        return float(p.lanes), "element"

    @classmethod
    def cases(cls, p, rng, count):
        out = []
        for i, n in enumerate(lengths(rng, count)):
            if i == 2:
                x, y, a = full("int32", 17, "max"), full("int32", 17, "max"), 2**31 - 1
            elif i == 3:
                x, y, a = full("int32", 9, "min"), full("int32", 9, "min"), -2**31
            else:
                x, y = random_ints(rng, "int32", n), random_ints(rng, "int32", n)
                a = int(random_ints(rng, "int32", 1)[0])
            out.append(({"x": x, "y": y}, {"a": a}))
        return out
