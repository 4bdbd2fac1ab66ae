"""A job's whole burst as one buffer of frames, filled in call after call.

A host that calls a kernel again and again with arrays of one shape sends the
same burst every time (:class:`~hetflow.link.job_burst.JobBurst`) but for the
inputs' data and the scalars' register values, and gets the same answers back
but for the outputs' data and the counts.  :class:`JobFrames` encodes that
burst once into a buffer and knows where each call's data and values go in
it, and where the outputs and the cycle count lie in the answers when every
request succeeded and the kernel finished; a call then copies its data in,
writes the buffer and reads the answers in one piece
(:meth:`hetflow.sim.board.virtual.VirtualBoard.run_frames`).  Any other answer
is parsed request by request as any burst's, from :attr:`JobFrames.requests`
(requests whose fields and sizes are the call's; only their data and
register values are the first call's, and parsing never reads those).
"""

import struct
import time

import numpy as np

from ..hw.job import from_memory_image
from . import protocol as P
from .job_burst import frame_plan, is_image, little_endian, request_head

__all__ = ["JobFrames", "job_frames"]

_VALUE = struct.Struct("<I")
_RUN_ANSWER = struct.Struct(P.RUN.response)
_CYCLES = struct.Struct(f"<I{P.HEADER.size}xI")    # cycles_lo, the next header, cycles_hi


class JobFrames:
    """The frames of a job's burst in one buffer, and the places a call fills in.

    Made by :func:`job_frames`.

    Attributes
    ----------
    frame : bytearray
        The whole burst, as the last call filled it in.
    requests : list
        The burst's requests (for parsing answers that are not all OK).
    decoders : list
        Each request's :func:`~hetflow.link.job_burst.response_decoder`.
    answer_size : int
        Bytes of the answers when every request succeeds.
    burst : JobBurst
    expect : dict
        ``{output: elements}`` of the job.
    run_at, budget : int
        Index of the ``RUN`` in :attr:`requests`, and the job's cycle budget.
    max_cycles : int or None
        The cycle budget the job was given (None: the default one).
    inputs, values : list
        ``[(name, start, stop)]`` of each input's data in :attr:`frame` and
        ``[(name, start)]`` of each register value a call fills in.
    """

    def __init__(self, burst, requests, plan, job, run_at, budget, max_cycles, registers):
        self.burst, self.requests, self.decoders = burst, requests, plan.decoders
        self.expect = expect = job.expect
        self.run_at, self.budget, self.max_cycles = run_at, budget, max_cycles
        self.answer_size, self._ok = plan.answer_size, plan.ok
        starts, frame = [], bytearray()
        for opcode, fields, data, _ in requests:
            frame += request_head(opcode, fields, len(data))
            starts.append(len(frame))           # where the request's data starts
            frame += data
        self.frame = frame
        inputs, regs = burst.slots
        self.inputs = [(name, starts[at], starts[at] + len(requests[at][2]))
                       for name, at in inputs]
        # A REG_WRITE's fields are its offset, then its value.
        self.values = [(name, starts[at] - _VALUE.size) for name, at in regs if name in registers]
        self._value_at = [at for _, at in self.values]
        # Each input's data in the frame as an array of its elements, which a call's
        # input is copied into (the frame can then never be resized).
        dtypes = {name: dtype for name, _, _, dtype in burst.writes}
        self._data = [np.frombuffer(frame, dtypes[name], (stop - start) // dtypes[name].itemsize,
                                    start) for name, start, stop in self.inputs]
        bodies = plan.bodies
        self._run = bodies[run_at]
        self._cycles = bodies[-3]               # the reads end: cycles_lo, cycles_hi, status
        self._outputs = []
        for name, ch, first, _ in burst.spans:
            start = bodies[run_at + 1 + first]
            port, dtype = ch.port, ch.port.np_dtype
            # Beats that fill their stride: the elements are the image's first bytes.
            plain = ch.stride == port.lanes * dtype.itemsize
            self._outputs.append((name, start, start + requests[run_at + 1 + first][1][1],
                                  expect[name], little_endian(dtype), dtype,
                                  None if plain else (port, ch.stride)))

    def fill(self, arrays, values):
        """Put a call's input ``arrays`` (:attr:`inputs` order; each of the first call's
        input's dtype and shape) and register ``values`` (:attr:`values` order) in
        :attr:`frame`."""
        frame, pack = self.frame, _VALUE.pack_into
        for data, array in zip(self._data, arrays):
            data[:] = array
        for at, value in zip(self._value_at, values):
            pack(frame, at, value & 0xFFFFFFFF)

    def answered(self, data):
        """``(cycles run, kernel cycles, {output: array})`` when ``data`` is exactly the
        answers of the burst, every request succeeded and the kernel finished; else None
        (the answers are then parsed one by one, :attr:`decoders`).  The outputs are
        read from ``data`` in place when it is a ``bytearray`` (the caller's own)."""
        if not self._ok(data):
            return None
        reason, ran = _RUN_ANSWER.unpack_from(data, self._run)
        if reason != P.RUN_DONE:
            return None
        lo, hi = _CYCLES.unpack_from(data, self._cycles)
        outputs, own = {}, type(data) is bytearray
        for name, start, stop, count, little, dtype, strided in self._outputs:
            if strided is not None:
                outputs[name] = from_memory_image(*strided, data[start:stop], count)
            else:
                array = np.frombuffer(data, little, count, start)
                outputs[name] = array if own and little == dtype else array.astype(dtype)
        return ran, (hi << 32) | lo, outputs


def job_frames(client, job, max_cycles=None, stage_min=None, limit=1 << 16, timeout=300.0):
    """The :class:`JobFrames` of ``job`` on ``client`` (a
    :class:`~hetflow.link.client.BoardClient`), or None when its burst cannot be one
    fixed buffer: its requests are not one fixed list (:attr:`JobBurst.slots`), an input
    is not its own memory image once contiguous
    (:func:`~hetflow.link.job_burst.is_image`), an output
    takes more than one read, or the burst carries ``limit`` data bytes or more, or a
    transfer of ``stage_min`` bytes (which a transport with a staging area moves there).

    The scalars of the job (its registers but ``len``, which its shape fixes) are the
    values a call fills in.  The answer to the ``RUN`` is waited for ``timeout`` seconds
    after the answers before it (:meth:`~hetflow.link.client.BoardClient.run_job`'s).
    """
    burst = client._job_burst(job)
    if burst.slots is None or any(count != 1 for *_, count in burst.spans):
        return None
    for name, ch, _, dtype in burst.writes:
        if not is_image(ch, job.streams[name], dtype):
            return None
    requests, run_at, budget = client._job_requests(burst, job, max_cycles,
                                                   time.monotonic() + timeout)
    plan = frame_plan(requests, stage_min, burst.fixed, limit)
    if plan is None or plan.answer_size > limit:
        return None
    return JobFrames(burst, requests, plan, job, run_at, budget, max_cycles,
                     [name for name in job.registers if name != "len"])
