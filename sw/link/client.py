"""The board API and job execution, over any transport of the board protocol.

:class:`BoardClient` turns one primitive, ``_call(opcode, *fields, data,
timeout)`` (send a request of :mod:`hetflow.link.protocol`, return its
decoded response), into the board API (``reg_read``, ``mem_write``,
``dma_setup``, ``run`` ...) and into :meth:`BoardClient.run_job`, which
executes a whole :class:`~hetflow.hw.job.Job` as one burst of requests
(:meth:`BoardClient._call_many`: one by one by default, in flight together
on a transport that pipelines them).  The virtual board (a pipe to
a Verilator process, :mod:`hetflow.sim.board.virtual`) and a real board
behind a UART bridge (:mod:`hetflow.backends.serial`) are both a
``BoardClient``, so a job runs through exactly the same steps on each.
The memory layout of a job is :mod:`hetflow.link.job_layout`'s.
"""

import time
from functools import cached_property

import numpy as np

from ..hw.job import from_memory_image
from ..hw.errors import HetflowError
from . import protocol as P
from .job_burst import JobBurst
from .job_layout import job_layout, region_bytes

__all__ = ["BoardClient", "BoardError", "BoardRequestError", "BoardAccessError", "KernelTimeout",
           "cycle_budget"]

class BoardError(HetflowError, RuntimeError):
    """The board failed (died, timed out, or answered nonsense)."""


class KernelTimeout(BoardError, TimeoutError):
    """The kernel ran its whole cycle budget without finishing its job.

    A :class:`TimeoutError` like a wait that runs out of wall time, but raised
    as soon as the board has clocked the budget (see :func:`cycle_budget`),
    which on a simulated board is usually long before ``timeout=`` seconds.
    """


def cycle_budget(total_beats, max_cycles=None):
    """Cycles a job may run before it counts as hung: ``max_cycles`` when given,
    else 64 per beat moved (inputs and outputs) plus 100000."""
    return int(max_cycles) if max_cycles is not None else 64 * total_beats + 100_000


class BoardAccessError(HetflowError, ValueError):
    """The host refused an access outside the register window or the board memory."""


class BoardRequestError(BoardError, ValueError):
    """The board rejected a request (bad register offset, memory range, ...).

    ``status`` is the protocol error code, ``message`` the board's text and
    ``where`` what rejected it (``"virtual board"``, ``"serial board on ..."``).
    """

    def __init__(self, opcode, status, message, where="virtual board"):
        self.opcode = opcode
        self.status = status
        self.message = message
        self.where = where
        name = P.STATUS[status].name if status in P.STATUS else f"status {status}"
        super().__init__(f"{where} rejected {opcode.name} ({name}): {message}")


