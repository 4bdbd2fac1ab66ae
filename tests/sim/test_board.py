"""The virtual board: kernels' RTL in a persistent Verilator process (real Verilator)."""

import os
import signal
import time
import zlib

import numpy as np
import pytest

from hetflow.hw.errors import HetflowError
from hetflow.hw.kernels.crc32 import Crc32
from hetflow.hw.kernels.fir import Fir
from hetflow.hw.kernels.gemm import Gemm
from hetflow.hw.kernels.saxpy import Saxpy
from hetflow.hw.shell import Shell
from hetflow.link import protocol as P

from ..conftest import needs_verilator


# ---- protocol (no simulator) -----------------------------------------------------------

@pytest.mark.parametrize("opcode, fields, data", [
    (P.PING, (), b""),
    (P.RESET, (4,), b""),
    (P.REG_WRITE, (0x20, 0xDEADBEEF), b""),
    (P.REG_READ, (0x14,), b""),
    (P.MEM_WRITE, (0x1000,), bytes(range(200))),
    (P.MEM_READ, (0x1000, 200), b""),
    (P.DMA_SETUP, (2, 0x2000, 1000), b""),
    (P.RUN, (2**40 + 3,), b""),
    (P.QUIT, (), b""),
])
def test_request_round_trip(opcode, fields, data):
    frame = P.encode_request(opcode, *fields, data=data)
    assert frame[0] == opcode.code
    assert int.from_bytes(frame[1:5], "little") == len(frame) - 5
    op, got, tail = P.decode_request(frame)
    assert op is opcode and got == fields and tail == data


def test_request_frame_is_little_endian():
    assert P.encode_request(P.REG_WRITE, 0x24, 0x01020304) == \
        bytes([0x03, 8, 0, 0, 0, 0x24, 0, 0, 0, 4, 3, 2, 1])


def test_response_round_trip():
    frame = P.encode_response(P.OK, (7).to_bytes(4, "little"))
    status, length = P.decode_header(frame[:5])
    assert (status, length) == (0, 4)
    assert P.decode_response(P.REG_READ, status, frame[5:]) == (7,)
    body = bytes([0]) + (123456789).to_bytes(8, "little")
    assert P.decode_response(P.RUN, P.OK, body) == (0, 123456789)
    assert P.decode_response(P.MEM_READ, P.OK, b"abc") == b"abc"
    info = P.decode_response(P.PING, P.OK, b"HFVB" + bytes([1, 0, 3]) + bytes(8))
    assert info.magic == P.MAGIC and info.version == 1 and info.channels == 3
    err = P.encode_response(4, "memory range 0x0+0x1 is outside")
    with pytest.raises(P.ProtocolError, match=r"^MEM_READ: BAD_ADDRESS: memory range"):
        P.decode_response(P.MEM_READ, err[0], err[5:])


def test_protocol_rejects_bad_frames():
    with pytest.raises(P.ProtocolError, match="unknown opcode 0x7f"):
        P.encode_request(0x7F)
    with pytest.raises(P.ProtocolError, match="REG_READ: payload of 3 bytes; expected 4"):
        P.decode_request(bytes([P.REG_READ.code, 3, 0, 0, 0, 1, 2, 3]))
    with pytest.raises(P.ProtocolError, match="frame says 9 payload bytes but has 4"):
        P.decode_request(bytes([P.REG_READ.code, 9, 0, 0, 0, 1, 2, 3, 4]))
    with pytest.raises(P.ProtocolError, match="PING carries no data"):
        P.encode_request(P.PING, data=b"x")


def test_beat_stride():
    assert [P.beat_stride(w) for w in (8, 16, 24, 32, 40, 64, 128, 256, 96)] == \
        [1, 2, 4, 4, 8, 8, 16, 32, 16]


# ---- the board -------------------------------------------------------------------------

_boards = {}


def board_for(cls, **params):
    """One board per kernel configuration for the whole module (builds are slow)."""
    from hetflow.sim.board.virtual import VirtualBoard
    key = (cls, cls.bind(**params))
    if key not in _boards:
        _boards[key] = VirtualBoard(Shell(cls, **params), status=print)
    return _boards[key]


@pytest.fixture(scope="module", autouse=True)
def _close_boards():
    yield
    for board in _boards.values():
        board.close()
    _boards.clear()


