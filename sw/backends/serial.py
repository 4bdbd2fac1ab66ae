"""The serial device: a board's kernel behind the SoC's UART-to-bus bridge.

``hetflow.open("serial:/dev/ttyUSB1")`` opens the port with pyserial and
speaks the board protocol (:mod:`hetflow.sim.board.protocol`) in serial
frames (:mod:`hetflow.sim.board.framing`) to the bridge in the gateware
(modelled by :mod:`hetflow.sim.board.bridge`).  Jobs run through the same
steps as on the virtual board (:class:`~hetflow.sim.board.client.BoardClient`).

Which kernel is on the board
    A serial board carries one kernel, the bitstream's.  On open the device
    sends ``PING`` (protocol version, DMA channels, memory and register
    window sizes) and reads the kernel's ``id`` register (0x14, the CRC-32
    of the kernel name), and looks the id up among the registered kernels.
    Elaboration parameters cannot be read back: parameters that change the
    port widths or the register map (saxpy's ``lanes``, gemm's ``rows`` and
    ``cols`` ...) must be given as the bitstream was built::

        dev = hetflow.open("serial:/dev/ttyUSB1", params={"lanes": 4})

    The channel count and register window from ``PING`` are checked against
    them, which catches some mistakes but not all (saxpy with 1 or 4 lanes
    has the same channels and window).  ``kernel="name"`` names the kernel
    instead of discovering it (it must still match the id register).
    ``dev.kernel(name)`` then returns the board's kernel; asking for another
    kernel or other parameters is an error naming what the board has.

Retries
    Every request is sent with a sequence number.  A response with a bad
    CRC, or none within the timeout, makes the device send the *same* frame
    again (the bridge answers a repeat from its cache without executing the
    request twice), up to ``retries`` times; then :class:`BoardError` names
    the port, the request and what went wrong.  Memory transfers are split
    into requests of at most ``chunk`` bytes, so a corrupted frame costs one
    chunk, not the whole buffer; ``RUN`` is sent in slices of
    :attr:`SerialBoard.run_slice` cycles, so a lost answer is noticed in about
    a second, not after the job's whole time budget.

    A wait that times out abandons its call: the call's next request fails
    and the next call starts with a reset.  A request the board is already
    executing (a ``RUN`` slice) still finishes first.
"""

import errno
import os
import threading
import time

from ..device import Device
from ..hw.errors import HetflowError
from ..hw.registry import get_kernel, kernel_names
from ..hw.regmap import kernel_id
from ..hw.shell import Shell
from ..sim.board import protocol as P
from ..sim.board.client import BoardClient, BoardError, BoardRequestError
from ..sim.board.framing import (BOARD_FAILED, BRIDGE_CHUNK, DEFAULT_BAUD, MAX_PAYLOAD,
                                 OVERHEAD, Frame, FrameDecoder, encode_frame)
from ..sim.board.harness import channels

__all__ = ["SerialDevice", "SerialBoard", "SerialLink", "KernelMismatch", "DEFAULT_BAUDRATE"]

DEFAULT_BAUDRATE = DEFAULT_BAUD
#: Seconds a small request may take per attempt.
DEFAULT_TIMEOUT = 1.0
#: A board's bridge buffers a whole request before checking its CRC; it takes at most
#: this many data bytes per MEM_WRITE (see hetflow.boards.bridge).
DEFAULT_CHUNK = BRIDGE_CHUNK
#: Seconds one read of the port may block: how quickly an abandoned call notices.
_POLL = 0.05
_ID_REGISTER = 0x14


class KernelMismatch(HetflowError, ValueError):
    """The kernel asked for is not the one the board carries."""


def _params_text(p):
    return ", ".join(f"{k}={v}" for k, v in p.items())


