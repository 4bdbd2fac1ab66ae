"""``conv2d``: 3x3 'valid' cross-correlation of a streamed 8-bit image."""

import numpy as np
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from ..errors import StimulusError
from ..job import Job
from ..core import KernelCore
from ..kernel import Kernel
from ..spec import Param, Port, Register
from ..stimuli import full, random_ints

__all__ = ["Conv2d", "Conv2dCore"]

#: Largest image height: the ``height`` register is 16 bits wide.
MAX_HEIGHT = (1 << 16) - 1


class Conv2dCore(KernelCore):
    """The hardware of :class:`Conv2d`.

    Two line buffers (block RAM) and a 3x3 window of registers; one output
    pixel per input pixel once the window is full.
    """

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        pixel = signed(8) if self.p.signed else unsigned(8)
        width, height, w = ctl.regs.width, ctl.regs.height, ctl.regs.w
        src, out = self.pixels, self.out

        # Line buffers: lb1[col] holds the pixel one row up, lb2[col] two rows up.
        # Synchronous reads (data one cycle after the address) so they map to
        # block RAM; their contents need no reset because an output only uses
        # columns already written in this job (row >= 2).
        m.submodules.lb1 = lb1 = Memory(shape=unsigned(8), depth=self.p.max_width, init=[])
        m.submodules.lb2 = lb2 = Memory(shape=unsigned(8), depth=self.p.max_width, init=[])
        rd1, rd2 = lb1.read_port(), lb2.read_port()
        wr1, wr2 = lb1.write_port(), lb2.write_port()

        # Stage 1: position of the next pixel to take.
        col = Signal(16)
        row = Signal(16)
        taken_all = Signal()

        # Stage 2: the pixel taken last cycle (its line-buffer reads arrive now).
        s2_valid = Signal()
        s2_pixel = Signal(8)
        s2_col = Signal(range(self.p.max_width))
        s2_emit = Signal()   # its window is complete: an output is due

        # Stage 2 waits for the output register only when it has an output to put there.
        s2_go = s2_valid & (~s2_emit | ~out.valid | out.ready)
        m.d.comb += src.ready.eq(ctl.busy & ~taken_all & (~s2_valid | s2_go))
        take = src.valid & src.ready

        # Read enable = take: while stage 2 stalls nothing is taken, so the read
        # data of the stalled pixel stay on the ports.  The address never equals
        # the column stage 2 writes in the same cycle (the previous pixel's,
        # and width >= 3), so read-during-write does not matter.
        for rd in (rd1, rd2):
            m.d.comb += [rd.addr.eq(col), rd.en.eq(take)]
        m.d.comb += [
            wr1.addr.eq(s2_col), wr1.data.eq(s2_pixel), wr1.en.eq(s2_go),
            wr2.addr.eq(s2_col), wr2.data.eq(rd1.data), wr2.en.eq(s2_go),
        ]

        def as_pixel(value):
            return value.as_signed() if self.p.signed else value

        # The 3x3 window: two registered columns (left, middle) and the column
        # arriving in stage 2 (right), top row first.
        held = [[Signal(pixel, name=f"win_{r}_{c}") for c in range(2)] for r in range(3)]
        arriving = [as_pixel(rd2.data), as_pixel(rd1.data), as_pixel(s2_pixel)]
        window = [held[r] + [arriving[r]] for r in range(3)]
        products = [window[r][c] * w[3 * r + c] for r in range(3) for c in range(3)]
        total = Signal(signed(32))
        m.d.comb += total.eq(sum(products))

        with m.If(ctl.start):
            m.d.sync += [col.eq(0), row.eq(0), taken_all.eq(0),
                         s2_valid.eq(0), out.valid.eq(0)]
        with m.Else():
            with m.If(take):
                m.d.sync += [s2_valid.eq(1), s2_pixel.eq(src.payload[0]), s2_col.eq(col),
                             s2_emit.eq((row >= 2) & (col >= 2))]
                with m.If(col == width - 1):
                    m.d.sync += [col.eq(0), row.eq(row + 1)]
                    with m.If(row == height - 1):
                        m.d.sync += taken_all.eq(1)
                with m.Else():
                    m.d.sync += col.eq(col + 1)
            with m.Elif(s2_go):
                m.d.sync += s2_valid.eq(0)

            with m.If(s2_go):
                for r in range(3):
                    m.d.sync += [held[r][0].eq(held[r][1]), held[r][1].eq(arriving[r])]

            with m.If(out.valid & out.ready):
                m.d.sync += out.valid.eq(0)
            with m.If(s2_go & s2_emit):
                m.d.sync += [out.valid.eq(1), out.payload.eq(total)]

        m.d.comb += ctl.finish.eq(ctl.busy & taken_all & ~s2_valid & ~out.valid)
        return m