def run_cases(cls, count=8, seed=5, **params):
    board = board_for(cls, **params)
    p = board.kernel.p
    rng = np.random.default_rng(seed)
    results = []
    for inputs, scalars in cls.cases(p, rng, count):
        job = cls.prepare(p, inputs, scalars)
        streams, cycles = board.run_job(job, timeout=60)
        for name, port in zip(job.expect, board.kernel.out_ports):
            assert streams[name].dtype == port.np_dtype
            assert len(streams[name]) == job.expect[name]
        got = cls.collect(p, job, streams)
        want = cls.golden(p, inputs, scalars)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
        assert cycles > 0
        results.append((inputs, scalars, got, cycles))
    return results


@needs_verilator
@pytest.mark.parametrize("lanes", [1, 4])
def test_saxpy(lanes):
    results = run_cases(Saxpy, lanes=lanes)
    # No back-pressure: one beat per cycle plus a short fixed latency.
    inputs, _, _, cycles = max(results, key=lambda r: len(r[0]["x"]))
    n = len(inputs["x"])
    assert cycles <= -(-n // lanes) + 4


@needs_verilator
def test_crc32_matches_zlib():
    for inputs, _, got, _ in run_cases(Crc32, lanes=4, count=10):
        assert int(got["crc"][0]) == zlib.crc32(inputs["data"].tobytes())


@needs_verilator
def test_gemm_wide_output():
    board = board_for(Gemm)
    assert board.kernel.out_ports[0].width > 64        # VlWide payload
    run_cases(Gemm, count=6)
    a = np.arange(-10, 10, dtype=np.int8).reshape(2, 10)
    b = np.arange(40, dtype=np.int8).reshape(10, 4) - 20
    job = Gemm.prepare(board.kernel.p, {"a": a, "b": b}, {})
    streams, _ = board.run_job(job)
    got = Gemm.collect(board.kernel.p, job, streams)["c"]
    np.testing.assert_array_equal(got, a.astype(np.int32) @ b.astype(np.int32))


@needs_verilator
def test_fir():
    run_cases(Fir, count=6)


@needs_verilator
def test_register_and_memory_bounds_are_checked_by_the_process():
    from hetflow.sim.board.virtual import BoardError, BoardRequestError
    board = board_for(Saxpy, lanes=1)
    assert board.info.register_size == 0x40 and board.info.memory_size == 16 << 20
    assert board.reg_read(0x14) == zlib.crc32(b"saxpy")
    board.reg_write(0x20, -3)
    assert board.reg_read(0x20) == 0xFFFFFFFD

    with pytest.raises(BoardRequestError) as exc:
        board._call(P.REG_READ, 0x40)      # past the host-side check: the process checks too
    assert exc.value.message == "register offset 0x40 is outside the register window (0x40 bytes)"
    assert str(exc.value) == ("virtual board rejected REG_READ (BAD_REGISTER): register offset "
                              "0x40 is outside the register window (0x40 bytes)")
    assert isinstance(exc.value, BoardError) and isinstance(exc.value, HetflowError)
    with pytest.raises(BoardRequestError) as exc:
        board._call(P.REG_WRITE, 0x22, 1)
    assert exc.value.message == "register offset 0x22 is not 4-aligned"
    with pytest.raises(BoardRequestError) as exc:
        board._call(P.MEM_READ, (16 << 20) - 4, 8)
    assert exc.value.message == "memory range 0xfffffc+0x8 is outside the memory (0x1000000 bytes)"
    with pytest.raises(BoardRequestError) as exc:
        board._call(P.MEM_WRITE, 0xFFFFFFFF, data=b"ab")
    assert exc.value.message == ("memory range 0xffffffff+0x2 is outside the memory "
                                 "(0x1000000 bytes)")
    # The host refuses the same accesses before they reach the board.
    from hetflow.link.client import BoardAccessError
    with pytest.raises(BoardAccessError, match=r"^virtual board of saxpy: register offset 64 is "
                                               r"outside the register window; allowed 0x0..0x3c, "
                                               r"multiples of 4$"):
        board.reg_read(0x40)
    with pytest.raises(BoardAccessError, match=r"register offset 34 is outside"):
        board.reg_write(0x22, 1)
    with pytest.raises(BoardAccessError, match=r"^virtual board of saxpy: memory range 16777212\+8 "
                                               r"is outside board memory; allowed 0x0..0x1000000$"):
        board.mem_read((16 << 20) - 4, 8)
    with pytest.raises(BoardRequestError) as exc:
        board.dma_setup(3, 0, 1)
    assert exc.value.message == "DMA channel 3 does not exist (3 channels)"
    with pytest.raises(BoardRequestError) as exc:
        board.dma_setup(0, (16 << 20) - 8, 3)
    assert exc.value.message == "memory range 0xfffff8+0xc is outside the memory (0x1000000 bytes)"
    # Raw frames the client would never send: unknown opcode, wrong payload length.
    assert board._transact(0x7F, b"xyz") == (1, b"unknown opcode 0x7f")
    assert board._transact(P.REG_READ.code, b"\0\0\0") == \
        (2, b"REG_READ: payload of 3 bytes; expected 4")
    assert board._transact(P.RUN.code, b"") == (2, b"RUN: payload of 0 bytes; expected 8")
    # The process is still in step and well.
    board.mem_write(0x100, np.arange(4, dtype=np.int32))
    assert board.mem_read(0x100, 16) == np.arange(4, dtype=np.int32).tobytes()
    assert board.ping().magic == P.MAGIC


@needs_verilator
def test_killed_process_is_reported_and_restarted():
    from hetflow.sim.board.virtual import BoardError
    board = board_for(Saxpy, lanes=1)
    board.ping()
    restarts = board.restarts
    proc = board._proc
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with pytest.raises(BoardError) as exc:
        board.reg_read(0x14)
    message = str(exc.value)
    assert "virtual board of saxpy" in message
    assert "the process was killed by SIGKILL before REG_READ" in message
    assert "the next call restarts it" in message
    assert proc.returncode is not None                    # reaped, no zombie
    assert board.reg_read(0x14) == zlib.crc32(b"saxpy")  # restarted transparently
    assert board.restarts == restarts + 1
    x = np.arange(10, dtype=np.int32)
    streams, _ = board.run_job(Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 2}))
    np.testing.assert_array_equal(streams["z"], 3 * x)


