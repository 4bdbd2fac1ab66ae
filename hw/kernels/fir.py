"""``fir``: an N-tap FIR filter on int16 samples, int32 wrap-around accumulation."""

import numpy as np
from amaranth.hdl import Module, Signal, signed

from ..errors import StimulusError
from ..job import Job
from ..core import KernelCore
from ..kernel import Kernel
from ..spec import Param, Port, Register
from ..stimuli import full, random_ints

__all__ = ["Fir", "FirCore"]


class FirCore(KernelCore):
    """The hardware of :class:`Fir`.

    A ``taps - 1`` deep delay line and ``taps`` multipliers summed in one cycle,
    behind one output register stage; the history is cleared on ``start``.
    """

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        x, y = self.x, self.y
        h = ctl.regs.h

        # delay[k] holds x[n-1-k]; the current sample x[n] comes straight
        # from the stream, so taps - 1 registers hold the whole history.
        delay = [Signal(signed(16), name=f"delay{k}") for k in range(self.p.taps - 1)]
        samples = [x.payload[0]] + delay                  # one signed(16) lane
        acc = sum(hk * s for hk, s in zip(h, samples))

        taken = Signal(32)
        given = Signal(32)
        # The output register can take a new result when empty or being emptied.
        out_free = ~y.valid | y.ready
        more = taken < ctl.length
        m.d.comb += x.ready.eq(ctl.busy & more & out_free)
        fire = x.valid & x.ready

        with m.If(ctl.start):
            m.d.sync += [taken.eq(0), given.eq(0), y.valid.eq(0)]
            m.d.sync += [d.eq(0) for d in delay]
        with m.Else():
            with m.If(y.valid & y.ready):
                m.d.sync += [y.valid.eq(0), given.eq(given + 1)]
            with m.If(fire):
                m.d.sync += [taken.eq(taken + 1), y.valid.eq(1), y.payload.eq(acc[:32])]
                m.d.sync += [d.eq(s) for d, s in zip(delay, samples)]

        m.d.comb += ctl.finish.eq(ctl.busy & (given == ctl.length))
        return m


class Fir(Kernel):
    """y[n] = sum_k h[k]*x[n-k], with x[n<0] = 0, wrapping to int32.

    Every product h[k]*x[n-k] is exact (16x16 bits fit int32); the sum of the
    ``taps`` products wraps modulo 2**32 like int32 C arithmetic.  Without
    overflow this equals ``numpy.convolve(x, h)[:len(x)]``.  Each job starts
    from an empty (all-zero) history.

    Parameters
    ----------
    taps : int
        Number of coefficients, 1..64 (elaboration parameter).

    Notes
    -----
    Stream layout: input ``x`` carries one int16 sample per beat, output
    ``y`` one int32 result per beat; ``len`` is the number of samples and
    ``y`` has ``len`` elements.

    Registers: ``h``, ``taps`` signed 16-bit coefficients (one word each,
    ``h[0]`` weighs the newest sample), written from the runtime scalar
    ``h``, an array of ``taps`` int16 values.

    Resources: ``taps`` 16x16 multipliers (DSPs), a delay line of
    ``taps - 1`` 16-bit registers (the sample on the input stream is the
    ``taps``-th), one adder tree and one 32-bit output register stage; no
    memories.  The adder tree is flat and combinational: fine for simulation,
    but timing closure on a small FPGA with many taps would want a pipelined
    or transposed form.

    Throughput: one sample per cycle without back-pressure.
    """

    name = "fir"
    summary = "N-tap FIR filter, int16 samples and coefficients, int32 wrap-around"
    core = FirCore
    params = (Param("taps", 8, 1, 64, "number of coefficients"),)
    scalars = ("h",)

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int16", doc="input samples"),)

    @classmethod
    def outputs(cls, p):
        return (Port("y", "int32", doc="filtered samples"),)

    @classmethod
    def registers(cls, p):
        return (Register("h", count=p.taps, bits=16, signed=True, array=True,
                         doc="filter coefficients, h[0] weighs the newest sample"),)

    @classmethod
    def golden(cls, p, inputs, scalars):
        x = inputs["x"].astype(np.int64)
        h = np.asarray(scalars["h"], dtype=np.int64).reshape(-1)
        if len(x) == 0:
            return {"y": np.zeros(0, dtype=np.int32)}
        # |sum| <= 64 * 2**30 fits int64 exactly; wrap once at the end.
        y = np.convolve(x, h)[:len(x)] & 0xFFFFFFFF
        return {"y": y.astype(np.uint32).view(np.int32)}

    @classmethod
    def split_elements(cls, p, inputs, scalars, n):
        """Overlap-discard: each piece re-reads the ``taps - 1`` samples before it.

        A piece's first outputs see zeros where the earlier samples were, so
        they are dropped; the rest equal the whole call's.  None when ``n``
        leaves no new output per piece.
        """
        overlap = p.taps - 1
        step = n - overlap
        if step < 1:
            return None
        x = inputs["x"]
        starts = list(range(0, max(len(x), 1), step))
        calls = [({"x": x[max(0, s - overlap):s + step]}, dict(scalars)) for s in starts]
        skips = [s - max(0, s - overlap) for s in starts]

        def merge(results):
            return {"y": np.concatenate([r["y"][k:] for r, k in zip(results, skips)])}
        return calls, merge

    @classmethod
    def prepare(cls, p, inputs, scalars):
        inputs, scalars = cls.check_call(p, inputs, scalars)
        x = inputs["x"]
        if x.ndim != 1:
            raise StimulusError(f"fir: input 'x' must be 1-D, not shape {x.shape}")
        n = len(x)
        return Job(registers={"len": n, "h": scalars["h"]}, streams={"x": x}, expect={"y": n})

    @classmethod
    def throughput(cls, p):
        return 1.0, "sample"

    @classmethod
    def cases(cls, p, rng, count):
        taps = p.taps
        # Long enough to fill the delay line and run past it at full history.
        fill = 2 * taps + 3

        def coeffs():
            return random_ints(rng, "int16", taps)

        out = [
            ({"x": random_ints(rng, "int16", 1)}, {"h": coeffs()}),
            # Every product is +2**30: the running sum wraps through int32 min.
            ({"x": full("int16", fill, "min")}, {"h": full("int16", taps, "min")}),
            ({"x": full("int16", fill, "max")}, {"h": full("int16", taps, "max")}),
            ({"x": full("int16", fill, "max")}, {"h": full("int16", taps, "min")}),
            ({"x": random_ints(rng, "int16", 1000)}, {"h": coeffs()}),
        ]
        while len(out) < count:
            n = int(rng.integers(1, 4 * taps + 16, endpoint=True))
            out.append(({"x": random_ints(rng, "int16", n)}, {"h": coeffs()}))
        return out[:count]
