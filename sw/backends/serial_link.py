"""The serial device's transport: framed, retried request/response exchanges on one port.

:class:`SerialLink` wraps protocol requests in serial frames
(:mod:`hetflow.link.framing`) and gets their responses back, two ways:

One request at a time (:meth:`SerialLink.call`)
    The request is sent and its response awaited.  A response with a bad CRC,
    or none within the timeout, makes the link send the *same* frame again
    (same sequence number: the bridge answers a repeat from its cache without
    executing the request twice), up to ``retries`` times.

Several requests in flight (:meth:`SerialLink.exchange`)
    Groups of requests, pipelined within the link's ``window`` and retried a
    whole group at a time (:mod:`hetflow.backends.serial_pipeline`).
"""

import errno
import os
import threading
import time
from dataclasses import dataclass

from ..hw.errors import HetflowError
from ..link import protocol as P
from ..link.client import BoardError, BoardRequestError
from ..link.framing import (BOARD_FAILED, BRIDGE_CHUNK, BRIDGE_MAX_PAYLOAD,
                                 BRIDGE_RX_BUFFER, DEFAULT_BAUD, OVERHEAD, Frame, FrameDecoder,
                                 encode_frame)
from .serial_pipeline import Pipeline

__all__ = ["SerialLink", "LinkRequest", "BRIDGE_WINDOW", "DEFAULT_TIMEOUT"]

#: Bytes of unanswered request frames the host may have on the line: the bridge's receive
#: buffer less room for one more frame of the largest size, which the host does not count
#: and the bridge holds until it is rejected: a damaged candidate, or noise read as one.
#: Two 1 KiB chunks fit, enough to keep the line busy across a 1 ms turnaround.
BRIDGE_WINDOW = BRIDGE_RX_BUFFER - (BRIDGE_MAX_PAYLOAD + 4)
#: Seconds a small request may take per attempt.
DEFAULT_TIMEOUT = 1.0
#: Seconds one read of the port may block: how quickly an abandoned call notices.
_POLL = 0.05


@dataclass(frozen=True)
class LinkRequest:
    """One request of :meth:`SerialLink.exchange`.

    ``payload`` is the protocol request frame, ``name`` its opcode's name (for
    messages), ``timeout`` the seconds the board may take to answer it once it
    is the oldest unanswered request, and ``fits(status, body)`` whether a
    response with its sequence number can be its answer (default: any).
    """

    payload: bytes
    name: str
    timeout: float
    fits: object = None


