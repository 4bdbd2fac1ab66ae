"""The UART-to-bus frame bridge gateware, in amaranth.sim, in front of the real SoC.

Every request kind and every error status is checked against the protocol the host
speaks (the same encoders and decoder the serial backend uses); damaged, oversized and
truncated frames are dropped; a retried request is answered from the cache; frames sent
back to back are all answered in order, and a frame that overruns the receive buffer is
dropped without harm to the frames already in it.
"""

import struct

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hetflow.boards.bridge import FrameBridge
from hetflow.boards.soc import SoC
from hetflow.hw.errors import ParamError
from hetflow.hw.kernels.saxpy import Saxpy
from hetflow.hw.regmap import kernel_id
from hetflow.link import framing as F
from hetflow.link.boardmap import BoardMap, KernelView
from hetflow.link import protocol as P
from hetflow.hw.shell import Shell

MEMORY = 4096
IDLE = 64


def status_code(name):
    return next(code for code, s in P.STATUS.items() if s.name == name)


async def send(ctx, rx, data):
    """Put ``data`` on the byte stream ``rx`` a byte a cycle, each as soon as it is taken."""
    for byte in data:
        ctx.set(rx.payload, byte)
        ctx.set(rx.valid, 1)
        while not ctx.get(rx.ready):
            await ctx.tick()
        await ctx.tick()
    ctx.set(rx.valid, 0)


def exchange(steps, kernel=None, max_cycles=4000):
    """Run the bridge + SoC; ``steps`` are bytes to send or ``("quiet", cycles)``.

    After each bytes step the bench collects what the bridge sends until it is idle
    again (or ``max_cycles``); returns the list of decoded frames (``None`` when
    nothing came back) per bytes step.
    """
    kernel = kernel or Shell(Saxpy)
    soc = SoC(kernel, memory="bram", memory_size=MEMORY)
    bridge = FrameBridge.for_soc(soc, idle_cycles=IDLE)
    m = Module()
    m.submodules.soc = soc
    m.submodules.bridge = bridge
    wiring.connect(m, bridge.bus, soc.bus)
    answers = []

    async def bench(ctx):
        ctx.set(bridge.tx.ready, 1)
        for step in steps:
            if isinstance(step, tuple):
                await ctx.tick().repeat(step[1])
                continue
            decoder = F.FrameDecoder()
            frames = []
            await send(ctx, bridge.rx, step)     # as fast as the bridge takes them
            for _ in range(max_cycles):
                valid, data, busy = ctx.get(bridge.tx.valid), ctx.get(bridge.tx.payload), \
                    ctx.get(bridge.busy)
                await ctx.tick()
                if valid:
                    frames += [e for e in decoder.feed(bytes([data])) if isinstance(e, F.Frame)]
                elif not busy:
                    break
            assert len(frames) <= 1
            answers.append(frames[0] if frames else None)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return answers


def frame(seq, opcode, *fields, data=b""):
    return F.encode_frame(seq, P.encode_request(opcode, *fields, data=data))


def response(answer):
    """``(status, payload)`` of a response frame's payload."""
    status, length = P.HEADER.unpack_from(answer.payload)
    assert length == len(answer.payload) - P.HEADER.size
    return status, answer.payload[P.HEADER.size:]


