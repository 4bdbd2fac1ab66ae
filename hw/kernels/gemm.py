"""``gemm``: one int8 x int8 -> int32 matrix-multiply tile on a rows x cols multiplier array."""

import numpy as np
from amaranth.hdl import Cat, Module, Signal, signed

from ..errors import StimulusError
from ..job import Job
from ..core import KernelCore
from ..kernel import Kernel
from ..spec import Param, Port
from ..stimuli import full, lengths, random_ints

__all__ = ["Gemm", "GemmCore"]

#: Largest K a job may have: the beat counter is 16 bits wide.
MAX_K = 0xFFFF


class GemmCore(KernelCore):
    """The hardware of :class:`Gemm`.

    An outer-product array of ``rows x cols`` multiply-accumulators; C is sent
    one row per beat once K columns of A and rows of B are taken.
    """

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        rows, cols = self.p.rows, self.p.cols
        a, b, c = self.a, self.b, self.c

        k = ctl.length[:16]                 # K <= MAX_K; higher bits of len are ignored
        taken = Signal(16)                  # beats of a/b consumed so far
        given = Signal(range(rows))         # rows of C accepted so far
        acc = [[Signal(signed(32), name=f"acc_{i}_{j}") for j in range(cols)]
               for i in range(rows)]

        accumulating = ctl.busy & (taken != k)
        # Lock-step: each stream is taken only when the other one has a beat too.
        m.d.comb += [a.ready.eq(accumulating & b.valid),
                     b.ready.eq(accumulating & a.valid)]
        fire = accumulating & a.valid & b.valid

        # Row 0 of the accumulator array is always the row on offer; accepting
        # it shifts the rows up, so no row multiplexer is needed.
        m.d.comb += [c.valid.eq(ctl.busy & (taken == k)),
                     c.payload.eq(Cat(*acc[0]))]
        accepted = c.valid & c.ready
        m.d.comb += ctl.finish.eq(accepted & (given == rows - 1))

        with m.If(ctl.start):
            m.d.sync += [taken.eq(0), given.eq(0)]
            m.d.sync += [s.eq(0) for row in acc for s in row]
        with m.Elif(fire):
            m.d.sync += taken.eq(taken + 1)
            for i in range(rows):
                ai = a.payload[i]                                # signed(8) lane
                for j in range(cols):
                    bj = b.payload[j]
                    # The 33-bit sum is truncated to 32 bits: int32 wrap-around.
                    m.d.sync += acc[i][j].eq(acc[i][j] + ai * bj)
        with m.Elif(accepted):
            m.d.sync += given.eq(given + 1)
            for i in range(rows - 1):
                m.d.sync += [acc[i][j].eq(acc[i + 1][j]) for j in range(cols)]
        return m


