"""A model of the SoC's UART-to-bus bridge: serial frames in, board requests out.

On a board the bridge is gateware (:mod:`hetflow.boards.bridge`): it
receives serial frames (:mod:`hetflow.link.framing`) from the UART,
executes the protocol request inside each on the kernel's register bus,
memory and DMA, and sends the response back in a frame with the request's
sequence number (:mod:`hetflow.boards.serialsim` runs that gateware behind a
pty).  :class:`SerialBridge` is the same bridge in Python, in front of a
:class:`~hetflow.sim.board.virtual.VirtualBoard`, on a byte stream such as
the master side of a pty: the host's serial backend
(:mod:`hetflow.backends.serial`) then talks to it exactly as to a board.

What the bridge guarantees, and the host relies on:

* Garbage, corrupted and truncated frames are dropped and counted, never
  answered (the host retries after a timeout or a CRC error of its own).
* A frame whose sequence number and payload equal those of the request
  answered last is a retry whose response was lost: the cached response is
  sent again and the request is *not* executed again (``RUN`` or
  ``MEM_WRITE`` twice would not be harmless in general).
* A request frame whose header does not match its length is answered with
  ``BAD_LENGTH`` without reaching the board, so the board's own stream
  never loses step.
* ``QUIT`` is answered ``OK`` and not forwarded: a bridge in gateware cannot
  quit; for the host it only ends a session.
* Frames that arrive while a request executes are kept and answered in
  arrival order, as long as the requests not yet answered fit in the
  gateware's receive buffer (:data:`~hetflow.link.framing.BRIDGE_RX_BUFFER`
  bytes, a frame taking its payload plus 4): a frame that arrives when it is
  full is dropped (counted as ``overrun``), never one already taken.  Here
  the frames of one read from the line arrive together, before any of them
  is answered.
* A board that fails (dies, hangs past ``run_timeout``) is answered with
  status :data:`~hetflow.link.framing.BOARD_FAILED` and its message; the
  virtual board restarts on the next request.
"""

import errno
import os
import selectors
import threading
import time

from ...link import protocol as P
from ...link.client import BoardError
from ...link.framing import (BOARD_FAILED, BRIDGE_MAX_PAYLOAD, BRIDGE_RX_BUFFER, Frame, FrameDecoder,
                      encode_frame)

__all__ = ["SerialBridge"]

_BAD_LENGTH = next(code for code, s in P.STATUS.items() if s.name == "BAD_LENGTH")
#: Bytes a frame takes in the gateware's receive buffer besides its payload.
_STORED_HEADER = 4


