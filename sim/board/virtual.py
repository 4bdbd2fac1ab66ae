"""The virtual board: a kernel's RTL in a persistent Verilator process.

:class:`VirtualBoard` builds (or takes from the cache) the kernel's harness
binary (:mod:`hetflow.sim.board.harness`), starts it, and talks to it with
the frames of :mod:`hetflow.sim.board.protocol`.  One Python call moves a
whole buffer or runs the clock until the kernel is done; Python never runs
per cycle.

Every read from the process has a deadline.  If the process dies or does
not answer in time, the call raises :class:`BoardError` saying what
happened, the process is killed and reaped, and the next call starts a fresh
one (board memory and registers are then back to their reset state).

The board API and :meth:`VirtualBoard.run_job` (with its memory layout) come
from :class:`~hetflow.sim.board.client.BoardClient`, shared with the serial
backend; this module only moves frames to and from the process.
"""

import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time

from . import protocol as P
from .client import REGION_ALIGN, BoardClient, BoardError, BoardRequestError
from .harness import build_board, channels

__all__ = ["VirtualBoard", "BoardError", "BoardRequestError", "DEFAULT_MEMORY", "REGION_ALIGN"]

DEFAULT_MEMORY = 16 << 20
#: Seconds a request other than RUN may take.
DEFAULT_TIMEOUT = 30.0


def _describe_exit(code):
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class VirtualBoard(BoardClient):
    """A kernel instance on the virtual board.

    Parameters
    ----------
    kernel : Kernel
        The kernel instance (``Shell(Saxpy, lanes=4)``).
    memory_size : int
        Bytes of board memory (at most 4 GiB - 1; addresses are 32-bit).
    status : callable, optional
        Called with one-line progress messages (the first build takes a while).
    timeout : float
        Seconds any request except ``run`` may take before the process is
        declared hung.
    """

    def __init__(self, kernel, memory_size=DEFAULT_MEMORY, status=None, timeout=DEFAULT_TIMEOUT):
        if not 1 <= int(memory_size) <= 0xFFFFFFFF:
            raise ValueError(f"memory_size must be 1..0xffffffff bytes, not {memory_size}")
        self.kernel = kernel
        self.memory_size = int(memory_size)
        self.timeout = float(timeout)
        self.channels = channels(kernel)
        self._status = status
        self.build = build_board(kernel, status=status)
        self._proc = None
        self._log = None
        self.info = None
        self.restarts = 0
        self._lock = threading.Lock()      # one request at a time
        with self._lock:
            self._start()

    # ---- process management -----------------------------------------------------------

    def _start(self):
        self._log = tempfile.TemporaryFile(prefix="hetflow-board-")
        try:
            self._proc = subprocess.Popen(
                [str(self.build.executable), str(self.memory_size)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, bufsize=0,
                start_new_session=True)
        except OSError as exc:
            self._log.close()
            self._log = None
            raise BoardError(f"virtual board of {self.kernel.name}: cannot start "
                             f"{self.build.executable}: {exc}") from None
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)
        info = self._request(P.PING)
        if info.magic != P.MAGIC or info.version != P.VERSION \
                or info.channels != len(self.channels):
            self._kill()
            raise BoardError(f"virtual board of {self.kernel.name} answered PING with {info}; "
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
        raise BoardError(f"virtual board of {self.kernel.name}: {what} during {opcode.name}; "
                         f"{how}board state is lost; the next call restarts it{tail}") from None

    def _ensure(self, opcode):
        """Restart the process after a failure; report one that died since the last call."""
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            tail = self._stderr_tail()
            self._kill()
            raise BoardError(f"virtual board of {self.kernel.name}: the process "
                             f"{_describe_exit(code)} before {opcode.name}; board state is "
                             f"lost; the next call restarts it{tail}")
        if self._proc is None:
            self.restarts += 1
            self._start()

    # ---- frames -----------------------------------------------------------------------

    def _write(self, data, deadline, opcode):
        fd = self._proc.stdin.fileno()
        view = memoryview(data)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_WRITE)
            while view:
                try:
                    n = os.write(fd, view[:1 << 20])
                    view = view[n:]
                    continue
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    self._fail("the process closed its input", opcode)
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    if self._proc.poll() is not None:
                        self._fail("the process died", opcode)
                    self._fail("no response (input not taken) within the timeout", opcode)

    def _read(self, n, deadline, opcode):
        fd = self._proc.stdout.fileno()
        buf = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(buf) < n:
                try:
                    chunk = os.read(fd, min(n - len(buf), 1 << 22))
                except BlockingIOError:
                    chunk = None
                if chunk == b"":
                    self._fail("the process died (its output closed)", opcode)
                if chunk:
                    buf += chunk
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self._fail(f"no response within {self._last_timeout:g} s", opcode)
        return bytes(buf)

    def _transact(self, code, payload=b"", timeout=None, opcode=None):
        """Send one raw request frame; return ``(status, payload)`` of the response."""
        opcode = opcode or P.OPCODES.get(code) or P.Opcode(code, f"opcode 0x{code:02x}", "<", "<")
        timeout = self.timeout if timeout is None else float(timeout)
        self._last_timeout = timeout
        deadline = time.monotonic() + timeout
        frame = P.encode_header(code, len(payload)) + bytes(payload)
        self._write(frame, deadline, opcode)
        status, length = P.decode_header(self._read(P.HEADER.size, deadline, opcode))
        body = self._read(length, deadline, opcode) if length else b""
        return status, body

    def _request(self, opcode, *fields, data=b"", timeout=None):
        frame = P.encode_request(opcode, *fields, data=data)
        status, body = self._transact(opcode.code, frame[P.HEADER.size:], timeout, opcode)
        if status != P.OK:
            raise BoardRequestError(opcode, status, body.decode("ascii", "replace"))
        try:
            return P.decode_response(opcode, status, body)
        except P.ProtocolError as exc:
            self._fail(f"malformed response ({exc})", opcode)

    def _call(self, opcode, *fields, data=b"", timeout=None):
        with self._lock:
            self._ensure(opcode)
            return self._request(opcode, *fields, data=data, timeout=timeout)

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
        except Exception:
            pass
