"""The virtual board: a design's RTL (a kernel, or an overlay) in a persistent Verilator process.

:class:`VirtualBoard` builds (or takes from the cache) the design's harness
binary (:mod:`hetflow.sim.board.harness`), starts it, and talks to it with
the frames of :mod:`hetflow.link.protocol` on its pipes
(:mod:`hetflow.sim.board.pipes`).  One Python call moves a whole buffer or
runs the clock until the kernel is done; Python never runs per cycle.  A burst
of requests (:meth:`VirtualBoard._call_many`, a whole job in
:meth:`~hetflow.link.client.BoardClient.run_job`) is written at once and its
answers read as they come; the process answers a burst together when its input
runs dry, so a job costs one round trip.  Large transfers skip the pipes: their
data goes through a staging area the process shares with the host
(:mod:`hetflow.sim.board.staging`), as ``STAGE_WRITE`` / ``STAGE_READ``
requests executed in their turn.  A job's burst is encoded from its
:class:`~hetflow.link.job_burst.FramePlan`, other bursts request by request; a
job of a shape seen before is one buffer filled in
(:meth:`VirtualBoard.run_frames`).

Every read from the process has a deadline.  If the process dies or does
not answer in time, the call raises :class:`BoardError` saying what
happened, the process is killed and reaped, and the next call starts a fresh
one (board memory and registers are then back to their reset state).

The board API and :meth:`VirtualBoard.run_job` come from
:class:`~hetflow.link.client.BoardClient` (shared with the serial backend), an
overlay's jobs from :class:`~hetflow.link.design_client.DesignClient`; this
module only moves frames to and from the process.
"""

import fcntl
import os
import select
import signal
import subprocess
import tempfile
import threading

from ...link import protocol as P
from ...link.client import BoardError, BoardRequestError
from ...link.job_layout import REGION_ALIGN
from ...link.design_client import DesignClient
from ...link.job_burst import JOIN_MAX, frame_plan, request_head, response_decoder
from ...link.job_frames import job_frames
from .harness import STAGE_READ, STAGE_WRITE, build_board
from .pipes import READ_CHUNK, PipeExchange
from .staging import StagedRead, staging_area

__all__ = ["VirtualBoard", "BoardError", "BoardRequestError", "DEFAULT_MEMORY", "REGION_ALIGN"]

DEFAULT_MEMORY = 16 << 20
#: Seconds a request other than RUN may take.
DEFAULT_TIMEOUT = 30.0
#: Bytes asked for each pipe's buffer: fewer wake-ups of either side per large transfer.
PIPE_SIZE = 1 << 20


def _describe_exit(code):
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class VirtualBoard(PipeExchange, DesignClient):
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
        self._stage_fd, self._stage = staging_area(self.memory_size)
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
        self._fds = (self._proc.stdin.fileno(), self._proc.stdout.fileno())
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
        """Restart the process after a failure (one that died since the last call is
        found by the next request's write failing, :meth:`_died_before`)."""
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

    def _burst(self, requests):
        """Send requests (the process is running, the lock held); decoded responses.

        A large ``MEM_WRITE`` or ``MEM_READ`` goes through the staging area: its
        data is copied there (by the host before the burst, by the process in
        its turn) and the request becomes a ``STAGE_WRITE`` / ``STAGE_READ``.
        """
        buffers, decoders, cursor, total = [], [], 0, 0
        stage, threshold = self._stage, self.stage_min
        room = 0 if stage is None or threshold is None else len(stage)
        mem_write, mem_read = P.MEM_WRITE, P.MEM_READ
        for opcode, fields, data, _ in requests:
            size = len(data)
            decoder = response_decoder(opcode)
            if not room or size < threshold and opcode is not mem_read:
                pass
            elif opcode is mem_write and cursor + size <= room:
                stage[cursor:cursor + size] = data
                opcode, fields, size = STAGE_WRITE, (fields[0], cursor, size), 0
                cursor += fields[2]
            elif opcode is mem_read and fields[1] >= threshold and cursor + fields[1] <= room:
                decoder = StagedRead(stage, cursor, fields[1])
                opcode, fields = STAGE_READ, (fields[0], cursor, fields[1])
                cursor += fields[2]
            buffers.append(request_head(opcode, fields, size))
            if size:
                buffers.append(data)
                total += size
            decoders.append(decoder)
        if total < JOIN_MAX:        # one small copy costs less than a long iovec
            buffers = [b"".join(buffers)]
        return self._decode(requests, self._exchange(buffers, requests), decoders)

    def _transact(self, code, payload=b"", timeout=None, opcode=None):
        """Send one raw request frame; return ``(status, payload)`` of the response."""
        opcode = opcode or P.OPCODES.get(code) or P.Opcode(code, f"opcode 0x{code:02x}", "<", "<")
        frame = P.encode_header(code, len(payload)) + bytes(payload)
        return self._exchange([frame], [(opcode, (), b"", timeout)])[0]

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
        # The same round trip as _call_many, but not through it (a subclass that counts
        # what _call_many sends counts a job's burst in its own _call_job), and written
        # from the burst's FramePlan unless a transfer goes through the staging area.
        with self._lock:
            self._ensure(requests[0][0])
            key = ("frames", len(requests), self.stage_min)
            plan = burst.cache.get(key, False)
            if plan is False:
                plan = burst.cache[key] = frame_plan(
                    requests, None if self._stage is None else self.stage_min, burst.fixed)
            if plan is None:
                return self._burst(requests)
            return self._exchange([plan.encode(requests)], requests, plan)

    # ---- a job of a known shape, as one buffer ----------------------------------------

    def job_frames(self, job, max_cycles=None):
        """The :class:`~hetflow.link.job_frames.JobFrames` of ``job``'s burst for
        :meth:`run_frames`, or None when it does not go through the pipes in one piece."""
        return job_frames(self, job, max_cycles,
                          None if self._stage is None else self.stage_min, READ_CHUNK)

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

    @property
    def cpu_seconds(self):
        """CPU time the board process has run so far, in seconds (Linux's
        ``/proc/PID/schedstat``); None where it cannot be read."""
        proc = self._proc
        if proc is None:
            return None
        try:
            with open(f"/proc/{proc.pid}/schedstat") as f:
                return int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

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
