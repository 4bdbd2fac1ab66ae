"""The simulated board: the kernel's RTL on the virtual board (Verilator + DMA model)."""

import numpy as np

from ..boardtime import LinkMeter
from ..buffer import Buffer
from ..device import Device, JobsPlan
from .sim_overlay import OverlayRunner, RunsOverlays
from ..hw.errors import HetflowError
from ..hw.shell import Shell
from ..sim.board.virtual import VirtualBoard

__all__ = ["SimDevice"]


class _MeteredBoard(VirtualBoard):
    """A virtual board that counts its requests as a board's serial link would carry them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.meter = LinkMeter()

    def _call(self, opcode, *fields, data=b"", timeout=None):
        response = super()._call(opcode, *fields, data=data, timeout=timeout)
        self.meter.record(opcode, fields, len(data), response)
        return response

    def _call_many(self, requests):
        responses = super()._call_many(requests)
        self.meter.record_burst(requests, responses)
        return responses

    def _call_job(self, burst, requests):
        responses = super()._call_job(burst, requests)
        self.meter.record_job(burst, requests, responses)
        return responses

    def _frames_sent(self, frames, got):
        self.meter.record_ran(frames.burst, frames.requests,
                              got[0] if type(got) is tuple else got[frames.run_at][1])


class RepeatCall:
    """The next calls of a shape that passed the checks before, each run as one exchange
    of the job's :class:`~hetflow.link.job_frames.JobFrames` (:meth:`VirtualBoard.run_frames`).

    The shape is what the first call's checks looked at (:meth:`Kernel.shape_decides`):
    the type, dtype and shape of each positional array and the names of the keyword
    scalars.  A call of that shape whose scalars are plain ints within their registers'
    limits is run here; any other is checked in full (which takes or refuses it with
    its own message).
    """

    def __init__(self, handle, board, frames, args, kwargs, limits):
        self.handle, self._frames, self._run, self._meter = handle, frames, board.run_frames, \
            board.meter
        self._shapes = [(type(a), a.dtype, a.shape) for a in args]
        self._names = frozenset(kwargs)
        self._scalars = [(name, *limits[name]) for name, _ in frames.values]
        #: Input bytes of a call (see :meth:`KernelHandle.__call__`: calls run inline).
        self.nbytes = sum(a.nbytes for a in args)
        names = handle.output_names
        self._output = names[0] if len(names) == 1 else None

    def match(self, args, kwargs):
        """The register values of a call of this shape, False for one of this shape that
        the full checks must take (a scalar that is not a plain int in range), None for
        one of another shape."""
        shapes = self._shapes
        if len(args) != len(shapes) or kwargs.keys() != self._names:
            return None
        for a, (kind, dtype, shape) in zip(args, shapes):
            if type(a) is not kind or a.shape != shape or a.dtype is not dtype \
                    and a.dtype != dtype:
                return None
        values = []
        for name, lo, hi in self._scalars:
            value = kwargs[name]
            if type(value) is not int or not lo <= value <= hi:
                return False
            values.append(value)
        return values

    def run(self, args, values):
        """Run a call that :meth:`match` gave ``values`` for; its outputs."""
        meter = self._meter
        start = meter.mark()
        outputs, cycles = self._run(self._frames, args, values)
        handle = self.handle
        handle.last_cycles = cycles
        handle.last_link = meter.since(start)
        return outputs if self._output is None else outputs[self._output]


class SimDevice(RunsOverlays, Device):
    """Runs each job on a :class:`~hetflow.sim.board.virtual.VirtualBoard`, one per kernel.

    Opened with an overlay, the device runs the whole design on one virtual
    board (:mod:`hetflow.backends.sim_overlay`): instances alone, chains as one
    call whose intermediate data stays on the fabric, independent instances at
    the same time.

    Parameters
    ----------
    max_cycles : int, optional
        Cycle budget of one job before it counts as hung (default: 64 cycles
        per beat moved plus 100000, see :meth:`VirtualBoard.run_job`).
    status : callable, optional
        Progress messages (model compilation takes seconds the first time).
    memory_size : int, optional
        Bytes of board memory (default 16 MiB); pass a board's (128 KiB for
        the iCEBreaker) to see how calls are cut to fit it.
    """

    name = "sim"
    repeats_calls = True
    # A job holds its board for its whole burst (VirtualBoard.run_job), so a small call
    # may run in the caller's thread next to the worker's.
    inline_calls = True

    def __init__(self, max_cycles=None, status=None, memory_size=None):
        from ..link.job_layout import REGION_ALIGN
        from ..sim.board.virtual import DEFAULT_MEMORY
        memory_size = DEFAULT_MEMORY if memory_size is None else memory_size
        if isinstance(memory_size, bool) or not isinstance(memory_size, int) \
                or not REGION_ALIGN <= memory_size <= 0xFFFFFFFF:
            raise HetflowError(f"sim: memory_size {memory_size!r} is out of range; allowed "
                               f"{REGION_ALIGN}..{0xFFFFFFFF} bytes")
        self.max_cycles = max_cycles
        self.status = status
        self.memory_size = memory_size
        self._boards = {}
        self._by_handle = {}
        super().__init__()

    def _load_design(self, overlay):
        board = _MeteredBoard(overlay, memory_size=self.memory_size, status=self.status)
        self._overlay = OverlayRunner(board, self.max_cycles)

    def _load(self, kernel_cls, p):
        key = (kernel_cls, p)
        if key not in self._boards:
            self._boards[key] = _MeteredBoard(Shell(kernel_cls, **p),
                                              memory_size=self.memory_size, status=self.status)

    def _board(self, handle):
        board = self._by_handle.get(handle)
        if board is None:       # (hashing the params on every call costs more than a job)
            board = self._by_handle[handle] = self._boards[(handle.kernel_cls, handle.params)]
        return board

    def _memory(self, handle):
        return self._board(handle)

    def _link_meter(self, handle):
        return self._board(handle).meter

    def _execute(self, handle, job):
        return self._board(handle).run_job(job, max_cycles=self.max_cycles)

    def _repeat_call(self, handle, args, kwargs, plan):
        # One job whose shape decides it, every input an array passed in port order, and
        # the keywords its scalars, each a plain register word.
        cls, p = handle.kernel_cls, handle.params
        limits = cls.scalar_limits(p)
        if self._overlay is not None or not isinstance(plan, JobsPlan) \
                or len(plan.jobs) != 1 or not cls.shape_decides() \
                or len(args) != len(handle.input_names) or kwargs.keys() != limits.keys() \
                or len(limits) != len(cls.scalars) \
                or any(type(a) not in (np.ndarray, Buffer) for a in args):
            return None
        board = self._board(handle)
        frames = board.job_frames(plan.jobs[0], self.max_cycles)
        if frames is None or [name for name, _, _ in frames.inputs] != handle.input_names:
            return None
        return RepeatCall(handle, board, frames, args, kwargs, limits)

    def _all_boards(self):
        return [*self._boards.values(), *([self._overlay.board] if self._overlay else [])]

    def board_cpu_seconds(self):
        """CPU time the device's board processes have run so far, in seconds (None
        where unknown): with :func:`time.process_time`, what a call costs the machine."""
        times = [board.cpu_seconds for board in self._all_boards()]
        return None if not times or None in times else sum(times)

    def _abandon(self, run):
        # The job may still be running in the simulator: stop the processes so the
        # next call restarts them from a clean state.
        for board in self._all_boards():
            board.close()
        if self._overlay is not None:
            self._overlay.close()
        super()._abandon(run)

    def _close(self):
        for board in self._all_boards():
            board.close()