class SerialLink:
    """Framed, retried request/response exchanges on one serial port.

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

    Attributes
    ----------
    stats : dict
        ``requests``, ``retries``, ``timeouts``, ``stale`` (responses to an
        earlier request, dropped), ``bytes_out`` and ``bytes_in`` (bytes written
        to and read from the port by requests) and the decoder's ``frames``,
        ``crc``, ``length``, ``truncated``, ``garbage``.
    """

    def __init__(self, port, baudrate=DEFAULT_BAUDRATE, timeout=DEFAULT_TIMEOUT, retries=3,
                 chunk=DEFAULT_CHUNK):
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
        self._decoder = FrameDecoder(MAX_PAYLOAD)
        self._lock = threading.Lock()
        # A random start, so a new session's first request is unlikely to look like a retry
        # of the previous session's last one (the bridge compares payloads too).
        self._seq = int.from_bytes(os.urandom(1), "little")
        self._epoch = 0
        self._local = threading.local()
        self._counts = {"requests": 0, "retries": 0, "timeouts": 0, "stale": 0,
                        "bytes_out": 0, "bytes_in": 0}
        self.closed = False

    @property
    def stats(self):
        return {**self._counts, **self._decoder.stats}

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

    # ---- exchanges --------------------------------------------------------------------

    def _check_session(self, epoch, opname):
        if self.closed:
            raise BoardError(f"serial:{self.port}: the port was closed during {opname}")
        if epoch != self._epoch:
            raise BoardError(f"serial:{self.port}: {opname} abandoned (a wait on this device "
                             f"timed out)")

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
        request = P.encode_request(opcode, *fields, data=data)
        timeout = self.timeout if timeout is None else float(timeout)
        # Sequence numbers are 8 bits: a late answer to an older request may carry ours.
        # An OK answer of the wrong size for this request is such an answer, not ours.
        size = fields[1] if opcode is P.MEM_READ else opcode.response_size
        status, body = self.transact(request, opcode.name, timeout,
                                     lambda status, body: status != P.OK or len(body) == size)
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
            self._check_session(epoch, opname)
            self._seq = seq = (self._seq + 1) & 0xFF
            frame = encode_frame(seq, request)
            self._counts["requests"] += 1
            attempts = 1 + self.retries
            problems = []
            for attempt in range(attempts):
                if attempt:
                    self._counts["retries"] += 1
                    self._decoder.clear()          # whatever is half-received is useless now
                    self._io(self._serial.reset_input_buffer, opname)
                limit = timeout + len(frame) / self.rate
                problem = self._io(lambda: self._write(frame), opname)
                if problem is None:
                    got = self._receive(seq, request, limit, epoch, opname, fits)
                    if isinstance(got, tuple):
                        return got
                    problem = got
                problems.append(problem)
            summary = problems[0] if len(set(problems)) == 1 else "; ".join(problems)
            raise BoardError(f"serial:{self.port}: {opname} failed after {attempts} attempt(s): "
                             f"{summary}; is the board connected, running the hetflow bridge, "
                             f"at {self.baudrate} baud?")

    def settle(self, quiet=0.05, limit=None):
        """Discard what the line still carries, until it has been quiet for ``quiet`` s.

        A previous session may have left answers in flight; gives up after
        ``limit`` seconds (default: the timeout) of continuous traffic.
        """
        with self._lock:
            self._io(self._serial.reset_input_buffer, "opening")
            self._decoder.clear()
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
            self._check_session(self._epoch, opname)
            raise BoardError(f"serial:{self.port}: {opname}: {exc}") from None
        except (OSError, TypeError, AttributeError) as exc:   # the port closed under us
            self._check_session(self._epoch, opname)
            raise BoardError(f"serial:{self.port}: {opname}: {exc}") from None

    def _write(self, frame):
        self._serial.write(frame)
        self._counts["bytes_out"] += len(frame)
        return None

    def _receive(self, seq, request, limit, epoch, opname, fits):
        """``(status, payload)`` of the response numbered ``seq``, or what went wrong (str)."""
        port = self._serial
        deadline = time.monotonic() + limit
        misfits = 0
        while True:
            self._check_session(epoch, opname)
            if time.monotonic() >= deadline:
                self._counts["timeouts"] += 1
                extra = f" ({misfits} answer(s) with its sequence number did not fit " \
                        f"{opname})" if misfits else ""
                return f"no response within {limit:.2g} s{extra}"
            data = self._io(lambda: port.read(port.in_waiting or 1), opname)
            if not data:
                continue
            self._counts["bytes_in"] += len(data)
            for event in self._decoder.feed(data):
                if isinstance(event, Frame):
                    if event.seq == seq and event.payload == request:
                        # Our own frame came back: would otherwise read as an error status.
                        raise BoardError(f"serial:{self.port}: the far end echoes {opname} back; "
                                         f"it is a loopback or a terminal, not a hetflow bridge")
                    response = self._split(event.payload) if event.seq == seq else None
                    if response is not None and (fits is None or fits(*response)):
                        return response
                    misfits += event.seq == seq
                    self._counts["stale"] += 1       # a late answer to an earlier request
                elif event.kind == "crc":
                    return "the response was corrupted (CRC error)"

    @staticmethod
    def _split(payload):
        """``(status, body)`` of a protocol response frame, or None if it is not one."""
        if len(payload) < P.HEADER.size:
            return None
        status, length = P.HEADER.unpack_from(payload)
        if length != len(payload) - P.HEADER.size:
            return None
        return status, payload[P.HEADER.size:]


