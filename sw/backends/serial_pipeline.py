"""Several requests in flight on a serial link: the window, matching, losses, retries.

A round trip costs the line time of the request and of the response plus the
USB-UART's turnaround (up to its latency timer, 1 to 16 ms); waiting for each
answer before sending the next request leaves the line idle for most of it.
:class:`Pipeline` keeps sending while earlier requests are unanswered, as
long as the bytes of the unanswered request frames stay within the link's
``window`` (the bridge's receive buffer, so it can never overflow; one frame
is always allowed, so a window of 0 is stop-and-wait).

The bridge answers in arrival order, so a response is matched by sequence
number against the frames on the line, oldest first: an answer to a later
request means the earlier ones were lost (the bridge drops a damaged frame
without a word).  Requests come in *groups*, each idempotent as a whole: any
loss in a group (no answer in time, a corrupted answer, a skipped one)
resends the whole group with fresh sequence numbers, up to the link's
``retries``; the other groups go on.  Unanswered frames of a failed attempt
keep their place in the window until they are answered, skipped or overdue,
so the bridge's buffer holds across a retry too, and across calls.
"""

import time
from collections import deque

from ..link.framing import OVERHEAD, Frame, encode_frame

__all__ = ["Pipeline", "MAX_IN_FLIGHT"]

#: Most requests in flight: their 8-bit sequence numbers must stay unique.
MAX_IN_FLIGHT = 128


class _Sent:
    """A request frame on the line, not answered yet."""

    __slots__ = ("seq", "size", "sent", "limit", "payload", "group", "index", "attempt",
                 "suspect")

    def __init__(self, seq, size, limit, payload, group, index, attempt):
        self.seq, self.size, self.sent, self.limit = seq, size, time.monotonic(), limit
        self.payload, self.group, self.index, self.attempt = payload, group, index, attempt
        # A damaged frame arrived while this was the oldest: perhaps its answer.
        self.suspect = False


class _Group:
    """One group of requests: its attempts and its answers."""

    def __init__(self, requests):
        self.requests = list(requests)
        self.attempts = 0
        self.problems = []
        self.results = None
        self.answered = 0
        self.next = 0
        self.failed = False
        self.failed_index = 0

    def restart(self):
        self.attempts += 1
        self.results = [None] * len(self.requests)
        self.answered = self.next = 0
        self.failed = False

    @property
    def done(self):
        return self.results is not None and self.answered == len(self.requests)


