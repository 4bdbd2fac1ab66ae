"""A job's burst of board requests, built once per job layout.

A host calls a kernel again and again with calls of a few sizes, and every
call of one size makes the same requests of the board protocol (see
:meth:`~hetflow.sim.board.client.BoardClient.run_job`): reset, memory writes
of the inputs, DMA set-up, register writes, start, run, read-back.  Only the
input data, the register values and the ``RUN``'s cycles differ from call to
call.  :class:`JobBurst` holds everything else, made once per *layout* (the
stream lengths and the names of the job's registers): the fixed requests as
ready tuples, the memory-write pieces of each input, the register offsets
(checked once), the read-back requests and where each output lies in their
responses.  A transport or a link meter may keep what it derives from a
burst in :attr:`JobBurst.cache` (encoded frames, link costs), since a burst
never changes.

A transport that writes whole frames (the virtual board's pipes) encodes a
burst with :func:`request_head` and decodes its answers with
:func:`response_decoder`; for a job's burst it keeps a :class:`FramePlan`
(made by :func:`frame_plan`), so that only what changed is encoded again.
"""

import struct

import numpy as np

from ..hw.job import memory_image
from . import protocol as P

__all__ = ["JobBurst", "FramePlan", "frame_plan", "request_head", "response_decoder",
           "is_image", "little_endian", "JOIN_MAX"]

_MASK = 0xFFFFFFFF


def _image(channel, elements, dtype=None):
    """The memory image of a stream (:func:`~hetflow.hw.job.memory_image`), as a buffer.

    When beats fill their stride and the last beat is whole, that is the
    element array itself, little-endian: then it is used as it is, not copied.
    ``dtype`` is the port's little-endian dtype, if the caller has it at hand.
    """
    if dtype is None:
        dtype = little_endian(channel.port.np_dtype)
    if is_image(channel, elements, dtype) and elements.flags.c_contiguous:
        return memoryview(elements).cast("B")
    return memory_image(channel.port, elements, channel.stride)


def little_endian(dtype):
    """``dtype`` little-endian, as NumPy's own object for it where there is one (the native
    dtype on a little-endian host: arrays of it are compared and copied the fastest)."""
    return np.dtype(dtype.newbyteorder("<").str)


def is_image(channel, elements, dtype):
    """Whether ``elements``, laid out contiguously, is its own memory image on
    ``channel``: a 1-D array of the port's little-endian ``dtype`` whose beats fill
    their stride, the last one whole."""
    port = channel.port
    return isinstance(elements, np.ndarray) and elements.dtype == dtype \
        and elements.ndim == 1 and len(elements) % port.lanes == 0 \
        and channel.stride == port.lanes * dtype.itemsize