class SerialBoard(BoardClient):
    """The board API and :meth:`run_job` over a :class:`SerialLink`."""

    memory_hint = "make the call smaller (a board's memory is fixed)"
    #: Cycles per RUN request.
    run_slice = 1 << 20
    #: Slowest kernel clock (Hz) the RUN timeouts allow for.
    min_clock = 1e6

    def __init__(self, link, kernel, info):
        self.link = link
        self.kernel = kernel
        self.channels = channels(kernel)
        self.info = info
        self.memory_size = info.memory_size
        self.timeout = link.timeout
        self.max_transfer = link.chunk
        # Half the line rate: a transfer's timeout must hold on a busy line too.
        self.transfer_rate = link.rate / 2
        self.where = f"serial board on {link.port}"

    @property
    def description(self):
        return f"serial:{self.link.port} ({self.kernel.name})"

    def _call(self, opcode, *fields, data=b"", timeout=None):
        return self.link.call(opcode, *fields, data=data, timeout=timeout)

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


class _PortMeter:
    """The bytes and exchanges that crossed a port, as a :class:`~hetflow.boardtime.LinkCount`."""

    def __init__(self, link):
        self.link = link

    @property
    def total(self):
        from ..boardtime import LinkCount
        s = self.link.stats
        return LinkCount(s["requests"] + s["retries"], s["bytes_out"] + s["bytes_in"])


