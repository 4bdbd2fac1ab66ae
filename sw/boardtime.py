"""Board time predicted from a build: what a call would take on the board it was built for.

A call on the simulated board (or on ``hetflow serve``) knows its kernel
cycles and its *link count*: the requests and bytes a serial link carries for
it (:class:`LinkCount`, ``handle.last_link``).  With a build's ``report.json``
(:class:`BoardTiming`) that becomes a prediction of the call on the board::

    predicted = cycles / clock + link bytes * 10 / baud + exchanges * turnaround

* ``clock`` is the SoC clock the bitstream runs at (``target_mhz``): a board
  runs at its clock, not at the Fmax the design could reach (``fmax_mhz``,
  shown beside it; a build whose Fmax is below its clock may not work at all,
  and :attr:`BoardTiming.timing_met` says so);
* ``baud`` is the build's bridge rate (``bridge.baud``), ten bits per byte
  (8N1);
* ``turnaround`` is what each exchange waits beyond its bytes (default
  :data:`~hetflow.link.framing.DEFAULT_TURNAROUND_S`, an FTDI latency
  timer at its 1 ms minimum); an exchange is a request sent alone or a burst
  of pipelined requests (a job is one), whose line stays busy until its last
  answer.

Link counts.  On the simulated board each request of the board protocol is
counted as a board's serial bridge would carry it (:func:`request_cost`): in
serial frames (:mod:`hetflow.link.framing`), memory transfers cut into
:data:`~hetflow.link.framing.BRIDGE_CHUNK`-byte requests, ``RUN`` in the
serial backend's slices.  On ``serial:`` the bytes are those that crossed the
port, retries included.

Not modelled: the host's own time per call (measured, shown beside the
prediction), the bridge's cycles between bytes, and the overlap of the two
directions within a burst (its request and answer bytes are added up, as if
the line were half duplex).  The result is a prediction and is always
labelled as one.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .hw.errors import HetflowError
from .link import protocol as P
from .link.framing import BRIDGE_CHUNK, DEFAULT_TURNAROUND_S, OVERHEAD

__all__ = ["LinkCount", "LinkMeter", "BoardTiming", "request_cost", "read_build",
           "BITS_PER_BYTE"]

#: Bits on the line per byte: start, eight data bits, stop (8N1).
BITS_PER_BYTE = 10


@dataclass(frozen=True)
class LinkCount:
    """What a call puts on a serial link: its requests, the bytes of their frames (both
    directions) and its *exchanges*, the times the host waits for answers (one per request
    sent alone, one per burst of pipelined requests: the USB-UART's turnaround is paid
    once per exchange, since within a burst the line stays busy)."""

    requests: int = 0
    bytes: int = 0
    exchanges: int = 0

    def __add__(self, other):
        return LinkCount(self.requests + other.requests, self.bytes + other.bytes,
                         self.exchanges + other.exchanges)

    def __sub__(self, other):
        return LinkCount(self.requests - other.requests, self.bytes - other.bytes,
                         self.exchanges - other.exchanges)


def _frame(size):
    """Bytes on the line of a serial frame carrying a protocol frame of ``size`` payload bytes."""
    return OVERHEAD + P.HEADER.size + size


#: Bytes on the line of one ``RUN`` request and its response.
_RUN_FRAMES = _frame(P.RUN.request_size) + _frame(P.RUN.response_size)


@cache
def _run_slice():
    """Cycles per ``RUN`` request of the serial backend (imported when first needed)."""
    from .backends.serial_board import SerialBoard
    return SerialBoard.run_slice


def request_cost(opcode, fields, data_len, response, chunk=BRIDGE_CHUNK, run_slice=None):
    """What one request of the board protocol costs on a board's serial link.

    Parameters
    ----------
    opcode : Opcode
        From :mod:`hetflow.link.protocol`.
    fields : tuple
        The request's fields (``MEM_READ``: address, length).
    data_len : int
        Bytes of data the request carries (``MEM_WRITE``).
    response : object
        The decoded response (``RUN``: ``(reason, cycles)``).
    chunk : int
        Largest memory transfer per request on the serial link.
    run_slice : int, optional
        Cycles per ``RUN`` request (default: the serial backend's).

    Returns
    -------
    LinkCount
    """
    if opcode is P.MEM_WRITE:
        pieces = max(1, -(-data_len // chunk))
        return LinkCount(pieces, pieces * (_frame(P.MEM_WRITE.request_size)
                                           + _frame(P.MEM_WRITE.response_size)) + data_len)
    if opcode is P.MEM_READ:
        length = fields[1]
        pieces = max(1, -(-length // chunk))
        return LinkCount(pieces, pieces * (_frame(P.MEM_READ.request_size)
                                           + _frame(P.MEM_READ.response_size)) + length)
    if opcode is P.RUN:
        slices = max(1, -(-int(response[1]) // (run_slice or _run_slice())))
        return LinkCount(slices, slices * _RUN_FRAMES)
    return LinkCount(1, _frame(opcode.request_size) + _frame(opcode.response_size))


class LinkMeter:
    """Adds up :func:`request_cost` of the requests a board client makes (``total``).

    A job repeats the same requests call after call, so the cost of a request
    is computed once per kind and size (every request but ``RUN`` costs what
    its opcode and transfer length say; a ``RUN`` what its cycles say) and the
    counts are kept as plain integers.
    """

    def __init__(self):
        self._requests = self._bytes = self._exchanges = 0
        self._since = (None, None)
        #: ``(requests, bytes)`` of a request other than RUN, by (opcode code, data
        #: bytes, MEM_READ length).
        self._costs = {}

    @property
    def total(self):
        """Everything counted so far, a :class:`LinkCount`."""
        return LinkCount(self._requests, self._bytes, self._exchanges)

    def mark(self):
        """Where the counts are now, for :meth:`since` (plain integers: a mark is taken on
        every call, and a frozen :class:`LinkCount` costs more to make than a tuple)."""
        return self._requests, self._bytes, self._exchanges

    def since(self, mark):
        """What was counted after :meth:`mark` returned ``mark``, a :class:`LinkCount`."""
        requests, nbytes, exchanges = mark
        counts = (self._requests - requests, self._bytes - nbytes, self._exchanges - exchanges)
        # Calls of one kind count the same call after call: their LinkCount is made once.
        last = self._since
        if counts != last[0]:
            last = self._since = (counts, LinkCount(*counts))
        return last[1]

    def _cost(self, opcode, fields, data_len):
        key = (opcode.code, data_len, fields[1] if opcode is P.MEM_READ else 0)
        cost = self._costs.get(key)
        if cost is None:
            if len(self._costs) >= 1024:       # transfers of many sizes: keep it small
                self._costs.clear()
            found = request_cost(opcode, fields, data_len, None)
            cost = self._costs[key] = (found.requests, found.bytes)
        return cost

    def record(self, opcode, fields, data_len, response, alone=True):
        """Count one request; ``alone``: sent by itself (an exchange of its own), else
        part of a burst the caller counts with :meth:`burst`."""
        if opcode is P.RUN:
            cost = request_cost(opcode, fields, data_len, response)
            requests, nbytes = cost.requests, cost.bytes
            # A RUN longer than a slice continues with one request per slice, each waited for.
            extra = requests - 1
        else:
            (requests, nbytes), extra = self._cost(opcode, fields, data_len), 0
        self._requests += requests
        self._bytes += nbytes
        self._exchanges += int(alone) + extra

    def burst(self):
        """Count one exchange: a burst of requests sent together."""
        self._exchanges += 1

    def record_burst(self, requests, responses):
        """Count a burst of requests sent together and their responses: one exchange,
        and each request as :meth:`record` with ``alone=False`` counts it.

        ``requests`` are ``(opcode, fields, data, timeout)`` tuples, as
        :meth:`~hetflow.link.client.BoardClient._call_many` takes them.
        """
        if not requests:
            return
        costs, run, mem_read = self._costs, P.RUN, P.MEM_READ
        count = nbytes = 0
        exchanges = 1
        for (opcode, fields, data, _), response in zip(requests, responses):
            if opcode is run:
                cost = request_cost(opcode, fields, 0, response)
                count += cost.requests
                nbytes += cost.bytes
                exchanges += cost.requests - 1
                continue
            size = len(data)
            cost = costs.get((opcode.code, size, fields[1] if opcode is mem_read else 0)) \
                or self._cost(opcode, fields, size)
            count += cost[0]
            nbytes += cost[1]
        self._requests += count
        self._bytes += nbytes
        self._exchanges += exchanges

    def record_job(self, burst, requests, responses):
        """Count the burst of a job as :meth:`record_burst` does, ``requests`` made by
        ``burst`` (a :class:`~hetflow.link.job_burst.JobBurst`).

        The requests of a burst cost the same call after call but for its
        ``RUN`` (its cycles): the rest is added up once per burst and request
        count (an array register may take fewer words) and kept in ``burst.cache``.
        """
        count, nbytes, runs = self._job_cost(burst, requests)
        self._add_job(count, nbytes, [responses[i][1] for i in runs])

    def record_ran(self, burst, requests, ran):
        """:meth:`record_job` of a burst whose one ``RUN`` ran ``ran`` cycles."""
        count, nbytes, _ = self._job_cost(burst, requests)
        self._add_job(count, nbytes, (ran,))

    def _job_cost(self, burst, requests):
        """``(requests, bytes, indices of the RUNs)`` of a job's burst, ``RUN`` requests aside."""
        key = ("link", len(requests))
        fixed = burst.cache.get(key)
        if fixed is None:
            run, count, nbytes = P.RUN, 0, 0
            for opcode, fields, data, _ in requests:
                if opcode is not run:
                    cost = self._cost(opcode, fields, len(data))
                    count += cost[0]
                    nbytes += cost[1]
            runs = tuple(i for i, request in enumerate(requests) if request[0] is run)
            fixed = burst.cache[key] = (count, nbytes, runs)
        return fixed

    def _add_job(self, count, nbytes, runs):
        """Count a job's burst: ``count`` requests and ``nbytes`` bytes besides its ``RUN``
        requests, which ran the cycles in ``runs``."""
        exchanges = 1
        for ran in runs:
            # request_cost of a RUN, without building a LinkCount
            slices = max(1, -(-int(ran) // _run_slice()))
            count += slices
            nbytes += slices * _RUN_FRAMES
            exchanges += slices - 1
        self._requests += count
        self._bytes += nbytes
        self._exchanges += exchanges


def read_build(board):
    """The ``report.json`` of a build: ``board`` is its directory or the file itself."""
    from .boards.report import load_report
    path = Path(board)
    return load_report(path.parent if path.name == "report.json" and path.is_file() else path)


@dataclass(frozen=True)
class BoardTiming:
    """The time model of one build (see the module doc).

    Attributes
    ----------
    board, kernel : str
        What was built.
    clock_hz : float
        The SoC clock of the bitstream.
    fmax_hz : float or None
        What the placed design could run at.
    baud : int
        Line speed of the bridge.
    turnaround_s : float
        Seconds per request/response exchange beyond its bytes.
    timing_met : bool
        Whether Fmax reaches the clock.
    memory_size : int or None
        Bytes of SoC memory (a simulated board mimics it to cut calls alike).
    """

    board: str
    kernel: str
    clock_hz: float
    fmax_hz: float
    baud: int
    turnaround_s: float = DEFAULT_TURNAROUND_S
    timing_met: bool = True
    memory_size: int = None

    @classmethod
    def from_report(cls, report, turnaround_s=DEFAULT_TURNAROUND_S, where="the build report"):
        """The model of a report dict (as :func:`read_build` returns it)."""
        if isinstance(turnaround_s, bool) or not isinstance(turnaround_s, (int, float)) \
                or not turnaround_s >= 0:
            raise HetflowError(f"turnaround {turnaround_s!r} s is out of range; allowed 0 "
                               f"or more seconds")
        bridge = report.get("bridge")
        if not isinstance(bridge, dict) or not isinstance(bridge.get("baud"), int):
            raise HetflowError(f"{where} has no serial bridge baud rate (bridge.baud); "
                               f"rebuild it with 'hetflow build KERNEL --board BOARD'")
        clock = report.get("target_mhz")
        if not isinstance(clock, (int, float)) or not clock > 0:
            raise HetflowError(f"{where} has no SoC clock (target_mhz)")
        fmax = report.get("fmax_mhz")
        memory = report.get("memory")
        # What was built: a kernel, or an overlay (its report has "kernel": null).
        design = report.get("kernel") or (report.get("overlay") or {}).get("name")
        return cls(board=str(report.get("board")), kernel=str(design),
                   clock_hz=float(clock) * 1e6,
                   fmax_hz=float(fmax) * 1e6 if isinstance(fmax, (int, float)) else None,
                   baud=bridge["baud"], turnaround_s=float(turnaround_s),
                   timing_met=bool(report.get("timing_met")),
                   memory_size=memory.get("bytes") if isinstance(memory, dict) else None)

    @classmethod
    def from_build(cls, board, turnaround_s=DEFAULT_TURNAROUND_S):
        """The model of the build in directory ``board`` (or of its ``report.json``)."""
        return cls.from_report(read_build(board), turnaround_s,
                               where=f"{board}/report.json")

    def breakdown(self, cycles, link):
        """``{"compute_s", "link_s", "turnaround_s", "total_s"}`` of a call.

        ``cycles`` are the kernel's, ``link`` its :class:`LinkCount`.
        """
        compute = (cycles or 0) / self.clock_hz
        line = link.bytes * BITS_PER_BYTE / self.baud
        wait = link.exchanges * self.turnaround_s
        return {"compute_s": compute, "link_s": line, "turnaround_s": wait,
                "total_s": compute + line + wait}

    def seconds(self, cycles, link):
        """Predicted seconds of a call on the board: ``breakdown(...)["total_s"]``."""
        return self.breakdown(cycles, link)["total_s"]

    def describe(self):
        """One line: the board, clock, Fmax, baud and turnaround the prediction assumes."""
        fmax = f"Fmax {self.fmax_hz / 1e6:g} MHz" if self.fmax_hz else "Fmax unknown"
        met = "" if self.timing_met else " (timing NOT met: the board may not work at all)"
        return (f"{self.board} build of {self.kernel}: {self.clock_hz / 1e6:g} MHz clock "
                f"({fmax}){met}, {self.baud:,} baud 8N1, "
                f"{self.turnaround_s * 1e3:g} ms turnaround per exchange")