@needs_verilator
def test_hung_process_times_out_and_is_restarted():
    from hetflow.sim.board.virtual import BoardError
    board = board_for(Saxpy, lanes=1)
    board.ping()
    proc = board._proc
    os.kill(proc.pid, signal.SIGSTOP)
    start = time.monotonic()
    with pytest.raises(BoardError, match=r"no response within 0\.5 s during RUN"):
        board.run(10, timeout=0.5)
    assert time.monotonic() - start < 5
    assert proc.returncode == -signal.SIGKILL             # killed and reaped
    assert board.reg_read(0x14) == zlib.crc32(b"saxpy")


@needs_verilator
def test_small_cycle_budget_is_not_done():
    board = board_for(Saxpy, lanes=1)
    x = np.arange(1000, dtype=np.int32)
    job = Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 1})
    layout = board.layout(job)
    board.reset()
    board.mem_write(layout["x"][1], x)
    board.mem_write(layout["y"][1], x)
    for ch, address, beats in layout.values():
        board.dma_setup(ch.index, address, beats)
    board.reg_write(0x08, 1000)
    board.reg_write(0x20, 1)
    board.reg_write(0x00, 1)
    assert board.run(100) == (False, 100)
    assert board.reg_read(0x04) & 1                      # still busy
    done, cycles = board.run(10_000)
    assert done and cycles < 1000
    z = np.frombuffer(board.mem_read(layout["z"][1], 4000), dtype=np.int32)
    np.testing.assert_array_equal(z, 2 * x)


@needs_verilator
def test_job_too_large_for_memory():
    from hetflow.sim.board.virtual import BoardError
    board = board_for(Saxpy, lanes=1)
    x = np.zeros(2_000_000, dtype=np.int32)
    with pytest.raises(BoardError, match=r"needs 24010752 bytes of board memory but it has "
                                         r"16777216; pass a larger memory_size"):
        board.run_job(Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 1}))