class SerialDevice(Device):
    """A board on a serial port; see the module doc.

    Parameters
    ----------
    port : str
        Device path or pyserial URL.
    baudrate : int, optional
        Line speed of the bridge (8N1).  Default: the build's (``board``), else
        :data:`DEFAULT_BAUDRATE`.
    board : path, optional
        The build directory of the bitstream on the board (``hetflow build
        --out``): its ``report.json`` gives the baud rate, the kernel and its
        parameters, so none of them has to be matched by hand.  An explicit
        ``baudrate``, ``kernel`` or ``params`` still wins.
    timeout : float
        Seconds per attempt of a small request.
    retries : int
        Extra attempts after a timeout or a corrupted response.
    kernel : str, optional
        The kernel on the board; by default found from its ``id`` register.
    params : dict, optional
        Its elaboration parameters, as the bitstream was built (default: the
        kernel's defaults).
    chunk : int
        Largest memory transfer per request, in bytes.
    max_cycles : int, optional
        Cycle budget of one job (see :meth:`BoardClient.run_job`).
    """

    def __init__(self, port, baudrate=None, timeout=DEFAULT_TIMEOUT, retries=3,
                 kernel=None, params=None, chunk=DEFAULT_CHUNK, max_cycles=None, board=None):
        self.port = port
        self.name = f"serial:{port}"
        self.max_cycles = max_cycles
        if board is not None:
            from ..boardtime import read_build
            report = read_build(board)
            if baudrate is None:
                baudrate = (report.get("bridge") or {}).get("baud")
                if not isinstance(baudrate, int):
                    raise HetflowError(f"{self.name}: {board}/report.json names no bridge "
                                       f"baud rate (bridge.baud); pass baudrate=")
            if kernel is None and params is None:
                kernel, params = report["kernel"], dict(report["params"])
        baudrate = DEFAULT_BAUDRATE if baudrate is None else baudrate
        if params is not None and not isinstance(params, dict):
            raise HetflowError(f"params must be a dict of elaboration parameters, "
                               f"not {params!r}")
        self.link = SerialLink(port, baudrate, timeout, retries, chunk)
        try:
            self.link.settle()
            info = self.link.call(P.PING)
            if info.magic != P.MAGIC or info.version != P.VERSION:
                raise BoardError(f"{self.name}: the far end answered PING with magic "
                                 f"{info.magic!r} version {info.version}; expected a hetflow "
                                 f"bridge ({P.MAGIC!r} version {P.VERSION})")
            found = self.link.call(P.REG_READ, _ID_REGISTER)[0]
            kernel_obj = self._identify(found, kernel, params or {})
            want = len(channels(kernel_obj))
            if info.channels != want or info.register_size != kernel_obj.map.size:
                raise KernelMismatch(
                    f"{self.name}: the board's {kernel_obj.name} has {info.channels} DMA "
                    f"channel(s) and a 0x{info.register_size:x}-byte register window, but "
                    f"{kernel_obj.name}({_params_text(kernel_obj.p)}) has {want} and "
                    f"0x{kernel_obj.map.size:x}; pass params= as the bitstream was built")
            self.board = SerialBoard(self.link, kernel_obj, info)
        except BaseException:
            self.link.close()
            raise
        super().__init__()

    def _identify(self, found, kernel, params):
        names = [n for n in kernel_names() if kernel_id(n) == found]
        has = f"'{names[0]}'" if names else "no registered kernel"
        if kernel is not None:
            cls = get_kernel(kernel)
            if kernel_id(cls.name) != found:
                raise KernelMismatch(f"{self.name}: the board's kernel id is 0x{found:08x} "
                                     f"({has}), not {cls.name} (0x{kernel_id(cls.name):08x})")
        elif not names:
            raise KernelMismatch(f"{self.name}: the board's kernel id 0x{found:08x} is the "
                                 f"CRC-32 of no registered kernel name (known: "
                                 f"{', '.join(kernel_names())}); install the kernel's package "
                                 f"or pass kernel='module:Class'")
        else:
            cls = get_kernel(names[0])
        kernel_obj = Shell(cls, **params)
        # The instance only describes the bitstream's kernel (ports, register map); it is
        # never elaborated here, which Amaranth would otherwise warn about.
        kernel_obj._MustUse__used = True
        return kernel_obj

    def kernel(self, name, **params):
        """The board's kernel; ``params`` default to the board's and must equal them.

        Raises
        ------
        KernelMismatch
            For another kernel or other parameters, naming what the board has.
        """
        self._check_open()
        cls = get_kernel(name)
        have = self.board.kernel
        p = cls.bind(**params) if params or cls is not have.kernel_cls else have.p
        if cls is not have.kernel_cls or dict(p) != dict(have.p):
            raise KernelMismatch(f"{self.name} carries {have.name}({_params_text(have.p)}), "
                                 f"its bitstream's kernel; it cannot run "
                                 f"{cls.name}({_params_text(p)})")
        return super().kernel(cls, **have.p)

    def _submit(self, fn):
        # A call belongs to the session it was started in: once abandoned, its next
        # request fails instead of interleaving with the calls that follow it.
        epoch = self.link.epoch

        def bound():
            self.link.bind(epoch)
            return fn()
        return super()._submit(bound)

    def _memory(self, handle):
        return self.board

    def _link_meter(self, handle):
        return _PortMeter(self.link)

    def _execute(self, handle, job):
        return self.board.run_job(job, max_cycles=self.max_cycles)

    def _abandon(self, run):
        # The abandoned job's next request fails; the new job starts with a reset.
        self.link.abandon()
        super()._abandon(run)

    def _close(self):
        self.link.close()
