"""The virtual board: a design's RTL (a kernel, or an overlay) in a persistent Verilator process.

Why one module of ~600 lines: the process, its pipes and the framing of a burst are the
one hot path of every sim call (``hetflow bench host``), kept and measured together.

:class:`VirtualBoard` builds (or takes from the cache) the design's harness
binary (:mod:`hetflow.sim.board.harness`), starts it, and talks to it with
the frames of :mod:`hetflow.link.protocol`.  One Python call moves a
whole buffer or runs the clock until the kernel is done; Python never runs
per cycle.  A burst of requests (:meth:`VirtualBoard._call_many`, a whole
job in :meth:`~hetflow.link.client.BoardClient.run_job`) is written at
once and its responses read as they come, writing and reading interleaved so
that large transfers both ways cannot block each other; the process answers a
burst together when its input runs dry, so a job costs one round trip.  Large
transfers skip the pipes: their data goes through a staging area the process
shares with the host (an anonymous ``memfd``), as ``STAGE_WRITE`` /
``STAGE_READ`` requests executed in their turn (see
:data:`~hetflow.sim.board.harness.STAGE_WRITE`).

Every read from the process has a deadline.  If the process dies or does
not answer in time, the call raises :class:`BoardError` saying what
happened, the process is killed and reaped, and the next call starts a fresh
one (board memory and registers are then back to their reset state).

The board API and :meth:`VirtualBoard.run_job` (with its memory layout) come
from :class:`~hetflow.link.client.BoardClient`, shared with the serial
backend, and the jobs of an overlay's instances and chains from
:class:`~hetflow.link.design_client.DesignClient`; this module only moves
frames to and from the process.
"""

import fcntl
import mmap
import os
import select
import signal
import struct
import subprocess
import tempfile
import threading
import time

from ...link import protocol as P
from ...link.client import REGION_ALIGN, BoardError, BoardRequestError
from ...link.design_client import DesignClient
from .harness import STAGE_READ, STAGE_WRITE, build_board

__all__ = ["VirtualBoard", "BoardError", "BoardRequestError", "DEFAULT_MEMORY", "REGION_ALIGN"]

DEFAULT_MEMORY = 16 << 20
#: Seconds a request other than RUN may take.
DEFAULT_TIMEOUT = 30.0
#: Bytes asked for each pipe's buffer: fewer wake-ups of either side per large transfer.
PIPE_SIZE = 1 << 20
_READ_CHUNK = 1 << 16
#: Bytes of the staging area allocated when a board starts (the process does the same to
#: its memory): the first job does not pay for page faults, a large board not for pages.
_PREFAULT = 64 << 20
_IOV_MAX = 512
#: A burst whose requests carry fewer data bytes than this is written from one buffer.
_JOIN_MAX = 4096


#: Encoded request heads (header and fixed fields) by ``(code, fields, data size)``: a
#: job repeats most of its requests call after call.
_HEADS = {}
_HEADS_MAX = 4096


def _encode_head(opcode, fields, size):
    if size and not opcode.request_tail:
        raise P.ProtocolError(f"{opcode.name} carries no data")
    try:
        fixed = struct.pack(opcode.request, *fields)
    except struct.error as exc:
        raise P.ProtocolError(f"{opcode.name}: bad fields {fields!r}: {exc}") from None
    head = P.HEADER.pack(opcode.code, len(fixed) + size) + fixed
    if len(_HEADS) >= _HEADS_MAX:
        _HEADS.clear()
    _HEADS[(opcode.code, fields, size)] = head
    return head


#: Per opcode code: ``None`` when an OK response is the data itself (``MEM_READ``), else
#: the :class:`struct.Struct` of its fixed-size OK response.
_RESPONSES = {}
_UNKNOWN = object()


def _response_struct(opcode):
    response = None if opcode.response_tail and not opcode.response_size \
        else struct.Struct(opcode.response)
    _RESPONSES[opcode.code] = response
    return response


