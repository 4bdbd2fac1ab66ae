"""The bridge executor's microprogram: one routine per opcode, written as a table of steps.

Each line is one step of :class:`~.executor.RequestExecutor` (one word of
:mod:`.microcode`): a cycle, or more while it waits for a frame or for the
transmitter.  A frame is read from the ring a byte a cycle: the
stored header (flag, seq, length), the request header (opcode, payload
length), then a jump on the opcode to its routine, which takes its fixed
fields, runs, and sends its response; every routine ends in ``DONE``.

The fields pass through one 64-bit shift register, ``a`` then ``b``: eight
shifts put a request's first four field bytes in ``a``, the next four in
``b``; ``a``'s bytes are scanned against constants as they go by, ``b``'s
with ``a``'s of the same weight (then at ``b``'s bottom) for the memory range.
``REG_WRITE`` and ``DMA_SETUP`` write the bus from ``a`` only: four more
shifts bring ``b`` there.

A response is the frame after its sync byte: seq, the frame's length (u32,
the payload's plus 5), status, the payload's length (u32), the payload.
Its constant bytes are the words' ``arg``; a request the checks refuse is
answered with its status and no payload (``ERROR``), whatever its opcode.
"""

from ...link import protocol as P
from .checks import Check
from .microcode import Access, Act, Cond, Program, Scan, Source

__all__ = ["executor_program", "JUMP_TABLE"]

#: Address of the opcode jump table (16 words: opcodes 0..15; one above is taken as 0).
JUMP_TABLE = 16
#: A word that moves the ring pointer on (the byte it reads is on the port next cycle).
_READ = dict(next_byte=1)


def _emit(source=Source.ZERO, arg=0, **fields):
    return dict(emit=1, source=source, arg=arg, **fields)


def _header(length):
    """An OK response's bytes before its payload: seq, frame length, status, length."""
    frame_length = length + P.HEADER.size
    return [_emit(Source.SEQ), *(_emit(arg=b) for b in frame_length.to_bytes(4, "little")),
            _emit(), *(_emit(arg=b) for b in length.to_bytes(4, "little"))]


def _fields(hold_after=None, span=Scan.RANGE_LENGTH):
    """Eight shifts of field bytes: ``a``'s scanned, then ``b``'s with the range ``span``.

    The ring pointer stays put from shift ``hold_after`` on (MEM_WRITE: on its
    first data byte).
    """
    words = []
    for i in range(8):
        word = dict(shift=1, scan=Scan.FIELD if i < 4 else span, idx=i % 4)
        if hold_after is None or i < hold_after:
            word.update(_READ)
        words.append(word)
    return words


def _routine(p, name, words):
    """Place ``words`` from label ``name`` on; the last one's ``next`` is kept as given."""
    p.label(name)
    for word in words:
        p.word(**word)


def _response(p, name, words):
    """Place a response's ``words`` from label ``name`` on, the last one flagged last and
    followed by ``DONE``."""
    *body, last = words
    _routine(p, name, [*body, dict(last, last=1, next="DONE")])