class Pipeline:
    """The request frames one :class:`~hetflow.backends.serial_link.SerialLink` has in flight.

    The link calls it with its lock held; it uses the link's port, decoder,
    sequence numbers, counters, ``window``, ``rate`` and ``retries``.
    """

    def __init__(self, link):
        self.link = link
        self.line = deque()              # frames sent and not answered, oldest first
        self.in_flight = 0               # their bytes
        self._head_since = 0.0           # when the oldest became the oldest
        self._heard = 0.0                # when the port last gave us a byte

    def exchange(self, requests_per_group, epoch, opname, retries=None):
        """Send every group, pipelined; return one list of ``(status, body)`` per group.

        A group is resent up to ``retries`` times (default: the link's).
        """
        retries = self.link.retries if retries is None else retries
        groups = [_Group(g) for g in requests_per_group]
        waiting = deque()
        for g in groups:
            if g.requests:
                waiting.append(g)
            else:
                g.restart()
        sending = None
        try:
            while not all(g.done for g in groups):
                self.link.check_session(epoch, opname)
                if sending is not None and sending.failed:
                    sending = None
                for g in groups:
                    if g.failed and g not in waiting:
                        if g.attempts >= 1 + retries:
                            raise self.link.failure(g.requests[g.failed_index].name,
                                                    g.attempts, g.problems)
                        self.link.count("retries")
                        waiting.appendleft(g)
                sending = self._send_some(sending, waiting, opname)
                self.pump(epoch, opname)
        finally:
            for sent in self.line:             # left on the line: answered to nobody
                sent.group = None
        return [g.results for g in groups]

    def drain(self, epoch, opname):
        """Wait until every frame on the line is answered, skipped or overdue."""
        while self.line:
            self.pump(epoch, opname)

    def _send_some(self, sending, waiting, opname):
        """Send what the window allows; return the group being sent, if unfinished."""
        link = self.link
        while True:
            if sending is None:
                if not waiting:
                    return None
                sending = waiting.popleft()
                sending.restart()
            request = sending.requests[sending.next]
            size = len(request.payload) + OVERHEAD
            if self.line and (len(self.line) >= MAX_IN_FLIGHT
                              or self.in_flight + size > link.window):
                return sending
            seq = link.next_seq()
            frame = encode_frame(seq, request.payload)
            sent = _Sent(seq, len(frame), request.timeout + len(frame) / link.rate,
                         request.payload, sending, sending.next, sending.attempts)
            if not self.line:
                self._head_since = sent.sent
            self.line.append(sent)
            self.in_flight += sent.size
            link.count("requests")
            link.peak("in_flight_peak", len(self.line))
            problem = link.write(frame, opname)
            sending.next += 1
            if problem is not None:
                self._lose(sent, problem)
            if sending.failed or sending.next == len(sending.requests):
                sending = None

    def _pop(self, silent=False):
        """Take the oldest frame off the line.

        Frames are answered in order, so the next one's time limit normally starts
        now: the board only begins on it once the one before is answered.  After a
        ``silent`` loss -- not a byte came back since the lost frame was sent -- the
        board has been answering nothing, so each frame behind it is due from when
        it was sent: a dead board costs one time limit, not one per frame held.
        """
        sent = self.line.popleft()
        self.in_flight -= sent.size
        self._head_since = 0.0 if silent else time.monotonic()
        return sent

    @staticmethod
    def _current(sent):
        group = sent.group
        return group is not None and sent.attempt == group.attempts and not group.failed

    def _lose(self, sent, problem):
        """Request ``sent`` got no usable answer: its group's attempt has failed."""
        if self._current(sent):
            group = sent.group
            group.failed = True
            group.failed_index = sent.index
            group.problems.append(problem)

    def pump(self, epoch, opname):
        """Read what the port has (waiting up to ~50 ms); match it to the frames on the line.

        A damaged frame (bad CRC) makes the oldest request suspect rather than
        lost at once: the decoder finds good frames inside bad candidates, and
        an answer to a later request proves the loss anyway.  When the line has
        then been quiet for a read's wait with nothing half-received, the
        suspect is lost.
        """
        link = self.link
        link.check_session(epoch, opname)
        if self.line:
            head = self.line[0]
            if time.monotonic() >= max(head.sent, self._head_since) + head.limit:
                link.count("timeouts")
                silent = self._heard < head.sent
                self._lose(self._pop(silent), f"no response within {head.limit:.2g} s")
                return
        data = link.read(opname)
        if not data:
            if self.line and self.line[0].suspect and not link.decoder.pending:
                self._lose(self._pop(), "the response was corrupted (CRC error)")
            return
        self._heard = time.monotonic()
        for event in link.decoder.feed(data):
            if isinstance(event, Frame):
                self._match(event, opname)
            elif event.kind == "crc" and self.line:
                self.line[0].suspect = True

    def _match(self, frame, opname):
        link = self.link
        at = next((i for i, s in enumerate(self.line) if s.seq == frame.seq), None)
        if at is None:
            link.count("stale")                   # a late answer to an earlier request
            return
        sent = self.line[at]
        if frame.payload == sent.payload:
            raise link.echo(opname)
        response = link.split(frame.payload)
        fits = sent.group.requests[sent.index].fits if sent.group is not None else None
        if response is None or (fits is not None and not fits(*response)):
            link.count("stale")
            return
        for _ in range(at):                       # answered in order: these were lost
            link.count("lost")
            self._lose(self._pop(), "a request was lost (a later one was answered)")
        self._pop()
        if self._current(sent):
            sent.group.results[sent.index] = response
            sent.group.answered += 1