class JobBurst:
    """The requests of the jobs of one layout, except what each call fills in.

    Parameters
    ----------
    client : BoardClient
        The board the jobs run on (its kernel, channels and transfer split).
    layout : dict
        ``{port: (channel, address, beats)}``, as :meth:`BoardClient.layout` made it.
    registers : iterable of str
        Names of the job's registers, in the order they are written.

    Attributes
    ----------
    layout : dict
    total_beats : int
        Beats moved by every stream (the default cycle budget depends on it).
    writes : list
        ``(port, channel, [(fields, start, stop, timeout)], dtype)``: the
        ``MEM_WRITE`` pieces of each input's memory image, and the input's
        little-endian dtype.
    setup : list
        The ``RESET`` request.
    dma : list
        The ``DMA_SETUP`` requests of every channel.
    start : tuple
        The ``REG_WRITE`` that starts the kernel.
    reads : list
        The requests after ``RUN``: outputs, cycle counter, status.
    spans : list
        ``(port, channel, first, count)``: which of :attr:`reads`' responses hold
        each output.
    cache : dict
        For a transport's or a meter's own data about this burst.
    """

    def __init__(self, client, layout, registers):
        regmap = client.kernel.map
        self.layout = layout
        self.total_beats = sum(beats for _, _, beats in layout.values())
        self.setup = [(P.RESET, (4,), b"", None)]
        self.writes = []
        for name, (ch, address, beats) in layout.items():
            if not ch.output and beats:
                pieces = [(fields, at, at + len(data), timeout) for (_, fields, data, timeout), at
                          in _with_offsets(client._write_requests(address,
                                                                  bytes(beats * ch.stride)))]
                self.writes.append((name, ch, pieces, little_endian(ch.port.np_dtype)))
        self.dma = [(P.DMA_SETUP, (ch.index, address, beats), b"", None)
                    for ch, address, beats in layout.values()]
        #: ``(name, register, offset)``; offset None: an array, its words written each call.
        self.registers = []
        for name in registers:
            reg = regmap[name]
            if reg.array:
                self.registers.append((name, reg, None))
            else:
                client._check_register(reg.offset)
                self.registers.append((name, reg, reg.offset))
        self.start = (P.REG_WRITE, (regmap["ctrl"].offset, 1), b"", None)
        self.reads, self.spans = [], []
        for name, (ch, address, beats) in layout.items():
            if ch.output:
                pieces = client._read_requests(address, beats * ch.stride) if beats else []
                self.spans.append((name, ch, len(self.reads), len(pieces)))
                self.reads += pieces
        self.reads += [(P.REG_READ, (regmap[r].offset,), b"", None)
                       for r in ("cycles_lo", "cycles_hi", "status")]
        #: The fields of every request that is the same call after call (all but the
        #: register writes and the ``RUN``), the very tuples :meth:`requests` puts in.
        self.fixed = [fields for _, fields, _, _ in (*self.setup, *self.dma, self.start,
                                                      *self.reads)]
        self.fixed += [fields for _, _, pieces, _ in self.writes for fields, _, _, _ in pieces]
        # The requests of a job whose inputs each take one memory write and whose registers
        # are plain words: the same list call after call but for the inputs' data and the
        # register values, so a call copies it and puts its own requests in their places.
        self._template = None
        if all(len(pieces) == 1 for _, _, pieces, _ in self.writes) \
                and all(offset is not None for _, _, offset in self.registers):
            self._template = [*self.setup, *[None] * len(self.writes), *self.dma,
                              *[None] * len(self.registers), self.start]
            self._write_slots = [(len(self.setup) + k, name, ch, pieces[0][0], pieces[0][3],
                                  dtype) for k, (name, ch, pieces, dtype) in enumerate(self.writes)]
            first = len(self.setup) + len(self.writes) + len(self.dma)
            self._register_slots = [(first + k, name, offset)
                                    for k, (name, _, offset) in enumerate(self.registers)]
        self.cache = {}

    @property
    def slots(self):
        """``(inputs, registers)``: ``[(name, index in the burst)]`` of each input's memory
        write and each register's write, which a call fills in, in :meth:`requests`' order;
        None when a job's requests are not one fixed list (an input in several pieces, an
        array register)."""
        if self._template is None:
            return None
        return ([(name, at) for at, name, *_ in self._write_slots],
                [(name, at) for at, name, _ in self._register_slots])

    def requests(self, client, job):
        """The requests of ``job`` up to the start of the kernel (``RUN`` and :attr:`reads`
        follow)."""
        if self._template is not None:
            requests = self._template.copy()
            streams, values = job.streams, job.registers
            write, reg_write = P.MEM_WRITE, P.REG_WRITE
            for at, name, ch, fields, timeout, dtype in self._write_slots:
                requests[at] = (write, fields, _image(ch, streams[name], dtype), timeout)
            for at, name, offset in self._register_slots:
                value = values[name]
                if not isinstance(value, (int, np.integer)):
                    return self._requests(client, job)      # words of an array value
                requests[at] = (reg_write, (offset, int(value) & _MASK), b"", None)
            return requests
        return self._requests(client, job)

    def _requests(self, client, job):
        """:meth:`requests`, one request after the other."""
        requests = list(self.setup)
        write = P.MEM_WRITE
        for name, ch, pieces, dtype in self.writes:
            image = _image(ch, job.streams[name], dtype)
            if len(pieces) == 1:
                fields, _, _, timeout = pieces[0]
                requests.append((write, fields, image, timeout))
            else:
                view = memoryview(image).cast("B")
                requests += [(write, fields, view[at:stop], timeout)
                             for fields, at, stop, timeout in pieces]
        requests += self.dma
        values = job.registers
        reg_write = P.REG_WRITE
        for name, reg, offset in self.registers:
            value = values[name]
            if offset is not None and isinstance(value, (int, np.integer)):
                requests.append((reg_write, (offset, int(value) & _MASK), b"", None))
            else:
                requests += client._register_words(name, reg, value)
        requests.append(self.start)
        return requests


def _with_offsets(requests):
    """``(request, offset of its data)`` of consecutive memory-write pieces."""
    at = 0
    for request in requests:
        yield request, at
        at += len(request[2])


# ---- frames: a burst as a transport of whole frames writes and reads it ---------------

#: A burst whose requests carry fewer data bytes than this is written as one buffer.
JOIN_MAX = 4096
#: Encoded request heads (header and fixed fields) by ``(code, fields, data size)``: a
#: job repeats most of its requests call after call.
_HEADS = {}
_HEADS_MAX = 4096


def request_head(opcode, fields, size):
    """The bytes of a request frame before its ``size`` data bytes: the header and the
    fixed fields (remembered, since a job sends the same requests call after call)."""
    key = (opcode.code, fields, size)
    head = _HEADS.get(key)
    if head is not None:
        return head
    if size and not opcode.request_tail:
        raise P.ProtocolError(f"{opcode.name} carries no data")
    try:
        fixed = struct.pack(opcode.request, *fields)
    except struct.error as exc:
        raise P.ProtocolError(f"{opcode.name}: bad fields {fields!r}: {exc}") from None
    if len(_HEADS) >= _HEADS_MAX:
        _HEADS.clear()
    head = _HEADS[key] = P.HEADER.pack(opcode.code, len(fixed) + size) + fixed
    return head


class _PingResponse:
    """Decodes the response to ``PING`` into a :class:`~hetflow.link.protocol.PingInfo`."""

    size = P.PING.response_size

    @staticmethod
    def unpack(body):
        return P.decode_response(P.PING, P.OK, body)