@needs_verilator
def test_throughput_saxpy_1m(capsys):
    board = board_for(Saxpy, lanes=1)
    rng = np.random.default_rng(0)
    n = 1_000_000
    x = rng.integers(-2**31, 2**31, n, dtype=np.int32)
    y = rng.integers(-2**31, 2**31, n, dtype=np.int32)
    job = Saxpy.prepare(board.kernel.p, {"x": x, "y": y}, {"a": 12345})
    start = time.perf_counter()
    streams, cycles = board.run_job(job)
    wall = time.perf_counter() - start
    np.testing.assert_array_equal(streams["z"], Saxpy.golden(board.kernel.p, {"x": x, "y": y},
                                                             {"a": 12345})["z"])
    with capsys.disabled():
        print(f"\nvirtual board saxpy lanes=1, {n} elements: {cycles} cycles in {wall:.3f} s "
              f"= {cycles / wall / 1e6:.2f} M cycles/s (run_job wall time)")


@needs_verilator
def test_gemm_padded_beats():
    # rows=3: 24-bit beats of a in 4-byte slots; c is 96 bits (3 words) in 16-byte slots.
    board = board_for(Gemm, rows=3, cols=3)
    assert [ch.stride for ch in board.channels] == [4, 4, 16]
    run_cases(Gemm, count=5, rows=3, cols=3)


@needs_verilator
def test_close_from_another_thread_stops_a_long_run():
    import threading
    from hetflow.sim.board.virtual import BoardError
    board = board_for(Saxpy, lanes=1)
    board.reset()
    board.reg_write(0x08, 1000)
    board.reg_write(0x00, 1)          # no DMA set up: the kernel waits for input forever
    errors = []

    def worker():
        try:
            board.run(1 << 60, timeout=30)
        except BoardError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.3)
    board.close()
    t.join(10)
    assert not t.is_alive()
    assert errors and "during RUN" in errors[0] and "SIGKILL" in errors[0]
    assert board.reg_read(0x14) == zlib.crc32(b"saxpy")   # restarted


# ---- bursts: several requests in flight (BoardClient._call_many) -----------------------

@needs_verilator
def test_burst_answers_in_order_in_one_round_trip():
    board = board_for(Saxpy, lanes=1)
    data = bytes(range(256)) * 4
    exchanges = []
    real = board._exchange
    board._exchange = lambda *args: exchanges.append(1) or real(*args)
    try:
        got = board._call_many([
            (P.REG_WRITE, (0x20, 0x1234), b"", None),
            (P.REG_READ, (0x20,), b"", None),
            (P.MEM_WRITE, (0x100,), data, None),
            (P.MEM_READ, (0x100 + 5, 7), b"", None),
            (P.REG_READ, (0x14,), b"", None),
            (P.PING, (), b"", None),
        ])
    finally:
        del board._exchange
    assert got[:5] == [(), (0x1234,), (), data[5:12], (zlib.crc32(b"saxpy"),)]
    assert got[5].magic == P.MAGIC
    assert exchanges == [1]                               # the whole burst at once
    assert board._call_many([]) == []


@needs_verilator
def test_burst_raises_its_first_rejection_after_every_request_is_answered():
    from hetflow.sim.board.virtual import BoardRequestError
    board = board_for(Saxpy, lanes=1)
    with pytest.raises(BoardRequestError) as exc:
        board._call_many([
            (P.REG_WRITE, (0x20, 7), b"", None),
            (P.REG_READ, (0x40,), b"", None),             # rejected first
            (P.MEM_READ, ((16 << 20) - 4, 8), b"", None),  # rejected too
            (P.REG_WRITE, (0x20, 9), b"", None),           # still executed
        ])
    assert str(exc.value) == ("virtual board rejected REG_READ (BAD_REGISTER): register offset "
                              "0x40 is outside the register window (0x40 bytes)")
    assert board.reg_read(0x20) == 9
    assert board.ping().magic == P.MAGIC                  # still in step


@needs_verilator
def test_answers_before_a_long_run_do_not_wait_for_it():
    # A short RUN is answered together with the requests before it; a long one lets
    # their answers go once it has clocked HOLD_CYCLES, within their own timeouts
    # (12M cycles take longer than the RESET's 0.25 s even at the raw harness's speed).
    board = board_for(Saxpy, lanes=1)
    got = board._call_many([(P.RESET, (4,), b"", 0.25),
                            (P.RUN, (12_000_000,), b"", 120.0)])
    assert got == [(), (P.RUN_BUDGET, 12_000_000)]


