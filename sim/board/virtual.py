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

Memory layout of :meth:`VirtualBoard.run_job`
    Each stream gets one region, inputs first in port order, then outputs,
    from address 0, each region starting on a 4 KiB boundary.  A beat takes
    :func:`~hetflow.sim.board.protocol.beat_stride` bytes (its payload bytes
    rounded up to a power of two), payload in the low bytes, little-endian.
    When the stride equals the payload size (every built-in kernel) the
    region is just the element array's bytes, zero-padded to whole beats.
"""

import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time

import numpy as np

from ...hw.errors import HetflowError
from . import protocol as P
from .harness import build_board, channels

__all__ = ["VirtualBoard", "BoardError", "BoardRequestError", "DEFAULT_MEMORY", "REGION_ALIGN"]

DEFAULT_MEMORY = 16 << 20
REGION_ALIGN = 4096
#: Seconds a request other than RUN may take.
DEFAULT_TIMEOUT = 30.0


class BoardError(HetflowError, RuntimeError):
    """The virtual board process failed (died, timed out, or answered nonsense)."""


class BoardRequestError(BoardError, ValueError):
    """The process rejected a request (bad register offset, memory range, ...).

    ``status`` is the protocol error code, ``message`` the process's text.
    """

    def __init__(self, opcode, status, message):
        self.opcode = opcode
        self.status = status
        self.message = message
        name = P.STATUS[status].name if status in P.STATUS else f"status {status}"
        super().__init__(f"virtual board rejected {opcode.name} ({name}): {message}")


def _describe_exit(code):
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class VirtualBoard:
    """A kernel instance on the virtual board.

    Parameters
    ----------
    kernel : Kernel
        The kernel instance (``Saxpy(lanes=4)``).
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

    # ---- the board API ----------------------------------------------------------------

    def ping(self):
        return self._call(P.PING)

    def reset(self, cycles=4):
        """Hold ``rst`` for ``cycles`` cycles; stops every DMA channel."""
        self._call(P.RESET, cycles)

    def reg_write(self, offset, value):
        self._call(P.REG_WRITE, offset, int(value) & 0xFFFFFFFF)

    def reg_read(self, offset):
        return self._call(P.REG_READ, offset)[0]

    def mem_write(self, address, data):
        if isinstance(data, np.ndarray):    # elements in memory order, little-endian
            data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
        self._call(P.MEM_WRITE, address, data=data,
                   timeout=self.timeout + len(data) / 50e6)

    def mem_read(self, address, length):
        return self._call(P.MEM_READ, address, length, timeout=self.timeout + length / 50e6)

    def dma_setup(self, channel, address, beats):
        self._call(P.DMA_SETUP, channel, address, beats)

    def run(self, max_cycles, timeout=None):
        """Clock the kernel until it is done or ``max_cycles`` have passed.

        Returns ``(done, cycles)``.  ``timeout`` (seconds, default: the
        board's timeout) bounds the wall time of the call.
        """
        reason, cycles = self._call(P.RUN, int(max_cycles), timeout=timeout)
        return reason == P.RUN_DONE, cycles

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

    # ---- jobs -------------------------------------------------------------------------

    def layout(self, job):
        """``{port: (channel, address, beats)}`` of a job's streams (see the module doc)."""
        out, address = {}, 0
        for ch in self.channels:
            port = ch.port
            n = job.expect[port.name] if ch.output else len(job.streams[port.name])
            beats = port.beats(n)
            out[port.name] = (ch, address, beats)
            address += -(-beats * ch.stride // REGION_ALIGN) * REGION_ALIGN
        if address > self.memory_size:
            raise BoardError(f"virtual board of {self.kernel.name}: the job needs {address} bytes "
                             f"of board memory but it has {self.memory_size}; "
                             f"pass a larger memory_size")
        return out

    @staticmethod
    def _to_bytes(ch, elements):
        port = ch.port
        arr = np.asarray(elements, dtype=port.np_dtype).reshape(-1)
        arr = arr.astype(port.np_dtype.newbyteorder("<"), copy=False)
        beats = port.beats(len(arr))
        if beats * port.lanes != len(arr):
            arr = np.concatenate([arr, np.zeros(beats * port.lanes - len(arr), arr.dtype)])
        raw = np.ascontiguousarray(arr).view(np.uint8).reshape(beats, -1)
        if raw.shape[1] != ch.stride:
            raw = np.pad(raw, ((0, 0), (0, ch.stride - raw.shape[1])))
        return raw.tobytes()

    @staticmethod
    def _from_bytes(ch, raw, elements):
        port = ch.port
        nbytes = port.lanes * port.np_dtype.itemsize
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, ch.stride)[:, :nbytes]
        arr = np.ascontiguousarray(arr).view(port.np_dtype.newbyteorder("<")).reshape(-1)
        return arr.astype(port.np_dtype)[:elements]

    def run_job(self, job, timeout=300.0, max_cycles=None):
        """Execute a :class:`~hetflow.hw.job.Job` end to end.

        Writes the input streams to board memory, sets up every DMA channel,
        writes the job's registers, starts the kernel and runs it until done.

        Returns ``(outputs, cycles)``: ``outputs`` maps each output port to a
        1-D element array of its dtype, trimmed to ``job.expect``; ``cycles``
        is the kernel's own count (``cycles_hi:cycles_lo``).  Raises
        :class:`BoardError` when the kernel is not done within ``max_cycles``
        (default: 64 per beat moved plus 100000) or ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        regmap = self.kernel.map
        layout = self.layout(job)
        self.reset()
        total_beats = 0
        for name, (ch, address, beats) in layout.items():
            total_beats += beats
            if not ch.output and beats:
                self.mem_write(address, self._to_bytes(ch, job.streams[name]))
            self.dma_setup(ch.index, address, beats)
        for name, value in job.registers.items():
            reg = regmap[name]
            values = list(np.asarray(value).reshape(-1)) if reg.array \
                or np.ndim(value) else [value]
            if len(values) > reg.count:
                raise BoardError(f"{self.kernel.name}: register '{name}' has {reg.count} "
                                 f"word(s) but the job gives {len(values)} values")
            for i, v in enumerate(values):
                self.reg_write(reg.offset + 4 * i, int(v) & 0xFFFFFFFF)
        self.reg_write(regmap["ctrl"].offset, 1)
        budget = max_cycles if max_cycles is not None else 64 * total_beats + 100_000
        done, ran = self.run(budget, timeout=max(1.0, deadline - time.monotonic()))
        if not done:
            status = self.reg_read(regmap["status"].offset)
            raise BoardError(f"{self.kernel.name} on the virtual board is not done after "
                             f"{ran} cycles (status=0x{status:x})")
        outputs = {}
        for name, (ch, address, beats) in layout.items():
            if ch.output:
                raw = self.mem_read(address, beats * ch.stride) if beats else b""
                outputs[name] = self._from_bytes(ch, raw, job.expect[name])
        lo = self.reg_read(regmap["cycles_lo"].offset)
        hi = self.reg_read(regmap["cycles_hi"].offset)
        return outputs, (hi << 32) | lo
