"""Frames through the pipes of a virtual board's process: a burst written, its answers read.

:class:`PipeExchange` is the part of :class:`~hetflow.sim.board.virtual.VirtualBoard`
that moves bytes: a burst of request frames is written at once and its answers
read as they come, writing and reading interleaved so that large transfers both
ways cannot block each other (:meth:`PipeExchange._exchange`), and decoded
(:meth:`PipeExchange._decode`).  The process answers a burst together when its
input runs dry, so a job costs one write and, usually, one read; a job of a known
shape writes its :class:`~hetflow.link.job_frames.JobFrames` as they are
(:meth:`PipeExchange.run_frames`).  Every wait has a deadline; a process that
dies or does not answer in time fails the call (``_fail``, ``_died_before``).
"""

import os
import struct
import time

from ...link import protocol as P
from ...link.client import BoardRequestError

__all__ = ["PipeExchange", "READ_CHUNK"]

#: Bytes read from the process at once.
READ_CHUNK = 1 << 16
_IOV_MAX = 512


class PipeExchange:
    """Writes bursts of frames to a board process and reads their answers.

    Mixed in before the board client: the board sets ``_fds`` (the process's
    input and output descriptors, non-blocking), ``_polls`` (a ``poll`` object
    for the output alone, and one for both), ``_lock``, ``timeout`` and
    ``_proc``, and provides ``_ensure``, ``_fail`` and ``_died_before`` (and
    ``_job_result``, a :class:`~hetflow.link.client.BoardClient`'s).
    """

    def _exchange(self, buffers, requests, plan=None, first=None, sent=False):
        """Write the frames in ``buffers`` (non-empty byte buffers) of ``requests`` (the
        burst's ``(opcode, fields, data, timeout)`` tuples); ``[(status, body)]`` of each,
        or, given the burst's :class:`~hetflow.link.job_burst.FramePlan`, their decoded
        values (:meth:`_decode`).  ``first``: the first bytes of the answers, read
        already; ``sent``: the burst's first bytes were written already.

        Writing and reading interleave (the process answers while it is still
        fed, and blocks when its output pipe is full), so neither side waits for
        the other however large the frames are.  Each response must come within
        its request's timeout of the one before.  A system call costs as much as
        a small job's work: the frames usually leave in one ``write``, and the
        answers are read at once when already there, else once ``poll`` says so.  A
        small job's answers usually come in one read: with a ``plan``, when they are all
        OK they are decoded from their known places, not parsed one by one.
        """
        wfd, rfd = self._fds
        out = list(buffers)
        count = len(requests)
        answers, pending = [], b""
        body, got = None, 0                 # a large body being read in place
        opcode, timeout = requests[0][0], requests[0][3]
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        header, hsize = P.HEADER, P.HEADER.size
        ready = True                        # read without asking poll first
        while len(answers) < count:
            if out:
                try:
                    n = os.write(wfd, out[0]) if len(out) == 1 else os.writev(wfd, out[:_IOV_MAX])
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
                        out[0], n = memoryview(out[0]).cast("B")[n:], 0
                ready = ready and not out
            if not ready:
                events = self._polls[bool(out)].poll(max(deadline - time.monotonic(), 0) * 1000)
                if not events or out and all(fd != rfd for fd, _ in events):
                    if not events and time.monotonic() >= deadline:
                        self._no_answer(timeout, opcode)
                    continue
            ready = False
            try:
                if first is not None:
                    chunk, first = first, None
                    n = len(chunk)
                elif body is not None:
                    n = os.readv(rfd, [memoryview(body)[got:]])
                    chunk = None
                else:
                    chunk = os.read(rfd, READ_CHUNK)
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
                data, at = (pending + chunk if pending else chunk), 0
                if plan is not None and not answers and not out:
                    responses = plan.answered(data)
                    if responses is not None:
                        return responses
                # Whole responses in what has arrived; a large body is read in place.
                size, k = len(data), before
                while k < count and size - at >= hsize:
                    status, length = header.unpack_from(data, at)
                    end = at + hsize + length
                    if size >= end:
                        answers.append((status, data[at + hsize:end]))
                        at = end
                        k += 1
                    elif length > READ_CHUNK:
                        body = bytearray(length)
                        got = size - at - hsize
                        body[:got] = data[at + hsize:]
                        at = size
                        break
                    else:
                        break
                pending = data[at:] if at else data
            if len(answers) != before and len(answers) < count:
                opcode, timeout = requests[len(answers)][0], requests[len(answers)][3]
                timeout = self.timeout if timeout is None else timeout
                deadline = time.monotonic() + timeout
        if pending or out:
            self._fail("malformed response (more bytes than the requests' responses)", opcode)
        return answers if plan is None else self._decode(requests, answers, plan.decoders)

    def _no_answer(self, timeout, opcode):
        """Fail a request the process did not answer within ``timeout`` seconds."""
        if self._proc.poll() is not None:
            self._fail("the process died", opcode)
        self._fail(f"no response within {timeout:g} s", opcode)

    def _decode(self, requests, answers, decoders):
        """The values of a burst's ``answers`` (:meth:`_exchange`), each made by its
        request's decoder (:func:`~hetflow.link.job_burst.response_decoder`); raises the
        first rejection once every answer is decoded."""
        responses, rejected = [], None
        append = responses.append
        for (status, body), unpack in zip(answers, decoders):
            if status:                      # not OK (the request is named only then)
                opcode = requests[len(responses)][0]
                append(None)
                rejected = rejected or BoardRequestError(opcode, status,
                                                         body.decode("ascii", "replace"))
            elif unpack is None:
                append(body)
            else:
                try:
                    append(unpack.unpack(body))
                except struct.error:
                    opcode = requests[len(responses)][0]
                    self._fail(f"malformed response ({opcode.name}: response of {len(body)} "
                               f"bytes; expected {unpack.size})", opcode)
                except P.ProtocolError as exc:
                    self._fail(f"malformed response ({exc})", requests[len(responses)][0])
        if rejected is not None:
            raise rejected
        return responses

    def run_frames(self, frames, arrays, values, timeout=300.0):
        """Run the job of ``frames`` (:meth:`job_frames`) with a call's input ``arrays``
        and register ``values`` filled in (:meth:`~hetflow.link.job_frames.JobFrames.fill`):
        one write and, when every request succeeded and the kernel finished, one read.

        Returns ``(outputs, cycles)`` and raises as :meth:`run_job` does (``timeout``
        bounds the wait for the ``RUN``'s answer, as there); an output array may share
        its memory with the answers it was read from, which nothing else holds.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._proc is None:
                self._ensure(P.RESET)
            frames.fill(arrays, values)
            frame, requests = frames.frame, frames.requests
            wfd, rfd = self._fds
            try:
                n = os.write(wfd, frame)    # one write: the pipe holds far more
            except OSError:                 # a dead process, a full pipe: as any burst
                n = 0
            if n < len(frame):
                got = self._exchange([memoryview(frame)[n:]], requests, frames, sent=n > 0)
            else:
                # The answers in one read (at once, or when poll says they are there), into
                # a buffer of their size when all is well: the outputs are read from it.
                answers = bytearray(frames.answer_size)
                try:
                    n = os.readv(rfd, (answers,))
                except BlockingIOError:
                    if not self._polls[0].poll(self.timeout * 1000):
                        self._no_answer(self.timeout, requests[0][0])
                    n = os.readv(rfd, (answers,))
                got = frames.answered(answers) if n == len(answers) else None
                if got is None:             # more to read, or not all OK: answer by answer
                    got = self._exchange([], requests, frames, bytes(answers[:n]) or None)
            self._frames_sent(frames, got)
        if type(got) is tuple:
            return got[2], got[1]
        return self._job_result(frames.burst, frames.expect, got, frames.run_at,
                                frames.budget, deadline, frames.max_cycles)

    def _frames_sent(self, frames, got):
        """Called with what :meth:`run_frames` got back (a board that counts its link
        counts the burst here)."""