@needs_verilator
def test_burst_of_large_writes_and_reads_crossing_does_not_deadlock():
    # Each transfer is several times the pipes' buffers: the process answers a MEM_READ
    # while the host is still writing the next MEM_WRITE, so both pipes are full at once.
    board = board_for(Saxpy, lanes=1)
    rng = np.random.default_rng(3)
    size = 3 << 20
    blocks = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(3)]
    requests = []
    for i, block in enumerate(blocks):
        requests += [(P.MEM_WRITE, (i * size,), block, None),
                     (P.MEM_READ, (i * size, size), b"", None)]
    board.stage_min = None                                # every byte through the pipes
    try:
        start = time.monotonic()
        got = board._call_many(requests)
    finally:
        del board.stage_min
    assert time.monotonic() - start < 20
    assert got[1::2] == blocks and got[0::2] == [(), (), ()]


@needs_verilator
def test_staged_transfers_keep_the_order_of_the_burst():
    # Large transfers go through the shared staging area, still executed in their turn:
    # the first read sees the first write, not the second one to the same address.
    from hetflow.sim.board.virtual import BoardRequestError
    board = board_for(Saxpy, lanes=1)
    size = 4 * board.stage_min
    first, second = bytes([1]) * size, bytes(range(256)) * (size // 256)
    got = board._call_many([(P.MEM_WRITE, (0x1000,), first, None),
                            (P.MEM_READ, (0x1000, size), b"", None),
                            (P.MEM_WRITE, (0x1000,), second, None),
                            (P.MEM_READ, (0x1000 + 1, size - 2), b"", None)])
    assert got == [(), first, (), second[1:-1]]
    assert board.mem_read(0x1000, size) == second         # a staged read alone
    assert type(board.mem_read(0x1000, size)) is bytes
    with pytest.raises(BoardRequestError) as exc:
        board._call_many([(P.MEM_WRITE, ((16 << 20) - size + 4,), second, None)])
    assert str(exc.value) == ("virtual board rejected MEM_WRITE (BAD_ADDRESS): memory range "
                              "0xfc0004+0x40000 is outside the memory (0x1000000 bytes)")


@needs_verilator
def test_staged_outputs_are_the_callers_own_arrays():
    # A large output comes back through the staging area with one copy: the array is
    # writable, and a later job, which reuses the area, does not change it.
    board = board_for(Saxpy, lanes=1)
    x = np.arange(board.stage_min, dtype=np.int32)     # 4 bytes an element: staged
    first, _ = board.run_job(Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 1}))
    second, _ = board.run_job(Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 2}))
    np.testing.assert_array_equal(first["z"], 2 * x)
    np.testing.assert_array_equal(second["z"], 3 * x)
    first["z"][:] = 0
    np.testing.assert_array_equal(second["z"], 3 * x)


class SlicedBoard:
    """The virtual board seen through BoardClient's defaults: one request per ``_call``
    and a RUN that stops after ``run_slice`` cycles, as a serial bridge's RUN does."""

    def __new__(cls, board, run_slice, max_transfer=None):
        from hetflow.link.client import BoardClient

        class Sliced(BoardClient):
            def _call(self, opcode, *fields, data=b"", timeout=None):
                self.calls.append(opcode.name)
                return board._call(opcode, *fields, data=data, timeout=timeout)

        sliced = Sliced()
        sliced.kernel, sliced.channels = board.kernel, board.channels
        sliced.memory_size, sliced.timeout = board.memory_size, board.timeout
        sliced.run_slice, sliced.max_transfer, sliced.calls = run_slice, max_transfer, []
        return sliced


@needs_verilator
def test_run_job_continues_when_run_stops_before_the_budget():
    board = board_for(Saxpy, lanes=1)
    x = np.arange(1000, dtype=np.int32)
    job = Saxpy.prepare(board.kernel.p, {"x": x, "y": 2 * x}, {"a": 3})
    want, cycles = board.run_job(job)
    sliced = SlicedBoard(board, run_slice=100, max_transfer=1500)
    got, sliced_cycles = sliced.run_job(job)
    np.testing.assert_array_equal(got["z"], want["z"])
    np.testing.assert_array_equal(got["z"], 5 * x)
    assert sliced_cycles == cycles                        # the kernel's own count
    burst = (["RESET"] + ["MEM_WRITE"] * 6 + ["DMA_SETUP"] * 3 + ["REG_WRITE"] * 3
             + ["RUN"] + ["MEM_READ"] * 3 + ["REG_READ"] * 3)
    # The burst's RUN stopped after 100 cycles: run() clocks the rest, the outputs and
    # the counter are read again.
    assert sliced.calls == burst + ["RUN"] + ["MEM_READ"] * 3 + ["REG_READ"] * 3