def executor_program(ping_fields):
    """The executor's microprogram.

    Parameters
    ----------
    ping_fields : bytes
        ``PING``'s response payload (the SoC's constants).

    Returns
    -------
    Program
    """
    p = Program()
    # ---- the stored frame header and the request header, a byte a cycle -------------
    # The frame is done at address 0, so that a response's last byte, whose ``arg`` is
    # added to it, may branch there.
    p.at(0)
    _routine(p, "DONE", [dict(act=Act.FINISH)])
    _routine(p, "IDLE", [
        dict(cond=Cond.WAIT_FRAME, **_READ),
        dict(act=Act.RETRY, **_READ),
        dict(act=Act.SEQ, **_READ),
        dict(act=Act.SIZE_LOW, **_READ),
        dict(act=Act.SIZE_HIGH, **_READ),
        dict(act=Act.OPCODE, cond=Cond.SHORT, arg="SHORT", **_READ),
        *(dict(act=Act.LENGTH_CHECK, idx=i, **_READ) for i in range(3)),
        dict(act=Act.LENGTH_CHECK, idx=3, cond=Cond.DISPATCH, arg=JUMP_TABLE, **_READ),
    ])
    # No request header: refused, the response starting on the third cycle after the
    # opcode byte's (the bridge's formal tests count the steps).
    _routine(p, "SHORT", [dict(), dict(cond=Cond.BAD, arg="ERROR", check=Check.LENGTH,
                                        next="ERROR")])

    # ---- per opcode: what it is checked for, the words that take its fields (the
    # first one in the jump table; one checks its size), the words that run it (which a
    # retry skips), its response --------------------------------------------------------
    routines = {
        P.PING: (Check.LENGTH_ONLY, [dict()], None, "PING_RESPONSE"),
        P.QUIT: (Check.LENGTH_ONLY, [dict()], None, "EMPTY"),
        P.RESET: (Check.RESET, _fields(), [dict(access=Access.RESET, next="EMPTY")], "EMPTY"),
        P.REG_WRITE: (Check.REGISTER, _fields(), [
            dict(access=Access.REG_ADDRESS),
            *(dict(shift=1) for _ in range(4)),
            dict(access=Access.WRITE_A, next="EMPTY")], "EMPTY"),
        P.REG_READ: (Check.REGISTER, _fields(), [
            dict(access=Access.REG_READ), dict(),      # the read data comes a cycle later
            dict(act=Act.ANSWER, next="VALUE_RESPONSE")], "VALUE_RESPONSE"),
        # One data byte every two cycles, one bus write each, up to the frame's end.
        P.MEM_WRITE: (Check.MEMORY, _fields(hold_after=3, span=Scan.RANGE_DATA), [
            dict(cond=Cond.AT_END, arg="EMPTY"),
            dict(**_READ),
            dict(access=Access.MEM_WRITE, advance=1, cond=Cond.AT_END, arg="EMPTY",
                 next="MEM_WRITE_RUN+1")], "EMPTY"),
        P.MEM_READ: (Check.MEMORY, _fields(), [dict(next="READ_RESPONSE")],
                     "READ_RESPONSE"),
        P.DMA_SETUP: (Check.CHANNEL, [dict(act=Act.CHANNEL, **_READ),
                                      *_fields(span=Scan.RANGE_BEATS)], [
            dict(access=Access.DMA_ADDRESS),
            *(dict(shift=1) for _ in range(4)),
            dict(access=Access.DMA_BEATS, next="EMPTY")], "EMPTY"),
        # Read the design's done bit, then the SoC's; four cycles per poll.
        P.RUN: (Check.LENGTH_ONLY, _fields(), [
            dict(cond=Cond.NO_RUN, arg="RUN_RESPONSE"),
            dict(poll=1, access=Access.KERNEL_STATUS),
            dict(poll=1, access=Access.SOC_STATUS),
            dict(poll=1, act=Act.KERNEL_DONE),
            dict(poll=1, act=Act.RUN_REASON, cond=Cond.RUN_END, arg="RUN_RESPONSE",
                 next="RUN_RUN+1")], "RUN_RESPONSE"),
    }
    for op, (check, load, run, response) in routines.items():
        first = next(word for word in load if "act" not in word)
        if op.request_tail:
            first.update(act=Act.SIZE_WITH_DATA)
        else:
            first.update(act=Act.SIZE_IS, arg=op.request_size)
    # An unknown opcode is refused.
    for code in range(16):
        p.at(JUMP_TABLE + code)
        op = P.OPCODES.get(code)
        if op is None:
            p.word(cond=Cond.BAD, arg="ERROR", check=Check.OPCODE, next="ERROR")
        else:
            p.word(**routines[op][1][0], next=f"{op.name}_LOAD")
    p.at(JUMP_TABLE + 16)
    for op, (check, load, run, response) in routines.items():
        name = op.name
        refuse = dict(cond=Cond.BAD, arg="ERROR", check=check)
        if run is None:                         # no fields, nothing to run
            _routine(p, f"{name}_LOAD", [dict(refuse, next=response)])
            continue
        decide = dict(refuse, act=Act.RUN_START) if op is P.RUN else refuse
        *rest, last = load[1:]
        # After the last field byte: a retry is answered, not run.
        _routine(p, f"{name}_LOAD", [*rest, dict(last, cond=Cond.RETRY, arg=f"{name}_RETRY")])
        _routine(p, f"{name}_DECIDE", [decide])
        _routine(p, f"{name}_RUN", run)
        _routine(p, f"{name}_RETRY", [dict(refuse, next=response)])

    # ---- responses ------------------------------------------------------------------
    empty = _header(0)
    _response(p, "ERROR", empty[:5] + [_emit(Source.STATUS)] + empty[6:])
    _response(p, "EMPTY", empty)
    _response(p, "PING_RESPONSE",
              _header(len(ping_fields)) + [_emit(arg=b) for b in ping_fields])
    _response(p, "VALUE_RESPONSE", _header(P.REG_READ.response_size)
              + [_emit(Source.ANSWER, idx=i) for i in range(4)])
    # RUN: the reason, then the cycle count as a u64 whose high word is zero.
    _response(p, "RUN_RESPONSE", _header(P.RUN.response_size) + [_emit(Source.REASON)]
              + [_emit(Source.ANSWER, idx=i) for i in range(4)] + [_emit() for _ in range(4)])
    # MEM_READ: its length b + 5 and b, a byte at a time with the carry kept; then one
    # word read per byte sent.
    length = [_emit(Source.LENGTH, idx=i, carry=i > 0) for i in range(4)]
    _routine(p, "READ_RESPONSE", [
        _emit(Source.SEQ), dict(length[0], arg=P.HEADER.size), *length[1:], _emit(),
        *length[:3],
        dict(cond=Cond.B_ZERO, arg="READ_NONE"),
        length[3],
        dict(access=Access.MEM_READ), dict(), dict(act=Act.DATA),
        _emit(Source.DATA, advance=1, cond=Cond.LAST_BYTE, arg="DONE",  # DONE is 0
              next="READ_RESPONSE+11"),
    ])
    _routine(p, "READ_NONE", [dict(length[3], last=1, next="DONE")])
    return p