def test_requests_are_answered_like_the_virtual_board():
    data = bytes(range(1, 12))
    answers = exchange([
        frame(1, P.PING),
        frame(2, P.REG_READ, 0x14),
        frame(3, P.MEM_WRITE, 5, data=data),          # unaligned: byte enables
        frame(4, P.MEM_READ, 3, 16),
        frame(5, P.REG_WRITE, 0x20, 0xDEADBEEF),
        frame(6, P.REG_READ, 0x20),
        frame(7, P.DMA_SETUP, 2, 0x100, 16),
        frame(8, P.RESET, 4),
        frame(9, P.QUIT),
        frame(10, P.MEM_READ, 0, 0),
    ])
    assert [a.seq for a in answers] == list(range(1, 11))
    ok = [response(a) for a in answers]
    assert all(status == P.OK for status, _ in ok)
    ping = P.decode_response(P.PING, *ok[0])
    assert ping == P.PingInfo(P.MAGIC, P.VERSION, 3, MEMORY,
                                       Saxpy.regmap(Saxpy.bind()).size)
    assert P.decode_response(P.REG_READ, *ok[1]) == (kernel_id("saxpy"),)
    assert ok[2][1] == b""
    assert P.decode_response(P.MEM_READ, *ok[3]) == b"\0\0" + data + b"\0\0\0"
    assert P.decode_response(P.REG_READ, *ok[5]) == (0xDEADBEEF,)
    assert [payload for _, payload in ok[6:9]] == [b"", b"", b""]
    assert P.decode_response(P.MEM_READ, *ok[9]) == b""


def raw_request(opcode, payload, declared=None):
    declared = len(payload) if declared is None else declared
    return P.HEADER.pack(opcode, declared) + payload


def expected_answer(payload, memory_size, register_size, strides):
    """``(status name, response payload length)`` the bridge gives request ``payload``.

    The checks of the protocol (docs of hetflow.link.protocol and the virtual board),
    restated here as the golden model of the gateware's: an error carries no message.
    """
    if len(payload) < P.HEADER.size:
        return "BAD_LENGTH", P.HEADER.size
    code, length = P.HEADER.unpack_from(payload)
    size = len(payload) - P.HEADER.size
    if length != size:
        return "BAD_LENGTH", P.HEADER.size
    op = P.OPCODES.get(code)
    if op is None:
        return "BAD_OPCODE", P.HEADER.size
    if size < op.request_size or (not op.request_tail and size != op.request_size):
        return "BAD_LENGTH", P.HEADER.size
    fields = struct.unpack_from(op.request, payload, P.HEADER.size)
    extra = 0
    if op is P.RESET and not 0 < fields[0] <= 1_000_000:
        return "BAD_LENGTH", P.HEADER.size
    if op in (P.REG_WRITE, P.REG_READ) and (fields[0] % 4 or fields[0] >= register_size):
        return "BAD_REGISTER", P.HEADER.size
    if op is P.DMA_SETUP and fields[0] >= len(strides):
        return "BAD_CHANNEL", P.HEADER.size
    span = {P.MEM_WRITE: lambda: size - op.request_size, P.MEM_READ: lambda: fields[1],
            P.DMA_SETUP: lambda: fields[2] * strides[fields[0]]}.get(op)
    if span is not None:
        address = fields[0 if op is P.MEM_WRITE else -2]
        if address > memory_size or span() > memory_size - address:
            return "BAD_ADDRESS", P.HEADER.size
    if op is P.MEM_READ:
        extra = fields[1]
    return "OK", P.HEADER.size + op.response_size + extra