@needs_verilator
def test_run_job_spends_the_budget_across_slices_then_times_out():
    from hetflow.link.client import KernelTimeout
    board = board_for(Saxpy, lanes=1)
    x = np.arange(1000, dtype=np.int32)
    job = Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 1})
    sliced = SlicedBoard(board, run_slice=100)
    with pytest.raises(KernelTimeout, match=r"^saxpy on the virtual board is not done after "
                                            r"250 cycles, its cycle budget \(max_cycles; pass "
                                            r"max_cycles= to hetflow.open to change it\); "
                                            r"status=0x1$"):
        sliced.run_job(job, max_cycles=250)
    assert sliced.calls.count("RUN") == 2                # 100 in the burst, then 150
    with pytest.raises(KernelTimeout, match=r"not done after 100 cycles"):
        board.run_job(job, max_cycles=100)               # one burst, budget spent at once


# ---- a job of one shape as one buffer of frames ------------------------------------------

@needs_verilator
def test_job_frames_run_each_calls_data_as_run_job_does():
    board = board_for(Saxpy, lanes=1)
    p = board.kernel.p
    rng = np.random.default_rng(3)
    x = np.zeros(7, np.int32)
    frames = board.job_frames(Saxpy.prepare(p, {"x": x, "y": x}, {"a": 0}))
    assert [name for name, _ in frames.values] == ["a"]
    for a in (0, 1, -1, 2**31 - 1, -2**31, 12345):
        x, y = (rng.integers(-2**31, 2**31, 7, dtype=np.int32) for _ in range(2))
        want, want_cycles = board.run_job(Saxpy.prepare(p, {"x": x, "y": y}, {"a": a}))
        got, cycles = board.run_frames(frames, (x, y), [a])
        assert got["z"].dtype == np.int32 and np.array_equal(got["z"], want["z"])
        assert cycles == want_cycles
    # An input with strides is copied in as its elements.
    wide = rng.integers(-2**31, 2**31, 14, dtype=np.int32)
    got, _ = board.run_frames(frames, (wide[::2], y), [3])
    np.testing.assert_array_equal(got["z"], 3 * wide[::2] + y)
    # Too large for one buffer through the pipes.
    big = np.zeros(20_000, np.int32)
    assert board.job_frames(Saxpy.prepare(p, {"x": big, "y": big}, {"a": 0})) is None


@needs_verilator
def test_job_frames_answered_otherwise_are_parsed_and_raise_what_run_job_raises():
    from hetflow.link.client import BoardRequestError, KernelTimeout
    from hetflow.sim.board.virtual import VirtualBoard
    board = board_for(Saxpy, lanes=1)
    x = np.arange(1000, dtype=np.int32)
    job = Saxpy.prepare(board.kernel.p, {"x": x, "y": x}, {"a": 1})
    frames = board.job_frames(job, max_cycles=100)
    with pytest.raises(KernelTimeout, match=r"^saxpy on the virtual board is not done after "
                                            r"100 cycles, its cycle budget \(max_cycles; pass "
                                            r"max_cycles= to hetflow.open to change it\); "
                                            r"status=0x1$"):
        board.run_frames(frames, (x, x), [1])
    # The same frames on a board with less memory: its writes are rejected.
    with VirtualBoard(Shell(Saxpy, lanes=1), memory_size=4096) as small:
        with pytest.raises(BoardRequestError, match=r"^virtual board rejected MEM_WRITE "
                                                    r"\(BAD_ADDRESS\): memory range 0x1000\+"):
            small.run_frames(board.job_frames(job), (x, x), [1])
        assert small.reg_read(0x14) == zlib.crc32(b"saxpy")      # still in step
    got, _ = board.run_frames(board.job_frames(job), (x, x), [2])
    np.testing.assert_array_equal(got["z"], 3 * x)