_DECODERS = {P.PING.code: _PingResponse}


def response_decoder(opcode):
    """How the body of an OK response to ``opcode`` becomes its value: None when the body
    is the value (``MEM_READ``), else an object whose ``unpack(body)`` gives it (raising
    :class:`struct.error` or :class:`~hetflow.link.protocol.ProtocolError` on a body of
    the wrong size) and whose ``size`` is the body's size."""
    decoder = _DECODERS.get(opcode.code, _DECODERS)
    if decoder is _DECODERS:
        decoder = _DECODERS[opcode.code] = None \
            if opcode.response_tail and not opcode.response_size \
            else struct.Struct(opcode.response)
    return decoder


class FramePlan:
    """What a transport keeps of a job's burst to write it as one buffer call after call.

    A :class:`JobBurst` puts the same requests (the same fields, the same data
    sizes) in the same places in every burst of one request count, so runs of
    them are encoded once, joined; a call encodes only what it made itself (its
    register writes, its ``RUN``) and puts its inputs' data after their memory
    writes' heads.

    Attributes
    ----------
    parts : list
        The frame's pieces in order: bytes where nothing changes, None where a
        call puts a request's head or data (see :attr:`slots`).
    slots : list
        ``(index in parts, index in the burst, head)``: the request whose head
        (``head`` true, from :func:`request_head`) or data goes there.
    decoders : list
        :func:`response_decoder` of each request.
    answer_size : int
        Bytes of the burst's answers when every request succeeds.
    bodies : list
        Where each request's answer body starts in them.
    """

    def __init__(self, parts, slots, decoders, answer_sizes):
        self.parts = parts
        self.slots = slots
        self.decoders = decoders
        # Where every request succeeds, the answers are known but for their bodies, in
        # known places: read at once by answered(), with no walk from header to header.
        # _heads: (start, bytes) of each run of OK headers (and empty bodies);
        # _values: (request index, start, stop, decoder) of each body that is not empty.
        self._heads, self._values, self.bodies, at = [], [], [], 0
        self._empty = []
        for i, (size, decoder) in enumerate(zip(answer_sizes, decoders)):
            head = P.HEADER.pack(P.OK, size)
            if self._heads and self._heads[-1][0] + len(self._heads[-1][1]) == at:
                start, known = self._heads[-1]
                self._heads[-1] = (start, known + head)
            else:
                self._heads.append((at, head))
            at += len(head)
            self._empty.append(())
            self.bodies.append(at)
            if size:
                self._values.append((i, at, at + size, decoder))
            at += size
        self.answer_size = at

    def ok(self, data):
        """Whether ``data`` is exactly the answers of a burst whose every request succeeded
        (their bodies are then where :attr:`bodies` says)."""
        if len(data) != self.answer_size:
            return False
        for start, known in self._heads:
            if not data.startswith(known, start):
                return False
        return True

    def answered(self, data):
        """The decoded responses when ``data`` is exactly the answers of a burst whose
        every request succeeded, else None (``data`` is then parsed answer by answer)."""
        if not self.ok(data):
            return None
        responses = self._empty.copy()
        for i, start, stop, decoder in self._values:
            responses[i] = data[start:stop] if decoder is None \
                else decoder.unpack(data[start:stop])
        return responses

    def encode(self, requests):
        """The frames of ``requests`` (a burst of the planned kind), as one bytes."""
        parts = self.parts.copy()
        for at, i, head in self.slots:
            opcode, fields, data, _ = requests[i]
            parts[at] = request_head(opcode, fields, len(data)) if head else data
        return b"".join(parts)


def frame_plan(requests, stage_min=None, fixed=(), join_max=JOIN_MAX):
    """The :class:`FramePlan` of a job's burst, or None when the burst is not written as
    one buffer: one of its transfers reaches ``stage_min`` bytes (a transport with a
    staging area moves it there) or it carries ``join_max`` data bytes or more.

    ``fixed`` holds the fields tuples of the requests that every burst of this kind
    has in the same place, alike (a :class:`JobBurst`'s :attr:`~JobBurst.fixed`):
    their heads are encoded once; the data of a memory write among them is the call's.
    """
    fixed = {id(fields) for fields in fixed}
    parts, slots, decoders, answer_sizes, total = [], [], [], [], 0
    for i, (opcode, fields, data, _) in enumerate(requests):
        size = len(data)
        total += size
        if stage_min is not None and (size >= stage_min or opcode is P.MEM_READ
                                      and fields[1] >= stage_min) or total >= join_max:
            return None
        head = request_head(opcode, fields, size)
        if id(fields) not in fixed:
            slots.append((len(parts), i, True))
            parts.append(None)
        elif parts and parts[-1] is not None:
            parts[-1] += head                   # joined to the fixed frames before it
        else:
            parts.append(head)
        if size:
            slots.append((len(parts), i, False))
            parts.append(None)
        decoder = response_decoder(opcode)
        decoders.append(decoder)
        answer_sizes.append(fields[1] if decoder is None else decoder.size)  # None: MEM_READ
    return FramePlan(parts, slots, decoders, answer_sizes)