def test_boundary_requests_get_the_golden_models_status():
    """Each check at its edges (the register window, RESET's range, the memory's end),
    a byte of the field at a time, against :func:`expected_answer`."""
    m = MEMORY
    requests = [P.encode_request(P.RESET, n) for n in (
        1, 1_000_000, 1_000_001, 0xF423F, 0xF4300, 0xF4140, 0x100F4240, 0x01000001,
        0xFFFFFFFF)]
    requests += [P.encode_request(op, *((offset,) if op is P.REG_READ else (offset, 7)))
                 for op in (P.REG_READ, P.REG_WRITE)
                 for offset in (0, 0x3C, 0x3D, 0x40, 0x100, 0x0100003C, 0x00010000,
                                0xFFFFFFFC)]
    requests += [P.encode_request(P.MEM_READ, a, n) for a, n in (
        (m, 0), (m - 1, 1), (m - 1, 2), (0, m + 1), (1, 0xFFFFFFFF),
        (0xFFFFFFFF, 1), (m << 8, 0), (0x100, 0x1000000 + 4))]
    requests += [P.encode_request(P.MEM_WRITE, a, data=d) for a, d in (
        (m, b""), (m - 2, b"ab"), (m - 1, b"ab"), (m << 16, b""))]
    requests += [P.encode_request(P.DMA_SETUP, c, a, n) for c, a, n in (
        (0, 0, m // 4), (0, 0, m // 4 + 1), (0, m - 4, 1), (0, m, 0), (1, 4, 0x40000000),
        (2, m - 8, 2), (3, 0, 1), (255, 0, 0))]
    strides = [ch.stride for ch in BoardMap(KernelView.of(Saxpy, {})).channels]
    answers = exchange([F.encode_frame(i, r) for i, r in enumerate(requests)], max_cycles=40_000)
    got = [(P.STATUS[a.payload[0]].name, len(a.payload)) for a in answers]
    want = [expected_answer(r, m, 0x40, strides) for r in requests]
    assert got == want


@pytest.mark.parametrize("request_bytes, status", [
    (raw_request(0x55, b""), "BAD_OPCODE"),
    (raw_request(P.REG_READ.code, struct.pack("<I", 0), declared=5), "BAD_LENGTH"),
    (raw_request(P.REG_READ.code, struct.pack("<IB", 0, 0)), "BAD_LENGTH"),
    (raw_request(P.PING.code, b"x"), "BAD_LENGTH"),
    (raw_request(P.MEM_WRITE.code, b"\0\0"), "BAD_LENGTH"),
    (P.encode_request(P.RESET, 0), "BAD_LENGTH"),
    (P.encode_request(P.RESET, 1_000_001), "BAD_LENGTH"),
    (P.encode_request(P.REG_WRITE, 0x40, 1), "BAD_REGISTER"),     # saxpy's window is 0x40
    (P.encode_request(P.REG_READ, 0x22), "BAD_REGISTER"),
    (P.encode_request(P.MEM_READ, MEMORY - 4, 5), "BAD_ADDRESS"),
    (P.encode_request(P.MEM_READ, 0xFFFFFFFF, 2), "BAD_ADDRESS"),
    (P.encode_request(P.MEM_WRITE, MEMORY - 1, data=b"ab"), "BAD_ADDRESS"),
    (P.encode_request(P.DMA_SETUP, 3, 0, 1), "BAD_CHANNEL"),
    (P.encode_request(P.DMA_SETUP, 0, MEMORY - 8, 3), "BAD_ADDRESS"),  # 4-byte beats
])
def test_bad_requests_get_the_virtual_boards_status(request_bytes, status):
    (answer,) = exchange([F.encode_frame(9, request_bytes)])
    assert answer.seq == 9
    assert response(answer) == (status_code(status), b"")


def run_saxpy_steps(n):
    """Frames that set up and start saxpy on ``n`` elements (x = y = 1), then RUN."""
    x = np.ones(n, np.int32).tobytes()
    regs = Saxpy.regmap(Saxpy.bind())
    return [
        frame(1, P.MEM_WRITE, 0, data=x),
        frame(2, P.MEM_WRITE, 0x400, data=x),
        frame(3, P.DMA_SETUP, 0, 0, n),
        frame(4, P.DMA_SETUP, 1, 0x400, n),
        frame(5, P.DMA_SETUP, 2, 0x800, n),
        frame(6, P.REG_WRITE, regs["a"].offset, 3),
        frame(7, P.REG_WRITE, regs["len"].offset, n),
        frame(8, P.REG_WRITE, regs["ctrl"].offset, 1),
    ]


def test_run_until_done_and_retry_is_answered_from_the_cache():
    # Long enough for the kernel to be still running when the RUN frame has come in
    # (some 200 cycles: the bridge takes a byte every 8).
    n = 200
    run = frame(9, P.RUN, 100_000)
    answers = exchange(run_saxpy_steps(n) + [run, run, frame(10, P.RUN, 100_000),
                                             frame(11, P.MEM_READ, 0x800, 4 * n)],
                       max_cycles=9000)
    reason, cycles = P.decode_response(P.RUN, *response(answers[8]))
    assert reason == P.RUN_DONE and n <= cycles < 20 * n
    # The same frame again (a lost response): the very same answer, not a second run.
    assert answers[9] == answers[8]
    # A new RUN executes: the kernel is done already, so it ends at the first poll.
    assert P.decode_response(P.RUN, *response(answers[10])) == (P.RUN_DONE, 4)
    out = np.frombuffer(P.decode_response(P.MEM_READ, *response(answers[11])), np.int32)
    np.testing.assert_array_equal(out, np.full(n, 4, np.int32))


def test_run_budget():
    answers = exchange(run_saxpy_steps(200) + [frame(9, P.RUN, 30), frame(10, P.RUN, 0)])
    reason, cycles = P.decode_response(P.RUN, *response(answers[8]))
    assert reason == P.RUN_BUDGET and 30 <= cycles <= 33     # polled every 4 cycles
    assert P.decode_response(P.RUN, *response(answers[9])) == (P.RUN_BUDGET, 0)


def test_damaged_oversized_and_truncated_frames_are_dropped():
    good = frame(5, P.REG_READ, 0x14)
    bad_crc = bytearray(frame(4, P.REG_WRITE, 0x20, 7))
    bad_crc[9] ^= 0x01
    oversized = struct.pack("<BBI", F.SYNC, 3, F.BRIDGE_MAX_PAYLOAD + 1)
    answers = exchange([
        bytes(bad_crc), good,                       # damaged: dropped, the next one answered
        oversized, good,                            # length refused at once
        b"\x00garbage\xff", good,
        frame(6, P.REG_READ, 0x14)[:7], ("quiet", IDLE + 8), good,   # cut short, line quiet
        frame(7, P.REG_READ, 0x20),
    ])
    assert [a and a.seq for a in answers] == [None, 5, None, 5, None, 5, None, 5, 7]
    # The damaged REG_WRITE never executed.
    assert P.decode_response(P.REG_READ, *response(answers[-1])) == (0,)


def test_largest_frame_is_taken_and_one_byte_more_is_not():
    limit = F.BRIDGE_MAX_PAYLOAD
    fits = frame(1, P.MEM_WRITE, 0, data=bytes(range(256)) * ((limit - 9) // 256)
                 + bytes((limit - 9) % 256))
    assert len(fits) - F.OVERHEAD == limit
    too_big = F.encode_frame(2, raw_request(P.MEM_WRITE.code, bytes(limit - 4)))
    answers = exchange([fits, too_big, frame(3, P.MEM_READ, 0, 8)], max_cycles=6000)
    assert response(answers[0]) == (P.OK, b"")
    assert answers[1] is None
    assert P.decode_response(P.MEM_READ, *response(answers[2])) == bytes(range(8))


def test_a_response_length_that_carries_into_its_second_byte():
    # 251 bytes of data and the 5-byte response header: the frame's length is 0x100.
    data = bytes(range(251))
    answers = exchange([frame(1, P.MEM_WRITE, 0x20, data=data), frame(2, P.MEM_READ, 0x20, 251)])
    assert response(answers[0]) == (P.OK, b"")
    assert len(answers[1].payload) == 0x100
    assert P.decode_response(P.MEM_READ, *response(answers[1])) == data


@pytest.mark.parametrize("kwargs, message", [
    ({"max_payload": 8}, r"^bridge max_payload = 8 is not allowed; allowed 9\.\.65535 bytes$"),
    ({"max_payload": 1 << 16},
     r"^bridge max_payload = 65536 is not allowed; allowed 9\.\.65535 bytes$"),
    ({"rx_buffer": 1000}, r"^bridge rx_buffer = 1000 is not allowed; use a power of two of "
                          r"at least 1092 bytes \(one frame of max_payload\)$"),
    ({"rx_buffer": 1024}, r"^bridge rx_buffer = 1024 is not allowed"),
    ({"memory_size": 3000}, r"^bridge memory_size = 3000 is not allowed; use a power of two "
                            r"of 4 bytes or more$"),
    ({"idle_cycles": 3}, r"^bridge idle_cycles = 3 is too small; allowed 16 or more$"),
    ({"strides": []}, r"^bridge: 0 DMA channels; allowed 1\.\.255$"),
    ({"crc_bits_per_cycle": 3}, r"^bridge crc_bits_per_cycle = 3 is not allowed; choose one "
                                r"of 1, 2, 4, 8$"),
])
def test_bad_bridge_parameters(kwargs, message):
    args = {"strides": [4], "memory_size": 4096, "register_size": 64, **kwargs}
    with pytest.raises(ParamError, match=message):
        FrameBridge(**args)


def test_frames_over_the_uart_line():
    """UART (8N1, 4 cycles a bit) + bridge + SoC, wired as in BoardTop, from line levels."""
    from hetflow.boards.uart import UART
    divisor = 4
    soc = SoC(Shell(Saxpy), memory="bram", memory_size=MEMORY)
    bridge = FrameBridge.for_soc(soc, idle_cycles=2000)
    uart = UART(divisor)
    m = Module()
    m.submodules += [soc, bridge, uart]
    wiring.connect(m, bridge.bus, soc.bus)
    wiring.connect(m, uart.out, bridge.rx)
    wiring.connect(m, bridge.tx, uart.inp)
    requests = [frame(1, P.PING), frame(2, P.MEM_WRITE, 8, data=b"uart"),
                frame(3, P.MEM_READ, 6, 8)]
    answers = []

    async def bench(ctx):
        for request in requests:
            for byte in request:                 # start bit, 8 data bits LSB first, stop bit
                for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                    ctx.set(uart.rx, bit)
                    await ctx.tick().repeat(divisor)
            decoder = F.FrameDecoder()
            got = []
            for _ in range(60 * 10 * divisor):   # sample the tx line in the middle of each bit
                await ctx.tick()
                if ctx.get(uart.tx) == 0:        # a start bit: skip to its middle
                    await ctx.tick().repeat(divisor // 2)
                    byte = 0
                    for i in range(8):
                        await ctx.tick().repeat(divisor)
                        byte |= ctx.get(uart.tx) << i
                    await ctx.tick().repeat(divisor)
                    assert ctx.get(uart.tx) == 1             # stop bit
                    got += [e for e in decoder.feed(bytes([byte])) if isinstance(e, F.Frame)]
                    if got:
                        break
            answers.append(got[0] if got else None)
        assert (ctx.get(uart.framing_errors), ctx.get(uart.overrun)) == (0, 0)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert [a and a.seq for a in answers] == [1, 2, 3]
    assert P.decode_response(P.PING, *response(answers[0])).magic == P.MAGIC
    assert P.decode_response(P.MEM_READ, *response(answers[2])) == b"\0\0uart\0\0"



def stream_through(items, *, max_payload=F.BRIDGE_MAX_PAYLOAD, rx_buffer=F.BRIDGE_RX_BUFFER,
                   hold_tx_until=0, max_cycles=20_000):
    """Send ``items`` back to back, each byte as soon as the bridge is ready for it,
    without waiting for answers.

    An item is a frame's bytes, or a number of quiet cycles.  The line to the host is
    not read for the first ``hold_tx_until`` cycles (the bridge's responses, and so
    its executor, stall meanwhile).  Returns the frames answered, in the order they
    came back, and the number of overrun pulses.
    """
    soc = SoC(Shell(Saxpy), memory="bram", memory_size=MEMORY)
    bridge = FrameBridge.for_soc(soc, idle_cycles=IDLE, max_payload=max_payload,
                                 rx_buffer=rx_buffer)
    m = Module()
    m.submodules.soc = soc
    m.submodules.bridge = bridge
    wiring.connect(m, bridge.bus, soc.bus)
    line = []                               # a byte, or None for a quiet cycle
    for item in items:
        line += [None] * item if isinstance(item, int) else list(item)
    answers, overruns = [], []

    async def bench(ctx):
        decoder = F.FrameDecoder()
        sent = 0
        for cycle in range(max_cycles):
            byte = line[sent] if sent < len(line) else None
            ctx.set(bridge.rx.valid, byte is not None)
            ctx.set(bridge.rx.payload, byte or 0)
            ctx.set(bridge.tx.ready, cycle >= hold_tx_until)
            if sent < len(line) and (byte is None or ctx.get(bridge.rx.ready)):
                sent += 1
            took = ctx.get(bridge.tx.valid) and cycle >= hold_tx_until
            data = ctx.get(bridge.tx.payload)
            overruns.append(ctx.get(bridge.overrun))
            await ctx.tick()
            if took:
                answers.extend(e for e in decoder.feed(bytes([data])) if isinstance(e, F.Frame))
            if sent == len(line) and cycle > hold_tx_until and not ctx.get(bridge.busy):
                break

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return answers, sum(overruns)


def test_frames_sent_back_to_back_are_all_answered_in_order():
    data = bytes(range(40, 80))
    burst = [
        frame(1, P.MEM_WRITE, 0x10, data=data),
        frame(2, P.REG_WRITE, 0x20, 0x1234),
        frame(3, P.MEM_READ, 0x10, len(data)),
        frame(4, P.PING),
        frame(5, P.REG_READ, 0x20),
        frame(6, P.REG_READ, 0x22),              # refused: the answer still comes in order
        frame(7, P.MEM_READ, 0x14, 4),
    ]
    answers, overruns = stream_through(burst)
    assert overruns == 0
    assert [a.seq for a in answers] == [1, 2, 3, 4, 5, 6, 7]
    got = [response(a) for a in answers]
    assert got[0] == (P.OK, b"") and got[1] == (P.OK, b"")
    assert P.decode_response(P.MEM_READ, *got[2]) == data
    assert P.decode_response(P.PING, *got[3]).magic == P.MAGIC
    assert P.decode_response(P.REG_READ, *got[4]) == (0x1234,)
    assert got[5] == (status_code("BAD_REGISTER"), b"")
    assert P.decode_response(P.MEM_READ, *got[6]) == data[4:8]


def test_a_retry_in_a_burst_is_answered_from_the_cache():
    write = frame(1, P.MEM_WRITE, 0x40, data=b"once")
    answers, _ = stream_through([write, write, frame(2, P.MEM_READ, 0x40, 4)])
    assert [a.seq for a in answers] == [1, 1, 2]
    assert answers[0] == answers[1]
    assert P.decode_response(P.MEM_READ, *response(answers[2])) == b"once"


def test_an_overrun_drops_the_new_frame_but_not_a_buffered_one():
    """A 256-byte ring, and the host does not read for a while: the first request's
    answer stalls, so the first frame stays in the ring, the second waits behind it
    and the third does not fit.  The third is dropped whole, the second is executed
    intact, and frames sent once there is room again are taken.
    """
    first = frame(1, P.MEM_WRITE, 0x100, data=b"A" * 100)
    second = frame(2, P.MEM_WRITE, 0x200, data=bytes(range(100)))
    third = frame(3, P.MEM_WRITE, 0x300, data=b"C" * 100)
    answers, overruns = stream_through(
        [first, second, third, 1500, frame(4, P.MEM_READ, 0x200, 100),
         frame(5, P.MEM_READ, 0x300, 4)],
        max_payload=120, rx_buffer=256, hold_tx_until=4000, max_cycles=30_000)
    assert overruns == 1
    assert [a.seq for a in answers] == [1, 2, 4, 5]
    assert response(answers[0]) == response(answers[1]) == (P.OK, b"")
    assert P.decode_response(P.MEM_READ, *response(answers[2])) == bytes(range(100))
    assert P.decode_response(P.MEM_READ, *response(answers[3])) == b"\0" * 4
