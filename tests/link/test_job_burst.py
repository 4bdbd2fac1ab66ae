"""A job's frame plan: encoded as request by request would be, answers read in one step."""

import struct

from hetflow.link import protocol as P
from hetflow.link.job_burst import frame_plan, request_head


def _burst(value, run, data):
    """A job-shaped burst: fixed requests (the same tuples every call) around the call's own."""
    return [SETUP, (P.MEM_WRITE, WRITE_FIELDS, data, None), DMA,
            (P.REG_WRITE, (0x20, value), b"", None), START,
            (P.RUN, (run,), b"", 1.0), *READS]


SETUP = (P.RESET, (4,), b"", None)
WRITE_FIELDS = (0x0,)
DMA = (P.DMA_SETUP, (0, 0x0, 2), b"", None)
START = (P.REG_WRITE, (0x0, 1), b"", None)
READS = [(P.MEM_READ, (0x1000, 8), b"", None), (P.REG_READ, (0x8,), b"", None)]
FIXED = [SETUP[1], WRITE_FIELDS, DMA[1], START[1], *(r[1] for r in READS)]


def _frames(requests):
    return b"".join(request_head(op, fields, len(data)) + bytes(data)
                    for op, fields, data, _ in requests)


def _answer(status, body=b""):
    return P.HEADER.pack(status, len(body)) + body


def test_a_plan_encodes_each_call_as_its_requests_one_by_one():
    plan = frame_plan(_burst(7, 100, b"\x01" * 8), fixed=FIXED)
    # Fixed requests are encoded once, runs of them joined: RESET with the write's head,
    # the DMA set-up, the start, the reads; the call fills the data, register and RUN in.
    assert [part is None for part in plan.parts] == [False, True, False, True, False, True,
                                                     False]
    assert len(plan.slots) == 3
    for value, run, data in [(7, 100, b"\x01" * 8), (-1 & 0xFFFFFFFF, 5, bytes(range(8))),
                             (0, 1 << 40, memoryview(b"\xff" * 8))]:
        requests = _burst(value, run, data)
        assert plan.encode(requests) == _frames(requests)


def test_answers_all_ok_are_decoded_in_one_step_anything_else_is_left_to_the_parser():
    plan = frame_plan(_burst(7, 100, b"\x01" * 8), fixed=FIXED)
    ok = [_answer(P.OK)] * 5 + [_answer(P.OK, struct.pack("<BQ", P.RUN_DONE, 42)),
                                _answer(P.OK, bytes(range(8))),
                                _answer(P.OK, struct.pack("<I", 0x1234))]
    assert plan.answer_size == len(b"".join(ok))
    assert plan.answered(b"".join(ok)) == [(), (), (), (), (), (P.RUN_DONE, 42),
                                           bytes(range(8)), (0x1234,)]
    # A rejected request, a body of another size, a missing or an extra byte: not read here.
    rejected = [*ok[:3], _answer(3, b"bad"), *ok[4:]]
    longer = [*ok[:6], _answer(P.OK, bytes(9)), ok[7]]
    for answers in (rejected, longer):
        assert plan.answered(b"".join(answers)) is None
    assert plan.answered(b"".join(ok)[:-1]) is None
    assert plan.answered(b"".join(ok) + b"\x00") is None
    # Same size as all OK, but a status byte differs.
    same_size = bytearray(b"".join(ok))
    same_size[0] = 1
    assert plan.answered(bytes(same_size)) is None