class SerialLink:
    """Framed, retried, pipelined request/response exchanges on one serial port.

    Parameters
    ----------
    port : str
        Device path (``/dev/ttyUSB1``, ``COM3``) or a pyserial URL.
    baudrate : int
    timeout : float
        Seconds per attempt of a small request (large transfers and ``RUN``
        get more, see :meth:`call`).
    retries : int
        Extra attempts after a timeout or a corrupted response.
    chunk : int
        Largest ``MEM_WRITE``/``MEM_READ`` data per request.
    window : int
        Bytes of unanswered request frames :meth:`exchange` keeps on the line
        (default :data:`BRIDGE_WINDOW`; 0: one request at a time).

    Attributes
    ----------
    stats : dict
        ``requests`` (frames sent under a new sequence number), ``retries``
        (attempts after the first, of a request or a group), ``timeouts``,
        ``lost`` (requests skipped by a later answer), ``stale`` (responses to
        an earlier request, dropped), ``in_flight_peak`` (most requests
        unanswered at once), ``bytes_out`` and ``bytes_in`` (bytes written to
        and read from the port by requests), ``exchanges`` (waits for answers:
        each attempt of a single request, each pipelined :meth:`exchange`) and
        the decoder's ``frames``, ``crc``, ``length``, ``truncated``,
        ``garbage``.
    """

    def __init__(self, port, baudrate=DEFAULT_BAUD, timeout=DEFAULT_TIMEOUT, retries=3,
                 chunk=BRIDGE_CHUNK, window=BRIDGE_WINDOW):
        if not isinstance(port, str) or not port:
            raise HetflowError(f"serial port must be a non-empty string such as /dev/ttyUSB1, "
                               f"not {port!r}")
        if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
            raise HetflowError(f"baudrate must be a positive integer, not {baudrate!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise HetflowError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise HetflowError(f"retries must be an integer 0..100, not {retries!r}")
        limit = BRIDGE_CHUNK
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= limit:
            raise HetflowError(f"chunk must be an integer 1..{limit} bytes (a board's bridge "
                               f"takes at most {limit} data bytes per request), not {chunk!r}")
        if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= 1 << 20:
            raise HetflowError(f"window must be an integer 0..1048576 bytes of unanswered "
                               f"requests (0: one at a time), not {window!r}")
        try:
            import serial
        except ImportError:
            raise HetflowError("the serial device needs pyserial: pip install 'pyserial>=3.5'") \
                from None
        self._serial_module = serial
        self.port = port
        self.baudrate = baudrate
        self.timeout = float(timeout)
        self.retries = retries
        self.chunk = chunk
        self.window = window
        #: Bytes per second the line moves (8N1: ten bits a byte).
        self.rate = baudrate / 10
        try:
            self._serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=_POLL, exclusive=True,
                write_timeout=self.timeout + 2 * (chunk + OVERHEAD + 64) / self.rate)
        except (serial.SerialException, OSError, ValueError) as exc:
            code = getattr(exc, "errno", None)
            reason = os.strerror(code) if isinstance(code, int) else str(exc)
            if code == errno.EWOULDBLOCK:
                reason = "it is in use by another program"
            raise BoardError(f"serial:{port}: cannot open the port: {reason}") from None
        # No answer of a bridge is longer than its longest request (MEM_READ gives at most
        # a chunk): a damaged length never makes the decoder wait for more than that.
        self.decoder = FrameDecoder(BRIDGE_MAX_PAYLOAD)
        self._lock = threading.Lock()
        # A random start, so a new session's first request is unlikely to look like a retry
        # of the previous session's last one (the bridge compares payloads too).
        self._seq = int.from_bytes(os.urandom(1), "little")
        self._epoch = 0
        self._local = threading.local()
        self._counts = {"requests": 0, "retries": 0, "timeouts": 0, "lost": 0, "stale": 0,
                        "in_flight_peak": 0, "bytes_out": 0, "bytes_in": 0, "exchanges": 0}
        self._pipeline = Pipeline(self)
        self.closed = False

    @property
    def stats(self):
        return {**self._counts, **self.decoder.stats}

    # ---- session control --------------------------------------------------------------

    @property
    def epoch(self):
        """Session number; :meth:`abandon` starts a new one."""
        return self._epoch

    def bind(self, epoch):
        """Tie the calling thread to session ``epoch``: its calls fail once it is abandoned."""
        self._local.epoch = epoch

    def abandon(self):
        """Make calls of threads bound before now fail, the one in flight within ~50 ms."""
        self._epoch += 1

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.abandon()
        got = self._lock.acquire(timeout=2 * _POLL + 1.0)
        try:
            self._serial.close()
        except Exception:
            pass
        finally:
            if got:
                self._lock.release()

    def check_session(self, epoch, opname):
        if self.closed:
            raise BoardError(f"serial:{self.port}: the port was closed during {opname}")
        if epoch != self._epoch:
            raise BoardError(f"serial:{self.port}: {opname} abandoned (a wait on this device "
                             f"timed out)")

    def failure(self, opname, attempts, problems):
        summary = problems[0] if len(set(problems)) == 1 else "; ".join(problems)
        return BoardError(f"serial:{self.port}: {opname} failed after {attempts} attempt(s): "
                          f"{summary}; is the board connected, running the hetflow bridge, "
                          f"at {self.baudrate} baud?")

    # ---- one request at a time --------------------------------------------------------

    def call(self, opcode, *fields, data=b"", timeout=None):
        """Send one request; return its decoded response.

        Raises
        ------
        BoardRequestError
            The board rejected the request (bad register, address ...).
        BoardError
            No valid response after ``1 + retries`` attempts, the board
            failed behind the bridge, or the call was abandoned.
        """
        request = self.request(opcode, *fields, data=data, timeout=timeout)
        return self.decode(opcode, *self.transact(request.payload, request.name,
                                                  request.timeout, request.fits))

    def request(self, opcode, *fields, data=b"", timeout=None):
        """The :class:`LinkRequest` of one protocol request."""
        # Sequence numbers are 8 bits: a late answer to an older request may carry ours.
        # An OK answer of the wrong size for this request is such an answer, not ours.
        size = fields[1] if opcode is P.MEM_READ else opcode.response_size
        return LinkRequest(P.encode_request(opcode, *fields, data=data), opcode.name,
                           self.timeout if timeout is None else float(timeout),
                           lambda status, body: status != P.OK or len(body) == size)

    def decode(self, opcode, status, body):
        """The decoded response of ``opcode``, or the error the board's status means."""
        if status == P.OK:
            return P.decode_response(opcode, status, body)
        message = body.decode("ascii", "replace")
        if status == BOARD_FAILED:
            raise BoardError(f"serial:{self.port}: the board failed during {opcode.name}: "
                             f"{message}")
        raise BoardRequestError(opcode, status, message, where=f"serial board on {self.port}")

    def transact(self, request, opname, timeout, fits=None):
        """Send one raw request frame; return ``(status, payload)`` of the response.

        ``fits(status, payload)`` tells whether a response with the right
        sequence number can be the answer to this request (default: any).
        """
        epoch = getattr(self._local, "epoch", self._epoch)
        with self._lock:
            self.check_session(epoch, opname)
            self._pipeline.drain(epoch, opname)     # a pipeline's leftovers answer first
            seq = self.next_seq()
            frame = encode_frame(seq, request)
            self._counts["requests"] += 1
            attempts = 1 + self.retries
            problems = []
            for attempt in range(attempts):
                self._counts["exchanges"] += 1
                if attempt:
                    self._counts["retries"] += 1
                    self.decoder.clear()          # whatever is half-received is useless now
                    self._io(self._serial.reset_input_buffer, opname)
                limit = timeout + len(frame) / self.rate
                problem = self.write(frame, opname)
                if problem is None:
                    got = self._receive(seq, request, limit, epoch, opname, fits)
                    if isinstance(got, tuple):
                        return got
                    problem = got
                problems.append(problem)
            raise self.failure(opname, attempts, problems)

    def settle(self, quiet=0.05, limit=None):
        """Discard what the line still carries, until it has been quiet for ``quiet`` s.

        A previous session may have left answers in flight; gives up after
        ``limit`` seconds (default: the timeout) of continuous traffic.
        """
        with self._lock:
            self._io(self._serial.reset_input_buffer, "opening")
            self.decoder.clear()
            end = time.monotonic() + (self.timeout if limit is None else limit)
            last = time.monotonic()
            while time.monotonic() < end and time.monotonic() - last < quiet:
                if self._io(lambda: self._serial.read(self._serial.in_waiting or 1), "opening"):
                    last = time.monotonic()

    def _io(self, fn, opname):
        try:
            return fn()
        except self._serial_module.SerialException as exc:
            if isinstance(exc, self._serial_module.SerialTimeoutException):
                return f"the request could not be sent within {self._serial.write_timeout:g} s"
            self.check_session(self._epoch, opname)
            raise BoardError(f"serial:{self.port}: {opname}: {exc}") from None
        except (OSError, TypeError, AttributeError) as exc:   # the port closed under us
            self.check_session(self._epoch, opname)
            raise BoardError(f"serial:{self.port}: {opname}: {exc}") from None

    def count(self, what):
        """Count one event in :attr:`stats`."""
        self._counts[what] += 1

    def peak(self, what, value):
        """Keep the largest ``value`` seen in :attr:`stats`."""
        self._counts[what] = max(self._counts[what], value)

    def next_seq(self):
        """The next request's sequence number."""
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def write(self, frame, opname):
        """Send ``frame``; None, or what went wrong (str)."""
        def send():
            self._serial.write(frame)
            self._counts["bytes_out"] += len(frame)
        return self._io(send, opname)

    def read(self, opname):
        """What the port has (waiting up to ~50 ms for a first byte)."""
        port = self._serial
        data = self._io(lambda: port.read(port.in_waiting or 1), opname)
        self._counts["bytes_in"] += len(data)
        return data

    def echo(self, opname):
        return BoardError(f"serial:{self.port}: the far end echoes {opname} back; it is a "
                          f"loopback or a terminal, not a hetflow bridge")

    def _receive(self, seq, request, limit, epoch, opname, fits):
        """``(status, payload)`` of the response numbered ``seq``, or what went wrong (str)."""
        deadline = time.monotonic() + limit
        misfits = 0
        while True:
            self.check_session(epoch, opname)
            if time.monotonic() >= deadline:
                self._counts["timeouts"] += 1
                extra = f" ({misfits} answer(s) with its sequence number did not fit " \
                        f"{opname})" if misfits else ""
                return f"no response within {limit:.2g} s{extra}"
            data = self.read(opname)
            if not data:
                continue
            for event in self.decoder.feed(data):
                if isinstance(event, Frame):
                    if event.seq == seq and event.payload == request:
                        # Our own frame came back: would otherwise read as an error status.
                        raise self.echo(opname)
                    response = self.split(event.payload) if event.seq == seq else None
                    if response is not None and (fits is None or fits(*response)):
                        return response
                    misfits += event.seq == seq
                    self._counts["stale"] += 1       # a late answer to an earlier request
                elif event.kind == "crc":
                    return "the response was corrupted (CRC error)"

    @staticmethod
    def split(payload):
        """``(status, body)`` of a protocol response frame, or None if it is not one."""
        if len(payload) < P.HEADER.size:
            return None
        status, length = P.HEADER.unpack_from(payload)
        if length != len(payload) - P.HEADER.size:
            return None
        return status, payload[P.HEADER.size:]

    # ---- several requests in flight ---------------------------------------------------

    def exchange(self, groups, retries=None):
        """Send groups of :class:`LinkRequest`, pipelined; return their ``(status, body)``.

        Each group is idempotent as a whole: a loss anywhere in it resends all
        of it (fresh sequence numbers), up to ``retries`` times (default: the
        link's).  Returns one list of ``(status, body)`` per group, in request
        order.

        Raises
        ------
        BoardError
            A group failed ``1 + retries`` times, or the call was abandoned.
        """
        groups = [list(g) for g in groups]
        first = next((g[0].name for g in groups if g), "exchange")
        epoch = getattr(self._local, "epoch", self._epoch)
        with self._lock:
            self.check_session(epoch, first)
            self._counts["exchanges"] += 1
            return self._pipeline.exchange(groups, epoch, first, retries)