def _staging_area(size):
    """``(descriptor, mmap)`` of an anonymous shared file of ``size`` bytes, or
    ``(None, None)`` where the system has no ``memfd_create`` (then every transfer
    goes through the pipes).  Pages are only allocated where a transfer touches them."""
    if not hasattr(os, "memfd_create"):
        return None, None
    fd = os.memfd_create("hetflow-board-stage", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        area = mmap.mmap(fd, size)
    except OSError:
        os.close(fd)
        return None, None
    # Allocate the first pages now, not during the first job's transfers (the process
    # maps the same prefix when it starts).
    zeros = bytes(1 << 20)
    for at in range(0, min(size, _PREFAULT), len(zeros)):
        area[at:at + len(zeros)] = zeros[:min(len(zeros), size - at)]
    return fd, area


def _describe_exit(code):
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class VirtualBoard(DesignClient):
    """A design on the virtual board: one kernel, or an overlay of several instances.

    Parameters
    ----------
    kernel : Shell, Overlay or BoardMap
        The design: a kernel instance (``Shell(Saxpy, lanes=4)``), an
        :class:`~hetflow.hw.overlay.Overlay` or its
        :class:`~hetflow.link.boardmap.BoardMap`.  ``kernel`` is then
        the single kernel (None for an overlay) and ``boardmap`` the design.
    memory_size : int
        Bytes of board memory (at most 4 GiB - 1; addresses are 32-bit).
    status : callable, optional
        Called with one-line progress messages (the first build takes a while).
    timeout : float
        Seconds any request except ``run`` may take before the process is
        declared hung.
    """

    #: Transfers of at least this many bytes go through the staging area shared with the
    #: process, smaller ones through the pipes (None: every one through the pipes).
    stage_min = 1 << 16

    def __init__(self, kernel, memory_size=DEFAULT_MEMORY, status=None, timeout=DEFAULT_TIMEOUT):
        if not 1 <= int(memory_size) <= 0xFFFFFFFF:
            raise ValueError(f"memory_size must be 1..0xffffffff bytes, not {memory_size}")
        self.memory_size = int(memory_size)
        self.timeout = float(timeout)
        self._status = status
        self.build = build_board(kernel, status=status)
        self.boardmap = board = self.build.board
        self.kernel = next(iter(board.units.values())).kernel if board.overlay is None else None
        self.channels = list(board.channels)
        self._proc = None
        self._log = None
        self.info = None
        self.restarts = 0
        self._stage_fd, self._stage = _staging_area(self.memory_size)
        self._lock = threading.Lock()      # one request at a time
        with self._lock:
            self._start()

    @property
    def description(self):
        return f"virtual board of {self.boardmap.name}"

    # ---- process management -----------------------------------------------------------

    def _start(self):
        self._log = tempfile.TemporaryFile(prefix="hetflow-board-")
        try:
            stage = () if self._stage is None else (self._stage_fd,)
            self._proc = subprocess.Popen(
                [str(self.build.executable), str(self.memory_size), *map(str, stage)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, bufsize=0,
                start_new_session=True, pass_fds=stage)
        except OSError as exc:
            self._log.close()
            self._log = None
            raise BoardError(f"virtual board of {self.boardmap.name}: cannot start "
                             f"{self.build.executable}: {exc}") from None
        for pipe in (self._proc.stdin, self._proc.stdout):
            os.set_blocking(pipe.fileno(), False)
            try:
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass        # above /proc/sys/fs/pipe-max-size: the default size works too
        # What the process's answers are waited for with: its output, and its input too
        # while a burst is still being written.
        self._polls = (select.poll(), select.poll())
        for poll in self._polls:
            poll.register(self._proc.stdout.fileno(), select.POLLIN)
        self._polls[1].register(self._proc.stdin.fileno(), select.POLLOUT)
        info = self._request(P.PING)
        if info.magic != P.MAGIC or info.version != P.VERSION \
                or info.channels != len(self.channels):
            self._kill()
            raise BoardError(f"virtual board of {self.boardmap.name} answered PING with {info}; "
                             f"expected protocol {P.VERSION} with {len(self.channels)} channels")
        self.info = info

    def _stderr_tail(self):
        if self._log is None:
            return ""
        try:
            self._log.seek(0)
            text = self._log.read()[-600:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f"; its stderr: {text}" if text else ""

    def _kill(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def _fail(self, what, opcode):
        """Kill the process and raise a BoardError about it."""
        proc = self._proc
        if proc is not None and proc.poll() is None and "no response" not in what:
            try:
                proc.wait(timeout=1.0)     # it is dying (pipe closed); learn how
            except subprocess.TimeoutExpired:
                pass
        code = proc.poll() if proc is not None else None
        tail = self._stderr_tail()
        self._kill()
        how = "" if code is None else f"the process {_describe_exit(code)}; "
        raise BoardError(f"virtual board of {self.boardmap.name}: {what} during {opcode.name}; "
                         f"{how}board state is lost; the next call restarts it{tail}") from None

    def _ensure(self, opcode):
        """Restart the process after a failure.

        A process that died since the last call is found by the next request
        itself, without a system call of its own: its input is closed, so the
        first write fails (:meth:`_died_before`).
        """
        if self._proc is None:
            self.restarts += 1
            self._start()

    def _died_before(self, opcode):
        """Report a process that died before a request reached it (and reap it)."""
        proc = self._proc
        try:
            code = proc.wait(timeout=1.0)       # its input is closed: it is dead or dying
        except subprocess.TimeoutExpired:
            code = None
        tail = self._stderr_tail()
        self._kill()
        raise BoardError(f"virtual board of {self.boardmap.name}: the process "
                         f"{_describe_exit(code)} before {opcode.name}; board state is "
                         f"lost; the next call restarts it{tail}")

    # ---- frames -----------------------------------------------------------------------

    def _exchange(self, buffers, expected):
        """Write the request frames in ``buffers``; read one response per ``expected``.

        ``expected`` is one ``(opcode, timeout)`` per request.  Writing and
        reading interleave (the process answers while it is still being fed,
        and blocks when its output pipe is full), so neither side can wait
        for the other however large the frames are.  Each response must come
        within its request's ``timeout`` of the one before.  Returns
        ``[(status, body)]`` in order.

        Every system call costs microseconds, as much as a small job's work:
        a burst's frames usually leave in one ``writev``, the answers are read
        at once when they are already there (the process often answers a small
        burst before ``writev`` returns), and otherwise only once ``poll``
        says they have come.
        """
        wfd, rfd = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        out = [b if type(b) is bytes else memoryview(b).cast("B") for b in buffers]
        out = [b for b in out if len(b)]
        count = len(expected)
        answers, pending = [], b""
        body, got = None, 0                 # a large body being read in place
        opcode, timeout = expected[0]
        deadline = time.monotonic() + timeout
        header, hsize = P.HEADER, P.HEADER.size
        ready = True                        # read without asking poll first
        sent = False                        # whether any byte reached the process
        while len(answers) < count:
            if out:
                try:
                    n = os.writev(wfd, out[:_IOV_MAX])
                except BlockingIOError:
                    n = 0
                except (BrokenPipeError, ConnectionResetError):
                    if not sent:
                        self._died_before(opcode)
                    self._fail("the process closed its input", opcode)
                sent = sent or n > 0
                while n:
                    if n >= len(out[0]):
                        n -= len(out.pop(0))
                    else:
                        out[0], n = out[0][n:], 0
                ready = ready and not out
            if not ready:
                left = deadline - time.monotonic()
                events = self._polls[bool(out)].poll(max(left, 0) * 1000)
                if not any(fd == rfd for fd, _ in events):
                    if not events and time.monotonic() >= deadline:
                        if self._proc.poll() is not None:
                            self._fail("the process died", opcode)
                        self._fail(f"no response within {timeout:g} s", opcode)
                    continue
            ready = False
            try:
                if body is not None:
                    n = os.readv(rfd, [memoryview(body)[got:]])
                    chunk = None
                else:
                    chunk = os.read(rfd, _READ_CHUNK)
                    n = len(chunk)
            except BlockingIOError:
                continue
            if n == 0:
                self._fail("the process died (its output closed)", opcode)
            before = len(answers)
            if body is not None:
                got += n
                if got == len(body):
                    answers.append((status, bytes(body)))
                    body = None
            else:
                # Whole responses in what has arrived; a large body is read in place.
                data, at = (pending + chunk if pending else chunk), 0
                size, k = len(data), before
                while k < count and size - at >= hsize:
                    status, length = header.unpack_from(data, at)
                    end = at + hsize + length
                    if size >= end:
                        answers.append((status, data[at + hsize:end]))
                        at = end
                        k += 1
                    elif length > _READ_CHUNK:
                        body = bytearray(length)
                        got = size - at - hsize
                        body[:got] = data[at + hsize:]
                        at = size
                        break
                    else:
                        break
                pending = data[at:] if at else data
            if len(answers) != before and len(answers) < count:
                opcode, timeout = expected[len(answers)]
                deadline = time.monotonic() + timeout
        if pending or out:
            self._fail("malformed response (more bytes than the requests' responses)", opcode)
        return answers

    def _burst(self, requests):
        """Send requests (the process is running, the lock held); decoded responses.

        A large ``MEM_WRITE`` or ``MEM_READ`` goes through the staging area: its
        data is copied there (by the host before the burst, by the process in
        its turn) and the request becomes a ``STAGE_WRITE`` / ``STAGE_READ``.
        """
        buffers, expected, staged, cursor, total = [], [], {}, 0, 0
        stage, threshold, default = self._stage, self.stage_min, self.timeout
        room = 0 if stage is None or threshold is None else len(stage)
        heads, mem_write, mem_read = _HEADS, P.MEM_WRITE, P.MEM_READ
        for opcode, fields, data, timeout in requests:
            expected.append((opcode, default if timeout is None else timeout))
            size = len(data)
            if not room or size < threshold and opcode is not mem_read:
                pass
            elif opcode is mem_write and cursor + size <= room:
                stage[cursor:cursor + size] = data
                opcode, fields, size = STAGE_WRITE, (fields[0], cursor, size), 0
                cursor += fields[2]
            elif opcode is mem_read and fields[1] >= threshold and cursor + fields[1] <= room:
                staged[len(expected) - 1] = (cursor, fields[1])
                opcode, fields = STAGE_READ, (fields[0], cursor, fields[1])
                cursor += fields[2]
            head = heads.get((opcode.code, fields, size))
            if head is None:
                head = _encode_head(opcode, fields, size)
            buffers.append(head)
            if size:
                buffers.append(data)
                total += size
        if total < _JOIN_MAX:       # one small copy costs less than a long iovec
            buffers = [b"".join(buffers)]
        answers = self._exchange(buffers, expected)
        responses, rejected = [], None
        structs, ok, ping = _RESPONSES, P.OK, P.PING
        for i, ((opcode, _), (status, body)) in enumerate(zip(expected, answers)):
            if status != ok:
                responses.append(None)
                rejected = rejected or BoardRequestError(opcode, status,
                                                         body.decode("ascii", "replace"))
                continue
            if staged and i in staged:     # the data is in the area now
                at, length = staged[i]
                # One copy, into a writable buffer its reader may keep as it is
                # (from_memory_image makes the output array of it without copying again).
                with memoryview(stage) as area:
                    responses.append(bytearray(area[at:at + length]))
                continue
            unpack = structs.get(opcode.code, _UNKNOWN)
            if unpack is _UNKNOWN:
                unpack = _response_struct(opcode)
            if unpack is None:
                responses.append(body)
            elif opcode is ping:
                try:
                    responses.append(P.decode_response(opcode, status, body))
                except P.ProtocolError as exc:
                    self._fail(f"malformed response ({exc})", opcode)
            else:
                try:
                    responses.append(unpack.unpack(body))
                except struct.error:
                    self._fail(f"malformed response ({opcode.name}: response of {len(body)} "
                               f"bytes; expected {unpack.size})", opcode)
        if rejected is not None:
            raise rejected
        return responses

    def _transact(self, code, payload=b"", timeout=None, opcode=None):
        """Send one raw request frame; return ``(status, payload)`` of the response."""
        opcode = opcode or P.OPCODES.get(code) or P.Opcode(code, f"opcode 0x{code:02x}", "<", "<")
        timeout = self.timeout if timeout is None else float(timeout)
        frame = P.encode_header(code, len(payload)) + bytes(payload)
        return self._exchange([frame], [(opcode, timeout)])[0]

    def _request(self, opcode, *fields, data=b"", timeout=None):
        return self._burst([(opcode, fields, data, timeout)])[0]

    def _call(self, opcode, *fields, data=b"", timeout=None):
        with self._lock:
            self._ensure(opcode)
            return self._request(opcode, *fields, data=data, timeout=timeout)

    def _call_many(self, requests):
        """Send the whole burst at once and read every response: one round trip."""
        if not requests:
            return []
        with self._lock:
            self._ensure(requests[0][0])
            return self._burst(requests)

    def _call_job(self, burst, requests):
        # The same round trip as _call_many, but not through it: a subclass that counts
        # what _call_many sends counts a job's burst in its own _call_job.
        with self._lock:
            self._ensure(requests[0][0])
            key = ("frames", len(requests), self.stage_min)
            plan = burst.cache.get(key)
            if plan is None:
                plan = burst.cache[key] = self._frame_plan(requests)
            return self._burst(requests) if plan is False else self._planned_burst(plan,
                                                                                   requests)

    def _frame_plan(self, requests):
        """What :meth:`_planned_burst` keeps of a job's burst: the encoded head of each
        request (with its fields, the same tuple call after call where they do not change)
        and the decoder of each response; False when a transfer of the burst goes through
        the staging area or the burst is large (then it goes as any other)."""
        threshold = None if self._stage is None else self.stage_min
        heads, decoders, total = [], [], 0
        for opcode, fields, data, _ in requests:
            size = len(data)
            total += size
            if threshold is not None and (size >= threshold or opcode is P.MEM_READ
                                          and fields[1] >= threshold) \
                    or opcode is P.PING or total >= _JOIN_MAX:
                return False
            heads.append((fields, _HEADS.get((opcode.code, fields, size))
                          or _encode_head(opcode, fields, size)))
            decoders.append(_RESPONSES[opcode.code] if opcode.code in _RESPONSES
                            else _response_struct(opcode))
        return heads, decoders

    def _planned_burst(self, plan, requests):
        """:meth:`_burst` of a job's burst with a :meth:`_frame_plan`: one buffer, no staging."""
        refs, decoders = plan
        parts, expected, default, heads = [], [], self.timeout, _HEADS
        for (opcode, fields, data, timeout), (ref, head) in zip(requests, refs):
            if fields is not ref:
                size = len(data)
                head = heads.get((opcode.code, fields, size)) \
                    or _encode_head(opcode, fields, size)
            parts.append(head)
            if len(data):
                parts.append(data)
            expected.append((opcode, default if timeout is None else timeout))
        answers = self._exchange([b"".join(parts)], expected)
        responses, rejected, ok = [], None, P.OK
        for (opcode, _), (status, body), unpack in zip(expected, answers, decoders):
            if status != ok:
                responses.append(None)
                rejected = rejected or BoardRequestError(opcode, status,
                                                         body.decode("ascii", "replace"))
            elif unpack is None:
                responses.append(body)
            else:
                try:
                    responses.append(unpack.unpack(body))
                except struct.error:
                    self._fail(f"malformed response ({opcode.name}: response of {len(body)} "
                               f"bytes; expected {unpack.size})", opcode)
        if rejected is not None:
            raise rejected
        return responses

    # ---- the board API (the rest comes from BoardClient) -----------------------------

    def transact_raw(self, request, timeout=None):
        """Send one already-encoded request frame; return the raw response frame.

        For a bridge that forwards frames it does not interpret (the serial
        bridge model, :mod:`hetflow.sim.board.bridge`).  The request's header
        must announce exactly the payload that follows; error statuses are
        returned, not raised.  Raises :class:`BoardError` when the process
        fails, as every other call does.
        """
        request = bytes(request)
        code, length = P.decode_header(request[:P.HEADER.size])
        if length != len(request) - P.HEADER.size:
            raise P.ProtocolError(f"request frame says {length} payload bytes but has "
                                  f"{len(request) - P.HEADER.size}")
        opcode = P.OPCODES.get(code) or P.Opcode(code, f"opcode 0x{code:02x}", "<", "<")
        with self._lock:
            self._ensure(opcode)
            status, body = self._transact(code, request[P.HEADER.size:], timeout, opcode)
        return P.encode_response(status, body)

    def close(self):
        """Ask the process to quit (kill it if it does not) and reap it.

        Safe from another thread while a request (a long ``run``) is under way:
        the process is then killed, and that request raises :class:`BoardError`
        and reaps it.
        """
        if not self._lock.acquire(blocking=False):
            proc = self._proc
            if proc is not None and proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            return
        try:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                try:
                    self._request(P.QUIT, timeout=5.0)
                    proc.wait(timeout=5.0)
                except (BoardError, subprocess.TimeoutExpired):
                    pass
            self._kill()
        finally:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_lock", None) is not None:
                self.close()
            if getattr(self, "_stage", None) is not None:
                self._stage.close()
                os.close(self._stage_fd)
        except Exception:
            pass