class Gemm(Kernel):
    """C = A @ B for one tile: A is (rows, K) int8, B is (K, cols) int8, C is (rows, cols) int32.

    Semantics
        ``C[i, j] = sum_k A[i, k] * B[k, j]`` computed with 32-bit accumulators
        that wrap like int32 C arithmetic.  Within the allowed K (1..65535) the
        sum cannot actually leave the int32 range (65535 * 128 * 128 < 2**31),
        but the golden model wraps anyway so it states the hardware exactly.

    Tile and stream layout
        The tile is an outer-product array of ``rows x cols`` multipliers, one
        per element of C.  Input ``a`` carries one *column* of A per beat
        (``rows`` int8 lanes, lane ``i`` = ``A[i, k]``), so its element stream
        is ``A.T`` flattened; input ``b`` carries one *row* of B per beat
        (``cols`` int8 lanes, lane ``j`` = ``B[k, j]``).  Beat ``k`` of both is
        consumed in lock-step and every multiplier does
        ``acc[i][j] += A[i, k] * B[k, j]``.  After K beats, output ``c`` emits
        one row of C per beat (``cols`` int32 lanes), ``rows`` beats.  The
        ``len`` register holds K; the accumulators are cleared on start.
        Larger matrices are multiplied by the host as a sequence of tiles.

    Resources
        ``rows*cols`` 8x8 signed multipliers (the default 2x4 uses exactly the
        8 SB_MAC16 DSPs of an iCE40UP5K) and ``rows*cols`` 32-bit
        accumulators.  No memories: the result rows are shifted out of the
        accumulator array itself.

    Throughput
        One beat of ``a`` and ``b`` (``rows*cols`` MACs) per cycle, then
        ``rows`` cycles to drain C: ``K + rows`` cycles per tile, i.e. about
        ``1/(rows*cols)`` cycles per MAC for long K.
    """

    name = "gemm"
    summary = "C = A @ B on one (rows x K) x (K x cols) int8 tile, int32 accumulators"
    core = GemmCore
    params = (Param("rows", 2, 1, 16, "rows of A and C (multiplier array height)"),
              Param("cols", 4, 1, 16, "columns of B and C (multiplier array width)"))

    @classmethod
    def inputs(cls, p):
        return (Port("a", "int8", p.rows, "one column of A per beat (A.T flattened)"),
                Port("b", "int8", p.cols, "one row of B per beat"))

    @classmethod
    def outputs(cls, p):
        return (Port("c", "int32", p.cols, "one row of C per beat"),)

    @classmethod
    def golden(cls, p, inputs, scalars):
        a = inputs["a"].astype(np.int64)
        b = inputs["b"].astype(np.int64)
        c = (a @ b) & 0xFFFFFFFF
        return {"c": c.astype(np.uint32).view(np.int32)}

    @classmethod
    def prepare(cls, p, inputs, scalars):
        inputs, _ = cls.check_call(p, inputs, scalars)
        a, b = inputs["a"], inputs["b"]
        if a.ndim != 2 or a.shape[0] != p.rows:
            raise StimulusError(f"{cls.name}: a has shape {a.shape}; this tile needs "
                                f"({p.rows}, K) (rows={p.rows})")
        if b.ndim != 2 or b.shape[1] != p.cols:
            raise StimulusError(f"{cls.name}: b has shape {b.shape}; this tile needs "
                                f"(K, {p.cols}) (cols={p.cols})")
        k = a.shape[1]
        if b.shape[0] != k:
            raise StimulusError(f"{cls.name}: a has shape {a.shape} and b has shape {b.shape}; "
                                f"a's columns must equal b's rows (K)")
        if not 1 <= k <= MAX_K:
            raise StimulusError(f"{cls.name}: K = {k} is out of range; allowed 1..{MAX_K}")
        return Job(registers={"len": k},
                   streams={"a": a.T.reshape(-1), "b": b.reshape(-1)},
                   expect={"c": cls.output_length(p, k)},
                   shapes={"c": (p.rows, p.cols)})

    @classmethod
    def split(cls, p, inputs, scalars):
        """Tile ``A (M, K) @ B (K, N)`` of any shape into rows x cols x MAX_K jobs.

        Edge tiles are zero-padded (zeros add nothing to a dot product); K
        longer than the beat counter is cut into chunks whose partial sums
        the merge adds with the same int32 wrap-around as the accumulators.
        """
        inputs, _ = cls.check_call(p, inputs, scalars)
        a, b = inputs["a"], inputs["b"]
        if a.ndim != 2 or b.ndim != 2:
            raise StimulusError(f"{cls.name}: a and b must be 2-D matrices, "
                                f"not shapes {a.shape} and {b.shape}")
        (m, k), (k2, n) = a.shape, b.shape
        if k != k2:
            raise StimulusError(f"{cls.name}: a has shape {a.shape} and b has shape {b.shape}; "
                                f"a's columns must equal b's rows (K)")
        if k == 0 or m == 0 or n == 0:
            raise StimulusError(f"{cls.name}: empty matrices (a {a.shape}, b {b.shape}); "
                                f"every dimension must be at least 1")
        mp, np_ = -(-m // p.rows) * p.rows, -(-n // p.cols) * p.cols
        ap = np.zeros((mp, k), dtype=np.int8)
        ap[:m] = a
        bp = np.zeros((k, np_), dtype=np.int8)
        bp[:, :n] = b
        calls, where = [], []
        for i in range(0, mp, p.rows):
            for j in range(0, np_, p.cols):
                for k0 in range(0, k, MAX_K):
                    k1 = min(k, k0 + MAX_K)
                    calls.append(({"a": ap[i:i + p.rows, k0:k1], "b": bp[k0:k1, j:j + p.cols]}, {}))
                    where.append((i, j))

        def merge(outputs):
            c = np.zeros((mp, np_), dtype=np.int64)
            for (i, j), out in zip(where, outputs):
                c[i:i + p.rows, j:j + p.cols] += out["c"]
            c = (c[:m, :n] & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
            return {"c": c}
        return calls, merge

    @classmethod
    def output_length(cls, p, n):
        return p.rows * p.cols

    @classmethod
    def work(cls, p, job):
        return p.rows * p.cols * job.registers["len"], "MAC"

    @classmethod
    def collect(cls, p, job, streams):
        c = np.asarray(streams["c"])[:job.expect["c"]]
        return {"c": c.reshape(job.shapes["c"])}

    calibration_sizes = (65536, 262144, 1048576, 4194304)

    @classmethod
    def throughput(cls, p):
        return float(p.rows * p.cols), "MAC"

    @classmethod
    def sample_call(cls, p, rng, n, index=0):
        """About ``n`` MACs as 1, 4 or 16 tiles in turn (``index``): with one shape only,
        the per-tile and per-MAC costs of a performance model blur."""
        a, b = ((1, 1), (2, 2), (4, 4))[index % 3]
        m, cols = p.rows * a, p.cols * b
        k = max(1, int(n) // (m * cols))
        return ({"a": random_ints(rng, np.int8, (m, k), edge=0),
                 "b": random_ints(rng, np.int8, (k, cols), edge=0)}, {})

    @classmethod
    def cases(cls, p, rng, count):
        out = []
        for i, k in enumerate(lengths(rng, count)):
            if i == 2:      # largest positive products: -128 * -128
                a, b = full("int8", (p.rows, k), "min"), full("int8", (k, p.cols), "min")
            elif i == 3:    # most negative products: 127 * -128
                a, b = full("int8", (p.rows, k), "max"), full("int8", (k, p.cols), "min")
            else:
                a = random_ints(rng, "int8", (p.rows, k))
                b = random_ints(rng, "int8", (k, p.cols))
            out.append(({"a": a, "b": b}, {}))
        return out