class SerialBridge:
    """Serve serial frames from ``port`` on ``board`` in a thread.

    Parameters
    ----------
    port : int or object with ``fileno()``
        The byte stream: a file descriptor (a pty master) or a serial port
        object; the bridge reads and writes its descriptor directly.
    board : VirtualBoard
        Where requests go (through :meth:`VirtualBoard.transact_raw`).
    run_timeout : float
        Seconds a ``RUN`` may take on the board before it counts as hung;
        other requests use the board's own timeout.
    idle_gap : float
        Seconds of silence after which a partial frame is dropped.
    write_timeout : float
        Seconds a response may wait for the line; a response the host does
        not take in time is dropped (the host will retry).
    max_payload : int
        Longer frames are dropped as the gateware bridge drops them (default
        :data:`~hetflow.link.framing.BRIDGE_MAX_PAYLOAD`).
    rx_buffer : int
        Bytes of frames not yet answered that the bridge keeps (default
        :data:`~hetflow.link.framing.BRIDGE_RX_BUFFER`).
    rx_filter, tx_filter : callable, optional
        ``bytes -> bytes`` applied to every chunk read and every framed
        response written: a noisy line, for tests.

    Attributes
    ----------
    stats : dict
        ``requests`` executed, ``duplicates`` answered from the cache,
        ``overrun`` frames dropped for want of buffer room,
        ``bad_requests`` (malformed protocol frames), ``board_errors``,
        ``dropped`` responses, ``errors`` (unexpected exceptions) and the
        decoder's ``frames``, ``crc``, ``length``, ``truncated`` and ``garbage``.
    """

    def __init__(self, port, board, *, run_timeout=300.0, idle_gap=0.1, write_timeout=10.0,
                 max_payload=BRIDGE_MAX_PAYLOAD, rx_buffer=BRIDGE_RX_BUFFER, rx_filter=None,
                 tx_filter=None):
        self._fd = port if isinstance(port, int) else port.fileno()
        self.board = board
        self.run_timeout = float(run_timeout)
        self.idle_gap = float(idle_gap)
        self.write_timeout = float(write_timeout)
        self.rx_filter = rx_filter
        self.tx_filter = tx_filter
        self.rx_buffer = int(rx_buffer)
        self._decoder = FrameDecoder(max_payload)
        self._counts = {"requests": 0, "duplicates": 0, "overrun": 0, "bad_requests": 0,
                        "board_errors": 0, "dropped": 0, "errors": 0}
        self._last = None                  # (seq, request payload, framed response)
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._fd, False)
        self._thread = None
        #: The exception that ended the thread, if one did.
        self.error = None

    @property
    def stats(self):
        return {**self._counts, **self._decoder.stats}

    # ---- thread -----------------------------------------------------------------------

    def start(self):
        """Start serving; returns ``self``."""
        if self._thread is not None:
            raise BoardError("serial bridge: already started")
        self._thread = threading.Thread(target=self._serve, name="hetflow-serial-bridge",
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout=5.0):
        """Stop the thread; raise :class:`BoardError` if it does not end within ``timeout`` s.

        A request under way (a long ``RUN``) is finished first, so the thread
        may outlive a short ``timeout``; it is a daemon thread either way.
        """
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise BoardError(f"serial bridge: the thread did not stop within {timeout:g} s "
                                 f"(a board request is still under way)")
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self):
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(self._fd, selectors.EVENT_READ)
                sel.register(self._wake_r, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    ready = {key.fd for key, _ in sel.select(self.idle_gap)}
                    if self._stopping.is_set():
                        break
                    if self._fd not in ready:
                        if self._decoder.pending:     # the line went quiet mid-frame
                            self._handle(self._decoder.expire())
                        continue
                    try:
                        data = os.read(self._fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        if exc.errno != errno.EIO:
                            raise
                        data = b""                   # pty master with no slave open
                    if not data:
                        # Nobody on the other end: nothing to read until a host opens it.
                        self._stopping.wait(self.idle_gap)
                        continue
                    if self.rx_filter is not None:
                        data = self.rx_filter(data)
                    self._handle(self._decoder.feed(data))
        except Exception as exc:        # the descriptor went away: record, end the thread
            self.error = exc

    # ---- requests ---------------------------------------------------------------------

    def _handle(self, events):
        buffered = 0                    # bytes of this read's frames, none answered yet
        for event in events:
            if isinstance(event, Frame):
                buffered += _STORED_HEADER + len(event.payload)
                if buffered > self.rx_buffer:
                    buffered -= _STORED_HEADER + len(event.payload)
                    self._counts["overrun"] += 1
                    continue
                try:
                    self._answer(event)
                except Exception as exc:     # a bug must not take the bridge down
                    self._counts["errors"] += 1
                    self.error = exc

    def _answer(self, frame):
        if self._last is not None and self._last[0] == frame.seq \
                and self._last[1] == frame.payload:
            self._counts["duplicates"] += 1
            self._send(self._last[2])
            return
        response = encode_frame(frame.seq, self._execute(frame.payload))
        self._last = (frame.seq, frame.payload, response)
        self._send(response)

    def _execute(self, request):
        """The raw response frame to one raw request frame."""
        size = len(request) - P.HEADER.size
        if size < 0:
            self._counts["bad_requests"] += 1
            return P.encode_response(_BAD_LENGTH, f"request frame of {len(request)} bytes is "
                                                  f"shorter than its {P.HEADER.size}-byte header")
        code, length = P.HEADER.unpack_from(request)
        if length != size:
            self._counts["bad_requests"] += 1
            return P.encode_response(_BAD_LENGTH, f"request frame says {length} payload bytes "
                                                  f"but has {size}")
        if code == P.QUIT.code:
            if size:
                self._counts["bad_requests"] += 1
                return P.encode_response(_BAD_LENGTH, f"QUIT: payload of {size} bytes; "
                                                      f"expected 0")
            return P.encode_response(P.OK)
        self._counts["requests"] += 1
        try:
            return self.board.transact_raw(
                request, timeout=self.run_timeout if code == P.RUN.code else None)
        except BoardError as exc:
            self._counts["board_errors"] += 1
            return P.encode_response(BOARD_FAILED, str(exc))

    def _send(self, data):
        if self.tx_filter is not None:
            data = self.tx_filter(data)
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_WRITE)
            while view:
                try:
                    view = view[os.write(self._fd, view[:1 << 16]):]
                    continue
                except BlockingIOError:
                    pass
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    self._counts["dropped"] += 1
                    return
                sel.select(min(left, 0.1))