class BoardClient:
    """Board API and job execution on top of :meth:`_call` and :meth:`_call_many`.

    A subclass provides ``_call`` and these attributes: ``kernel`` (the
    kernel instance on the board), ``channels`` (its DMA channels,
    :func:`~hetflow.sim.board.harness.channels`), ``memory_size`` (bytes) and
    ``timeout`` (seconds a request other than ``run`` may take).  It may set
    ``max_transfer`` (bytes per ``MEM_WRITE``/``MEM_READ`` request; larger
    transfers are split), ``run_slice`` and ``min_clock`` (a ``RUN`` that
    stops after a slice of cycles, and the clock its timeouts allow for),
    ``transfer_rate`` (bytes per second assumed when a
    transfer's timeout is stretched), ``description`` (how errors name the
    board in messages: ``where`` is the kind, ``description`` names the
    kernel too) and ``memory_hint`` (what to do when a job does not fit).
    """

    max_transfer = None
    #: Cycles of the ``RUN`` in a job's burst (None: the whole budget); the rest follows
    #: with :meth:`run` when the board answers "not done" before the budget is spent.
    run_slice = None
    #: Slowest kernel clock (Hz) a ``RUN``'s timeout allows for (None: the job's timeout).
    min_clock = None
    transfer_rate = 50e6
    memory_hint = "pass a larger memory_size"
    where = "virtual board"

    @property
    def description(self):
        return f"virtual board of {self.kernel.name}"

    def _call(self, opcode, *fields, data=b"", timeout=None):
        """Send one request; return its decoded response (see :func:`protocol.decode_response`)."""
        raise NotImplementedError

    def _call_many(self, requests):
        """Send a burst of requests; return their decoded responses in order.

        ``requests`` is a list of ``(opcode, fields, data, timeout)`` tuples
        (``fields`` a tuple, ``data`` bytes, ``timeout`` seconds or None), each
        answered as :meth:`_call` answers it.  If the board rejects any of
        them, the :class:`BoardRequestError` of the first rejected one is
        raised, after the whole burst has been answered.  The caller makes a
        burst idempotent as a whole, so a transport may resend all of it.

        This default sends the requests one after another with :meth:`_call`;
        a transport that can keep several requests in flight overrides it.
        """
        responses, rejected = [], None
        for opcode, fields, data, timeout in requests:
            try:
                responses.append(self._call(opcode, *fields, data=data, timeout=timeout))
            except BoardRequestError as exc:
                responses.append(None)
                rejected = rejected or exc
        if rejected is not None:
            raise rejected
        return responses

    def _run_timeout(self, cycles, deadline):
        """Seconds the ``RUN`` of ``cycles`` cycles in a job's burst may take.

        What is left of the job's wall-time budget (``deadline``, a
        :func:`time.monotonic` time), at least one second; on a board with a
        :attr:`min_clock`, no more than :attr:`timeout` plus the cycles at
        that clock, so that a lost response is noticed soon.
        """
        left = max(1.0, deadline - time.monotonic())
        if self.min_clock is None:
            return left
        return min(left, self.timeout + cycles / self.min_clock)

    def _transfer_timeout(self, nbytes):
        return self.timeout + nbytes / self.transfer_rate

    # ---- the board API ----------------------------------------------------------------

    def ping(self):
        return self._call(P.PING)

    def reset(self, cycles=4):
        """Hold ``rst`` for ``cycles`` cycles; stops every DMA channel."""
        self._call(P.RESET, cycles)

    # Host access is confined to the kernel's register window and the board memory: a bad
    # offset is refused here, before a request goes to the board (whose bridge checks too).

    @cached_property
    def _layouts(self):
        """:meth:`layout` by stream lengths (a host makes calls of a few sizes, again and again)."""
        return {}

    @cached_property
    def _needs(self):
        """:meth:`memory_needed` by stream lengths (every call is fitted to the memory)."""
        return {}

    @cached_property
    def _streams(self):
        """``(port, is an output)`` of every channel, in channel order."""
        return [(ch.port.name, ch.output) for ch in self.channels]

    @cached_property
    def _bursts(self):
        """:meth:`_job_burst` by stream lengths and register names."""
        return {}

    @cached_property
    def boardmap(self):
        """The design on the board, a :class:`~hetflow.link.boardmap.BoardMap` (a
        subclass that sets only ``kernel`` carries that one kernel)."""
        from .boardmap import BoardMap
        return BoardMap(self.kernel)

    @cached_property
    def _register_window(self):
        return self.boardmap.register_space

    def _check_register(self, offset):
        window = self._register_window
        if not isinstance(offset, int) or offset < 0 or offset >= window or offset % 4:
            raise BoardAccessError(f"{self.description}: register offset {offset!r} is outside "
                                   f"the register window; allowed 0x0..0x{window - 4:x}, "
                                   f"multiples of 4")

    def _check_memory(self, address, length):
        if not isinstance(address, int) or address < 0 or length < 0 \
                or address + length > self.memory_size:
            raise BoardAccessError(f"{self.description}: memory range {address!r}+{length} is "
                                   f"outside board memory; allowed 0x0..0x{self.memory_size:x}")

    def reg_write(self, offset, value):
        self._check_register(offset)
        self._call(P.REG_WRITE, offset, int(value) & 0xFFFFFFFF)

    def reg_read(self, offset):
        self._check_register(offset)
        return self._call(P.REG_READ, offset)[0]

    def _write_requests(self, address, data):
        """``MEM_WRITE`` requests of ``data`` at ``address``, split by :attr:`max_transfer`."""
        view = memoryview(data).cast("B")
        step = self.max_transfer or max(1, len(view))
        return [(P.MEM_WRITE, (address + at,), view[at:at + step],
                 self._transfer_timeout(min(step, len(view) - at)))
                for at in range(0, max(1, len(view)), step)]

    def _read_requests(self, address, length):
        """``MEM_READ`` requests of ``length`` bytes at ``address``, split by
        :attr:`max_transfer`."""
        step = self.max_transfer or max(1, length)
        return [(P.MEM_READ, (address + at, min(step, length - at)), b"",
                 self._transfer_timeout(min(step, length - at)))
                for at in range(0, max(1, length), step)]

    def mem_write(self, address, data):
        if isinstance(data, np.ndarray):    # elements in memory order, little-endian
            data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
        data = bytes(data) if not isinstance(data, (bytes, bytearray, memoryview)) else data
        self._check_memory(address, memoryview(data).nbytes)
        self._call_many(self._write_requests(address, data))

    def mem_read(self, address, length):
        self._check_memory(address, length)
        pieces = self._call_many(self._read_requests(address, length))
        # bytes, whatever buffer a transport answers with (bytes() of bytes is no copy)
        return bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)

    def dma_setup(self, channel, address, beats):
        self._call(P.DMA_SETUP, channel, address, beats)

    def run(self, max_cycles, timeout=None):
        """Clock the kernel until it is done or ``max_cycles`` have passed.

        Returns ``(done, cycles)``.  ``timeout`` (seconds, default: the
        board's timeout) bounds the wall time of the call.
        """
        reason, cycles = self._call(P.RUN, int(max_cycles), timeout=timeout)
        return reason == P.RUN_DONE, cycles

    # ---- jobs -------------------------------------------------------------------------

    def memory_needed(self, lengths):
        """Bytes of board memory a job takes, given ``{port: elements}`` of every stream.

        Each stream gets a region of whole beats, rounded up to ``REGION_ALIGN``:
        the layout :meth:`layout` makes.
        """
        key = tuple([lengths[name] for name, _ in self._streams])
        needs = self._needs
        need = needs.get(key)
        if need is None:
            need = sum(region_bytes(ch, n) for ch, n in zip(self.channels, key))
            if len(needs) >= 256:       # calls of many sizes: keep the cache small
                needs.clear()
            needs[key] = need
        return need

    def layout(self, job):
        """``{port: (channel, address, beats)}`` of a job's streams (see the module doc)."""
        key = tuple(job.expect[ch.port.name] if ch.output else len(job.streams[ch.port.name])
                    for ch in self.channels)
        layouts = self._layouts
        out = layouts.get(key)
        if out is not None:
            return out
        out, address = job_layout(self.channels, job)
        if address > self.memory_size:
            raise BoardError(f"{self.description}: the job needs {address} bytes "
                             f"of board memory but it has {self.memory_size}; "
                             f"{self.memory_hint}")
        if len(layouts) >= 256:         # calls of many sizes: keep the cache small
            layouts.clear()
        layouts[key] = out
        return out

    def _register_words(self, name, reg, value):
        """``REG_WRITE`` requests of one register's value (an int, or the words of an array)."""
        if isinstance(value, (int, np.integer)) and not reg.array:
            values = (value,)
        elif reg.array or np.ndim(value):
            values = np.asarray(value).reshape(-1).tolist()
            if len(values) > reg.count:
                raise BoardError(f"{self.kernel.name}: register '{name}' has {reg.count} "
                                 f"word(s) but the job gives {len(values)} values")
        else:
            values = (value,)
        requests = []
        for i, v in enumerate(values):
            offset = reg.offset + 4 * i
            self._check_register(offset)
            requests.append((P.REG_WRITE, (offset, int(v) & 0xFFFFFFFF), b"", None))
        return requests

    def _job_burst(self, job):
        """The :class:`~hetflow.link.job_burst.JobBurst` of ``job``'s layout and registers."""
        expect, streams = job.expect, job.streams
        key = (tuple([expect[name] if output else len(streams[name])
                      for name, output in self._streams]), tuple(job.registers))
        bursts = self._bursts
        burst = bursts.get(key)
        if burst is None:
            burst = JobBurst(self, self.layout(job), key[1])
            if len(bursts) >= 256:      # calls of many sizes: keep the cache small
                bursts.clear()
            bursts[key] = burst
        return burst

    def _call_job(self, burst, requests):
        """Send the burst of a job (``requests``, made from ``burst``); its responses.

        :meth:`_call_many` by default; a transport may use what it derived from
        ``burst`` before (kept in ``burst.cache``).
        """
        return self._call_many(requests)

    @staticmethod
    def _collect(expect, spans, responses):
        """``(outputs, cycles)`` from the responses to a burst's read-back requests
        (without the status read); ``expect`` is the job's ``{output: elements}``."""
        outputs = {}
        for name, ch, first, count in spans:
            raw = responses[first] if count == 1 else b"".join(responses[first:first + count])
            outputs[name] = from_memory_image(ch.port, raw, ch.stride, expect[name])
        lo, hi = responses[-2][0], responses[-1][0]
        return outputs, (hi << 32) | lo

    def _run_on(self, responses, run_at, reads, budget, deadline):
        """``(done, cycles run, responses after the RUN)`` of a burst whose ``RUN`` is at
        ``run_at``: a board whose ``RUN`` stopped early (a :attr:`run_slice`) runs on to
        the budget, and the read-back ``reads`` are sent again after it."""
        reason, ran = responses[run_at]
        done = reason == P.RUN_DONE
        if not done and ran < budget:
            done, more = self.run(budget - ran, timeout=max(1.0, deadline - time.monotonic()))
            return done, ran + more, self._call_many(reads)
        return done, ran, responses[run_at + 1:]

    def run_job(self, job, timeout=300.0, max_cycles=None):
        """Execute a :class:`~hetflow.hw.job.Job` end to end.

        Writes the input streams to board memory, sets up every DMA channel,
        writes the job's registers, starts the kernel, runs it until done and
        reads the outputs and the cycle counter back: all as one burst of
        requests (:meth:`_call_job`), which a pipelining transport answers in
        one round trip; the requests that do not change from call to call come
        from the :class:`~hetflow.link.job_burst.JobBurst` of the job's
        layout, made by its first call.  If the board's ``RUN`` stops before the cycle budget
        is spent (a board with :attr:`run_slice`), the job goes on with
        :meth:`run` and the outputs are read again after it.

        Returns ``(outputs, cycles)``: ``outputs`` maps each output port to a
        1-D element array of its dtype, trimmed to ``job.expect``; ``cycles``
        is the kernel's own count (``cycles_hi:cycles_lo``).  Raises
        :class:`KernelTimeout` when the kernel is not done within its cycle
        budget (:func:`cycle_budget`), :class:`BoardError` when the board does
        not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        burst = self._job_burst(job)
        requests, run_at, budget = self._job_requests(burst, job, max_cycles, deadline)
        responses = self._call_job(burst, requests)
        return self._job_result(burst, job.expect, responses, run_at, budget, deadline,
                                max_cycles)

    def _job_requests(self, burst, job, max_cycles, deadline):
        """``(requests, index of the RUN, cycle budget)`` of ``job``'s whole burst."""
        requests = burst.requests(self, job)
        budget = cycle_budget(burst.total_beats, max_cycles)
        step = budget if self.run_slice is None else min(budget, self.run_slice)
        run_at = len(requests)
        requests.append((P.RUN, (step,), b"", self._run_timeout(step, deadline)))
        requests += burst.reads
        return requests, run_at, budget

    def _job_result(self, burst, expect, responses, run_at, budget, deadline, max_cycles):
        """``(outputs, cycles)`` of a job from the responses to its burst (see
        :meth:`run_job`); raises :class:`KernelTimeout` when the kernel did not finish."""
        done, ran, responses = self._run_on(responses, run_at, burst.reads, budget, deadline)
        if not done:
            how = ("max_cycles" if max_cycles is not None
                   else f"64 per beat moved ({burst.total_beats}) + 100000")
            raise KernelTimeout(f"{self.kernel.name} on the {self.where} is not done after "
                                f"{ran} cycles, its cycle budget ({how}; pass max_cycles= "
                                f"to hetflow.open to change it); "
                                f"status=0x{responses[-1][0]:x}")
        return self._collect(expect, burst.spans, responses[:-1])
