"""The board API over a serial link: a board's requests, memory transfers and ``RUN``
slices as :class:`~hetflow.backends.serial.SerialDevice` sends them (the device's module
doc says how retries, bursts and timeouts behave).
"""

import time

import numpy as np

from ..boardtime import LinkCount
from ..link import protocol as P
from ..link.client import BoardError
from ..link.design_client import DesignClient

__all__ = ["SerialBoard", "PortMeter"]


class SerialBoard(DesignClient):
    """The board API, :meth:`run_job` and the jobs of a design's instances
    (:class:`~hetflow.link.design_client.DesignClient`) over a :class:`SerialLink`.

    ``kernel`` is the board's single kernel, or None with ``boardmap`` the
    design it carries.
    """

    memory_hint = "make the call smaller (a board's memory is fixed)"
    #: Cycles per RUN request.
    run_slice = 1 << 20
    #: Slowest kernel clock (Hz) the RUN timeouts allow for.
    min_clock = 1e6

    def __init__(self, link, kernel, info, boardmap=None):
        self.link = link
        self.kernel = kernel
        if boardmap is not None:
            self.boardmap = boardmap
        # Neither yet: a board whose manifest is about to be read (read_manifest only).
        known = kernel is not None or boardmap is not None
        self.channels = list(self.boardmap.channels) if known else []
        self._name = self.boardmap.name if known else None
        self.info = info
        self.meter = PortMeter(link)
        self.memory_size = info.memory_size
        self.timeout = link.timeout
        self.max_transfer = link.chunk
        # Half the line rate: a transfer's timeout must hold on a busy line too.
        self.transfer_rate = link.rate / 2
        self.where = f"serial board on {link.port}"

    @property
    def description(self):
        return f"serial:{self.link.port}" + (f" ({self._name})" if self._name else "")

    def _call(self, opcode, *fields, data=b"", timeout=None):
        return self.link.call(opcode, *fields, data=data, timeout=timeout)

    def _call_many(self, requests):
        """Send a burst of ``(opcode, fields, data, timeout)`` requests, pipelined.

        Returns the decoded responses in order.  The burst is idempotent as a
        whole (a job's starts with RESET), so a loss may resend all of it; but
        on a lossy line a long burst rarely gets through whole, so after one
        failed attempt its requests go one at a time instead, each retried as
        the same frame (the bridge answers a repeat from its cache).  A ``RUN``
        runs at most
        :attr:`run_slice` cycles (the caller continues a ``RUN`` that is not
        done), so its answer is due within a known time.  If the board
        rejected a request, raises the :class:`BoardRequestError` of the first
        rejected one once the whole burst is answered.
        """
        opcodes, built = [], []
        for opcode, fields, data, timeout in requests:
            fields = tuple(fields)
            if opcode is P.RUN:
                step = min(int(fields[0]), self.run_slice)
                fields = (step,)
                timeout = max(timeout or 0, self.timeout + step / self.min_clock)
            opcodes.append(opcode)
            built.append(self.link.request(opcode, *fields, data=data, timeout=timeout))
        try:
            (responses,) = self.link.exchange([built], retries=0)
        except BoardError:
            if self.link.closed:
                raise
            # One at a time from the start: the burst may have run in part.
            responses = [self.link.transact(r.payload, r.name, r.timeout, r.fits)
                         for r in built]
        return self._decode(opcodes, responses)

    def _decode(self, opcodes, responses):
        """Decoded responses; the first error a status means is raised after all are seen."""
        decoded, error = [], None
        for opcode, (status, body) in zip(opcodes, responses):
            try:
                decoded.append(self.link.decode(opcode, status, body))
            except BoardError as exc:
                decoded.append(None)
                error = error or exc
        if error is not None:
            raise error
        return decoded

    def _chunks(self, length):
        step = self.max_transfer
        return [(at, min(step, length - at)) for at in range(0, max(1, length), step)]

    def mem_write(self, address, data):
        """Write ``data`` (bytes or an array, little-endian) at ``address``, in pipelined chunks.

        Each chunk is its own group: a lost one is sent again alone.
        """
        if isinstance(data, np.ndarray):    # elements in memory order, little-endian
            data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
        view = memoryview(bytes(data) if not isinstance(data, bytes) else data)
        self._check_memory(address, len(view))
        link = self.link
        chunks = self._chunks(len(view))
        groups = [[link.request(P.MEM_WRITE, address + at, data=view[at:at + n],
                                timeout=self._transfer_timeout(n))] for at, n in chunks]
        self._decode([P.MEM_WRITE] * len(groups), [g[0] for g in link.exchange(groups)])

    def mem_read(self, address, length):
        """``length`` bytes of board memory from ``address``, read in pipelined chunks."""
        self._check_memory(address, length)
        link = self.link
        chunks = self._chunks(length)
        groups = [[link.request(P.MEM_READ, address + at, n,
                                timeout=self._transfer_timeout(n))] for at, n in chunks]
        return b"".join(self._decode([P.MEM_READ] * len(groups),
                                     [g[0] for g in link.exchange(groups)]))

    def run(self, max_cycles, timeout=None):
        """Clock the kernel until it is done or ``max_cycles`` have passed; ``(done, cycles)``.

        Sent as ``RUN`` requests of at most :attr:`run_slice` cycles each, so
        every response is due within a short, known time: a lost one is
        noticed and retried in about a second, not after the job's whole time
        budget.  ``timeout`` (seconds, default: the link's) bounds the total;
        when it passes the kernel is reported not done.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else float(timeout))
        left, ran = int(max_cycles), 0
        while True:
            step = min(left, self.run_slice)
            reason, cycles = self._call(P.RUN, step,
                                        timeout=self.timeout + step / self.min_clock)
            ran += cycles
            left -= cycles
            if reason == P.RUN_DONE:
                return True, ran
            if left <= 0 or time.monotonic() >= deadline:
                return False, ran


class PortMeter:
    """The bytes and exchanges that crossed a port, as a :class:`~hetflow.boardtime.LinkCount`."""

    def __init__(self, link):
        self.link = link

    @property
    def total(self):
        s = self.link.stats
        return LinkCount(s["requests"] + s["retries"], s["bytes_out"] + s["bytes_in"],
                         s["exchanges"])

    def mark(self):
        """Where the counts are now (see :meth:`hetflow.boardtime.LinkMeter.mark`)."""
        return self.total

    def since(self, mark):
        return self.total - mark