class Conv2d(Kernel):
    """3x3 'valid' cross-correlation of an image with int8 weights, int32 result.

    ``out[i, j] = sum(img[i + r, j + c] * w[r, c] for r, c in 0..2)`` for an
    image of shape ``(H, W)``, giving ``(H - 2, W - 2)`` outputs.  Like the
    convolution layers of deep-learning frameworks the kernel is not flipped.
    Pixels are uint8 (``signed=0``) or int8 (``signed=1``), weights int8.  A
    sum of nine 8x8-bit products fits in 20 bits, so the int32 result is
    exact and never wraps.

    Parameters
    ----------
    max_width : int, 3..1024
        Largest image width: the depth of the two line buffers.
    signed : {0, 1}
        Pixels are int8 when 1, uint8 when 0.

    Notes
    -----
    Stream layout: ``pixels`` carries the image in row-major order, one
    pixel per beat; ``out`` carries the result in row-major order, one int32
    per beat.  The pixel at ``(row, col)`` completes the window of output
    ``(row - 2, col - 2)``, so an output follows each pixel with ``row >= 2``
    and ``col >= 2``.

    Registers: ``w`` (9 x int8, ``w[r, c]`` at index ``3*r + c``; the caller
    passes a (3, 3) array), ``width`` and ``height`` (16 bits, set from the
    image shape).  ``len`` is set to ``width * height`` pixels for the
    shell's accounting; the core ends the job after ``height`` rows.

    Resources: nine 8x8-bit multipliers (small DSPs or LUT multipliers) and
    an adder tree; two line buffers of ``max_width`` x 8 bits with
    synchronous read ports, so they map to block RAM (iCE40/ECP5 included);
    a 3x2 window of registers that, with the column read from the line
    buffers, forms the 3x3 window.

    Throughput: one pixel per cycle without back-pressure.  A two-stage
    pipeline: stage 1 takes a pixel and reads the line buffers at its
    column; stage 2 gets the two pixels above it, updates the line buffers
    and the window, and registers the output.
    """

    name = "conv2d"
    summary = "3x3 valid cross-correlation, 8-bit pixels, int8 weights, int32 out"
    core = Conv2dCore
    params = (Param("max_width", 64, 3, 1024, "largest image width (line buffer depth)"),
              Param("signed", 0, 0, 1, "pixels are int8 when 1, uint8 when 0"))
    scalars = ("w",)

    @classmethod
    def inputs(cls, p):
        return (Port("pixels", "int8" if p.signed else "uint8", 1,
                     "image in row-major order"),)

    @classmethod
    def outputs(cls, p):
        return (Port("out", "int32", 1, "(H-2) x (W-2) result in row-major order"),)

    @classmethod
    def registers(cls, p):
        return (Register("w", count=9, bits=8, signed=True, doc="weights w[r][c], row-major"),
                Register("width", bits=16, doc="image width in pixels"),
                Register("height", bits=16, doc="image height in pixels"))

    @classmethod
    def golden(cls, p, inputs, scalars):
        img = inputs["pixels"].astype(np.int64)
        w = np.asarray(scalars["w"], dtype=np.int64).reshape(3, 3)
        windows = np.lib.stride_tricks.sliding_window_view(img, (3, 3))
        return {"out": np.einsum("ijrc,rc->ij", windows, w).astype(np.int32)}

    @classmethod
    def prepare(cls, p, inputs, scalars):
        scalars = dict(scalars)
        if "w" in scalars:
            w = np.asarray(scalars["w"])
            if w.shape != (3, 3):
                raise StimulusError(f"{cls.name}: scalar 'w' must have shape (3, 3), "
                                    f"not {w.shape}")
            scalars["w"] = w.reshape(9)
        inputs, values = cls.check_call(p, inputs, scalars)
        img = inputs["pixels"]
        if img.ndim != 2:
            raise StimulusError(f"{cls.name}: image must be 2-D (height, width), "
                                f"not {img.ndim}-D with shape {img.shape}")
        height, width = img.shape
        if not 3 <= width <= p.max_width:
            raise StimulusError(f"{cls.name}: image width {width} is out of range; "
                                f"allowed 3..{p.max_width}")
        if not 3 <= height <= MAX_HEIGHT:
            raise StimulusError(f"{cls.name}: image height {height} is out of range; "
                                f"allowed 3..{MAX_HEIGHT}")
        return Job(registers={"len": width * height, "w": values["w"],
                              "width": width, "height": height},
                   streams={"pixels": img.reshape(-1)},
                   expect={"out": (height - 2) * (width - 2)},
                   shapes={"out": (height - 2, width - 2)})

    @classmethod
    def collect(cls, p, job, streams):
        n = job.expect["out"]
        return {"out": np.asarray(streams["out"])[:n].reshape(job.shapes["out"])}

    @classmethod
    def work(cls, p, job):
        return job.registers["len"], "pixel"

    calibration_sizes = (4096, 16384, 65536)

    @classmethod
    def throughput(cls, p):
        return 1.0, "pixel"

    @classmethod
    def sample_call(cls, p, rng, n, index=0):
        """An image of about ``n`` pixels, at most 64 wide, and random weights."""
        width = min(p.max_width, 64)
        height = max(3, int(n) // width)
        dtype = np.int8 if p.signed else np.uint8
        return ({"pixels": random_ints(rng, dtype, (height, width), edge=0)},
                {"w": random_ints(rng, np.int8, (3, 3), edge=0)})

    @classmethod
    def cases(cls, p, rng, count):
        dtype = cls.inputs(p)[0].dtype

        def weights(value=None):
            if value is None:
                return random_ints(rng, "int8", (3, 3))
            return np.full((3, 3), value, dtype=np.int8)

        def image(height, width, which=None):
            if which is None:
                return random_ints(rng, dtype, (height, width))
            return full(dtype, height * width, which).reshape(height, width)

        # A long job as wide as the line buffers, of about 1000 pixels.
        long_height = max(3, -(-1000 // p.max_width))
        out = [
            (image(3, 3), weights()),                          # shortest job
            (image(long_height, p.max_width), weights()),      # full width, long
            (image(5, 7, "max"), weights(127)),                # largest positive sums
            (image(5, 7, "max"), weights(-128)),               # most negative (unsigned)
            (image(4, 6, "min"), weights(-128)),               # min pixels (signed: largest)
            (image(20, 3), weights()),                         # narrowest: buffers wrap fastest
        ]
        while len(out) < count:
            width = int(rng.integers(3, min(p.max_width, 40), endpoint=True))
            height = int(rng.integers(3, 12, endpoint=True))
            out.append((image(height, width), weights()))
        return [({"pixels": img}, {"w": w}) for img, w in out[:count]]
