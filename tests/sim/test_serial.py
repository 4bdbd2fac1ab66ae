"""The serial backend end to end: SerialDevice -> real pty -> SerialBridge -> VirtualBoard.

Framing tests need nothing; the rest need Verilator (the board behind the bridge is the
kernel's RTL) and a pty (os.openpty, raw mode), exactly what a USB-UART looks like to the
host.
"""

import os
import random
import select
import struct
import threading
import time
import tty
import zlib

import numpy as np
import pytest

import hetflow
from hetflow.backends.serial import KernelMismatch, SerialDevice
from hetflow.hw.errors import HetflowError
from hetflow.hw.kernels.crc32 import Crc32
from hetflow.hw.kernels.fir import Fir
from hetflow.hw.kernels.gemm import Gemm
from hetflow.hw.kernels.saxpy import Saxpy
from hetflow.hw.shell import Shell
from hetflow.link import framing as F
from hetflow.link import protocol as P
from hetflow.link.client import BoardError, KernelTimeout

from ..conftest import needs_verilator



# ---- framing (no simulator) ------------------------------------------------------------

def test_frame_layout_and_round_trip():
    payload = P.encode_request(P.REG_READ, 0x14)
    frame = F.encode_frame(7, payload)
    assert frame[:6] == bytes([0x7E, 7]) + struct.pack("<I", len(payload))
    assert frame[6:-4] == payload
    assert frame[-4:] == struct.pack("<I", zlib.crc32(frame[1:-4]))
    dec = F.FrameDecoder()
    assert dec.feed(frame) == [F.Frame(7, payload)]
    assert dec.pending == 0


def test_decoder_byte_by_byte_and_after_garbage():
    frames = [F.encode_frame(i, bytes([F.SYNC]) * i + b"x" * 3) for i in range(5)]
    stream = b"\x00\x7e\x01garbage" + frames[0] + b"\xff" * 3 + b"".join(frames[1:])
    dec = F.FrameDecoder()
    got = []
    for b in stream:
        got += dec.feed(bytes([b]))
    assert [(e.seq, e.payload) for e in got if isinstance(e, F.Frame)] == \
        [(i, bytes([F.SYNC]) * i + b"xxx") for i in range(5)]
    assert dec.stats["frames"] == 5 and dec.stats["garbage"] > 0


def test_decoder_drops_corrupted_frame_and_finds_the_next():
    good = F.encode_frame(1, b"hello")
    bad = bytearray(F.encode_frame(2, b"world"))
    bad[8] ^= 0x10
    dec = F.FrameDecoder()
    events = dec.feed(bytes(bad) + good)
    assert F.FrameError("crc", 5) in events
    assert events[-1] == F.Frame(1, b"hello")


def test_decoder_rejects_oversized_length_at_once():
    dec = F.FrameDecoder()
    head = struct.pack("<BBI", F.SYNC, 0, F.MAX_PAYLOAD + 1)
    events = dec.feed(head + F.encode_frame(3, b"ok"))
    assert events[0] == F.FrameError("length", F.MAX_PAYLOAD + 1)
    assert events[-1] == F.Frame(3, b"ok")        # no waiting for 16 MiB first


def test_truncated_frame_is_dropped_when_the_line_goes_quiet():
    dec = F.FrameDecoder()
    frame = F.encode_frame(4, b"x" * 100)
    assert dec.feed(frame[:50]) == []
    assert dec.pending == 50
    events = dec.expire()
    assert events[0] == F.FrameError("truncated", 100)
    assert dec.pending == 0 and dec.stats["truncated"] >= 1
    # A cut frame followed by a whole one: the CRC fails, the whole one is still found.
    events = dec.feed(frame[:-10] + F.encode_frame(5, b"next"))
    assert events[-1] == F.Frame(5, b"next")


def test_encode_frame_rejects_bad_values():
    with pytest.raises(ValueError, match=r"^sequence number must be 0\.\.255, not 256$"):
        F.encode_frame(256, b"")
    with pytest.raises(ValueError, match=r"^payload of 16777281 bytes is larger than the "
                                         r"16777280-byte limit of a serial frame$"):
        F.encode_frame(0, bytes(F.MAX_PAYLOAD + 1))


# ---- bad arguments (no simulator) ------------------------------------------------------

def test_bad_port_name_is_one_clear_line():
    with pytest.raises(BoardError) as exc:
        hetflow.open("serial:/dev/hetflow-no-such-tty")
    assert str(exc.value) == ("serial:/dev/hetflow-no-such-tty: cannot open the port: "
                              "No such file or directory")
    with pytest.raises(HetflowError, match=r"^device 'serial:' names no port; use "
                                           r"serial:/dev/ttyUSB1"):
        hetflow.open("serial:")


@pytest.mark.parametrize("kwargs, message", [
    ({"baudrate": 0}, r"^baudrate must be a positive integer, not 0$"),
    ({"timeout": -1}, r"^timeout must be a positive number of seconds, not -1$"),
    ({"retries": -1}, r"^retries must be an integer 0\.\.100, not -1$"),
    ({"chunk": 0}, r"^chunk must be an integer 1\.\.1024 bytes \(a board's bridge takes at "
                   r"most 1024 data bytes per request\), not 0$"),
    ({"chunk": 1025}, r"^chunk must be an integer 1\.\.1024 bytes .*, not 1025$"),
    ({"params": [1]}, r"^params must be a dict of elaboration parameters, not \[1\]$"),
    ({"window": -1}, r"^window must be an integer 0\.\.1048576 bytes of unanswered requests "
                     r"\(0: one at a time\), not -1$"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(HetflowError, match=message):
        SerialDevice("/dev/null", **kwargs)


def test_loopback_is_not_a_bridge():
    with pytest.raises(BoardError, match=r"^serial:loop://: the far end echoes PING back; it is "
                                         r"a loopback or a terminal, not a hetflow bridge$"):
        hetflow.open("serial:loop://")


def test_other_firmware_is_not_a_bridge():
    """A far end that frames its answers like a bridge but is not one (wrong magic)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def impostor():
        dec = F.FrameDecoder()
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                for event in dec.feed(os.read(master, 4096)):
                    if isinstance(event, F.Frame):
                        body = struct.pack("<4sHBII", b"ACME", 7, 1, 1024, 64)
                        os.write(master, F.encode_frame(event.seq, P.encode_response(P.OK, body)))

    thread = threading.Thread(target=impostor, daemon=True)
    thread.start()
    try:
        path = os.ttyname(slave)
        with pytest.raises(BoardError) as exc:
            hetflow.open("serial:" + path, timeout=0.5)
        assert str(exc.value) == (f"serial:{path}: the far end answered PING with magic b'ACME' "
                                  f"version 7; expected a hetflow bridge (b'HFVB' version 1)")
    finally:
        stop.set()
        thread.join(5)
        os.close(master)
        os.close(slave)


# ---- the rig: pty + bridge + virtual board ---------------------------------------------

class Rig:
    """A VirtualBoard behind a SerialBridge on the master side of a fresh raw pty."""

    def __init__(self, board, **bridge_options):
        from hetflow.sim.board.bridge import SerialBridge
        self.board = board
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)             # no echo, no CR/LF mangling: a byte line
        self.path = os.ttyname(self.slave)
        self.bridge = SerialBridge(self.master, board, **bridge_options).start()

    def open(self, **options):
        options.setdefault("timeout", 0.5)
        return hetflow.open("serial:" + self.path, **options)

    def close(self):
        if self.bridge.running:
            self.bridge.stop()
        os.close(self.master)
        os.close(self.slave)


_boards = {}
_rigs = []


def board_for(cls, **params):
    from hetflow.sim.board.virtual import VirtualBoard
    key = (cls, cls.bind(**params))
    if key not in _boards:
        _boards[key] = VirtualBoard(Shell(cls, **params), status=print)
    return _boards[key]


def rig_for(cls, **bridge_options):
    """A new pty and bridge (tests that break a bridge get their own) on a shared board."""
    rig = Rig(board_for(cls), **bridge_options)
    _rigs.append(rig)
    return rig


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    for rig in _rigs:
        rig.close()
    for board in _boards.values():
        board.close()
    _rigs.clear()
    _boards.clear()


@pytest.fixture(scope="module")
def cpu():
    with hetflow.open("cpu") as dev:
        yield dev


def saxpy_calls(dev, cpu, rng, sizes):
    for n in sizes:
        x = rng.integers(-2**31, 2**31, n, dtype=np.int32)
        y = rng.integers(-2**31, 2**31, n, dtype=np.int32)
        a = int(rng.integers(-2**31, 2**31))
        np.testing.assert_array_equal(dev.kernel("saxpy")(x, y, a=a),
                                      cpu.kernel("saxpy")(x, y, a=a))


# ---- results equal the CPU's -----------------------------------------------------------

@needs_verilator
def test_saxpy_equals_cpu(cpu):
    rig = rig_for(Saxpy)
    with rig.open() as dev:
        assert dev.name == f"serial:{rig.path}"
        assert dev.board.kernel.name == "saxpy" and dev.board.info.channels == 3
        saxpy_calls(dev, cpu, np.random.default_rng(1), [1, 2, 1000, 100_000])
        assert dev.kernel("saxpy").last_cycles > 0
    assert rig.bridge.stats["errors"] == 0


@needs_verilator
def test_crc32_equals_zlib(cpu):
    rig = rig_for(Crc32)
    rng = np.random.default_rng(2)
    with rig.open() as dev:
        for n in (1, 7, 4096, 300_001):
            data = rng.integers(0, 256, n, dtype=np.uint8)
            got = dev.kernel("crc32")(data)
            assert int(got[0]) == zlib.crc32(data.tobytes())
            np.testing.assert_array_equal(got, cpu.kernel("crc32")(data))


@needs_verilator
def test_gemm_equals_cpu(cpu):
    rig = rig_for(Gemm)
    rng = np.random.default_rng(3)
    with rig.open() as dev:
        for m, k, n in [(1, 1, 1), (2, 4, 4), (7, 33, 5), (16, 300, 9)]:   # tiled by split()
            a = rng.integers(-128, 128, (m, k), dtype=np.int8)
            b = rng.integers(-128, 128, (k, n), dtype=np.int8)
            np.testing.assert_array_equal(dev.kernel("gemm")(a, b), cpu.kernel("gemm")(a, b))


@needs_verilator
def test_small_chunks_split_transfers(cpu):
    rig = rig_for(Saxpy)
    with rig.open(chunk=1000) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(4), [2501])
        # 2501 int32 = 10004 bytes: x and y in 11 MEM_WRITEs each, z in 11 MEM_READs.
        assert dev.link.stats["requests"] >= 33


# ---- which kernel is on the board ------------------------------------------------------

@needs_verilator
def test_kernel_is_discovered_and_other_kernels_are_refused():
    rig = rig_for(Saxpy)
    with rig.open() as dev:
        assert dev.kernel("saxpy") is dev.kernel("saxpy", lanes=1)
        with pytest.raises(KernelMismatch) as exc:
            dev.kernel("fir", taps=16)
        assert str(exc.value) == (f"serial:{rig.path} carries saxpy(lanes=1), its bitstream's "
                                  f"kernel; it cannot run fir(taps=16)")
        with pytest.raises(KernelMismatch, match=r"carries saxpy\(lanes=1\), its bitstream's "
                                                  r"kernel; it cannot run saxpy\(lanes=4\)$"):
            dev.kernel("saxpy", lanes=4)
    with pytest.raises(KernelMismatch) as exc:
        rig.open(kernel="fir")
    assert str(exc.value) == (f"serial:{rig.path}: the board's kernel id is "
                              f"0x{zlib.crc32(b'saxpy'):08x} ('saxpy'), not fir "
                              f"(0x{zlib.crc32(b'fir'):08x})")
    with rig.open(kernel="saxpy", params={"lanes": 1}) as dev:
        assert dev.board.kernel.p == {"lanes": 1}


@needs_verilator
def test_params_that_change_the_register_window_are_checked():
    rig = rig_for(Fir)                          # default taps=8: a 0x40-byte window
    with pytest.raises(KernelMismatch) as exc:
        rig.open(params={"taps": 16})
    assert str(exc.value) == (f"serial:{rig.path}: the board's fir has 2 DMA channel(s) and a "
                              f"0x40-byte register window, but fir(taps=16) has 2 and 0x80; "
                              f"pass params= as the bitstream was built")
    with rig.open() as dev:
        x = np.arange(-50, 50, dtype=np.int16)
        h = np.arange(8, dtype=np.int16)
        np.testing.assert_array_equal(dev.kernel("fir")(x, h=h),
                                      np.convolve(x.astype(np.int64), h)[:100])


@needs_verilator
def test_unregistered_kernel_needs_its_name(fixtures_on_path):
    from faulty_kernels import HungSaxpy
    rig = Rig(board_for(HungSaxpy))
    _rigs.append(rig)
    with pytest.raises(KernelMismatch) as exc:
        rig.open()
    assert str(exc.value).startswith(
        f"serial:{rig.path}: the board's kernel id 0x{zlib.crc32(b'hung_saxpy'):08x} is the "
        f"CRC-32 of no registered kernel name (known: ")
    assert str(exc.value).endswith("install the kernel's package or pass kernel='module:Class'")
    with rig.open(kernel="faulty_kernels:HungSaxpy", max_cycles=2000) as dev:
        x = np.arange(10, dtype=np.int32)
        with pytest.raises(KernelTimeout, match=r"^hung_saxpy on the serial board on .* is not "
                                                r"done after 2000 cycles, its cycle budget "
                                                r"\(max_cycles; pass max_cycles= to "
                                                r"hetflow.open to change it\); status=0x1$"):
            dev.kernel("faulty_kernels:HungSaxpy")(x, x, a=1)


# ---- what the board and the bridge reject --------------------------------------------

def exchange(rig, seq, payload, timeout=5.0):
    """Send one raw serial frame on the rig's line; return the payload answered to ``seq``."""
    os.write(rig.slave, F.encode_frame(seq, payload))
    dec = F.FrameDecoder()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([rig.slave], [], [], 0.05)[0]:
            for event in dec.feed(os.read(rig.slave, 1 << 16)):
                if isinstance(event, F.Frame) and event.seq == seq:
                    return event.payload
    raise AssertionError(f"no answer to frame {seq} within {timeout} s")


@needs_verilator
def test_board_rejections_reach_the_host():
    from hetflow.link.client import BoardRequestError
    rig = rig_for(Saxpy)
    with rig.open() as dev:
        with pytest.raises(BoardRequestError) as exc:
            dev.board._call(P.REG_READ, 0x40)    # past the host-side check
        assert str(exc.value) == (f"serial board on {rig.path} rejected REG_READ (BAD_REGISTER): "
                                  f"register offset 0x40 is outside the register window "
                                  f"(0x40 bytes)")
        with pytest.raises(BoardRequestError, match=r"rejected MEM_READ \(BAD_ADDRESS\): memory "
                                                    r"range 0xfffffc\+0x8 is outside the memory"):
            dev.board._call(P.MEM_READ, (16 << 20) - 4, 8)
        # A job the host would have cut (hetflow.fit) is refused by the layout before it runs.
        x = np.zeros(1_500_000, dtype=np.int32)       # 3 regions of 6000640 bytes
        job = Saxpy.prepare(Saxpy.bind(), {"x": x, "y": x}, {"a": 1})
        with pytest.raises(BoardError) as exc:
            dev.board.layout(job)
        assert str(exc.value) == (f"serial:{rig.path} (saxpy): the job needs 18001920 bytes of "
                                  f"board memory but it has 16777216; make the call smaller "
                                  f"(a board's memory is fixed)")
        assert dev.board.reg_read(0x14) == zlib.crc32(b"saxpy")


@needs_verilator
def test_bridge_answers_malformed_requests_itself():
    rig = rig_for(Saxpy)
    assert exchange(rig, 1, b"\x04\x04") == P.encode_response(
        2, "request frame of 2 bytes is shorter than its 5-byte header")
    assert exchange(rig, 2, P.HEADER.pack(P.REG_READ.code, 4000) + b"\0\0\0\0") == \
        P.encode_response(2, "request frame says 4000 payload bytes but has 4")
    assert exchange(rig, 3, P.encode_request(P.QUIT)) == P.encode_response(P.OK)
    assert exchange(rig, 4, P.HEADER.pack(P.QUIT.code, 1) + b"x") == \
        P.encode_response(2, "QUIT: payload of 1 bytes; expected 0")
    # The board itself rejects what is well framed but wrong; QUIT never reached it.
    assert exchange(rig, 5, P.HEADER.pack(0x7F, 3) + b"xyz") == \
        P.encode_response(1, "unknown opcode 0x7f")
    info = exchange(rig, 6, P.encode_request(P.PING))
    assert info[5:9] == P.MAGIC
    assert rig.bridge.stats["bad_requests"] == 3 and rig.bridge.stats["board_errors"] == 0


@needs_verilator
def test_hung_board_behind_the_bridge_is_reported():
    rig = rig_for(Saxpy, run_timeout=0.5)
    with rig.open() as dev:
        dev.board.reset()
        dev.board.reg_write(0x08, 1000)
        dev.board.reg_write(0x00, 1)          # no DMA set up: the kernel waits forever
        start = time.monotonic()
        with pytest.raises(BoardError, match=r"^serial:.*: the board failed during RUN: virtual "
                                             r"board of saxpy: no response within 0\.5 s during "
                                             r"RUN; board state is lost"):
            dev.link.call(P.RUN, 1 << 60, timeout=10)
        assert time.monotonic() - start < 5
        assert dev.board.reg_read(0x14) == zlib.crc32(b"saxpy")   # restarted behind the bridge
        assert rig.bridge.stats["board_errors"] == 1


# ---- a lossy line ----------------------------------------------------------------------

class Noise:
    """Seeded damage to a fraction of the chunks passing one way: bit flips, lost bytes,
    cut tails, inserted garbage."""

    def __init__(self, seed, rate):
        self.rng = random.Random(seed)
        self.rate = rate
        self.damaged = 0

    def __call__(self, data):
        if not data or self.rng.random() >= self.rate:
            return data
        self.damaged += 1
        data = bytearray(data)
        kind = self.rng.random()
        at = self.rng.randrange(len(data))
        if kind < 0.5:
            data[at] ^= 1 << self.rng.randrange(8)
        elif kind < 0.75:
            del data[at]
        elif kind < 0.9:
            del data[at:]
        else:
            data[at:at] = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 20)))
        return bytes(data)


@needs_verilator
def test_noisy_line_is_detected_and_retried(cpu):
    tx, rx = Noise(seed=11, rate=0.15), Noise(seed=12, rate=0.1)
    rig = rig_for(Saxpy, tx_filter=tx, rx_filter=rx)
    start = time.monotonic()
    with rig.open(timeout=0.2, retries=8, chunk=1024, baudrate=1_000_000) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(5), [10, 3000, 10_000, 1])
        stats = dev.link.stats
    bridge = rig.bridge.stats
    print(f"\nnoisy line: {tx.damaged} responses and {rx.damaged} request chunks damaged; "
          f"host {stats}; bridge {bridge}; {time.monotonic() - start:.1f} s")
    assert tx.damaged > 5 and rx.damaged > 5
    assert stats["retries"] > 0 and (stats["crc"] > 0 or stats["timeouts"] > 0)
    assert bridge["crc"] + bridge["truncated"] > 0
    # A single request whose answer was lost was answered from the bridge's cache; a memory
    # chunk is sent again under a new number: no frame ran more often than the host sent it.
    assert bridge["duplicates"] > 0
    assert bridge["requests"] <= stats["requests"]


@needs_verilator
def test_pipelined_bursts_on_a_noisy_line(cpu):
    """Several requests in flight (the Python bridge reads the pty as it goes, so it
    buffers); lost and damaged frames cost a resent chunk or burst, never a wrong result."""
    tx, rx = Noise(seed=31, rate=0.1), Noise(seed=32, rate=0.05)
    rig = rig_for(Saxpy, tx_filter=tx, rx_filter=rx)
    with rig.open(timeout=0.2, retries=8, window=4096, baudrate=1_000_000) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(15), [10, 5000, 1])
        stats = dev.link.stats
    print(f"\npipelined noisy line: {tx.damaged} responses and {rx.damaged} request chunks "
          f"damaged; host {stats}; bridge {rig.bridge.stats}")
    assert tx.damaged > 2 and rx.damaged > 2
    assert stats["in_flight_peak"] > 1
    assert stats["retries"] > 0 and stats["lost"] + stats["timeouts"] + stats["crc"] > 0


class DropFirstRunResponse:
    """A ``tx_filter`` that loses the first response to a RUN (OK, 9 payload bytes)."""

    def __init__(self):
        self.dropped = None

    def __call__(self, frame):
        payload = frame[F.HEADER.size:-F.TRAILER.size]
        if self.dropped is None and len(payload) == P.HEADER.size + 9 and payload[0] == P.OK:
            self.dropped = frame
            return b""
        return frame


@needs_verilator
def test_lost_run_response_reruns_the_job_one_request_at_a_time(cpu):
    """A job is one burst; when its RUN's answer is lost, the job goes again one request at
    a time from its RESET (fresh sequence numbers: nothing is answered from the cache)."""
    lost = DropFirstRunResponse()
    rig = rig_for(Saxpy, tx_filter=lost)
    with rig.open(timeout=0.3) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(6), [500])
        stats = dev.link.stats
    assert lost.dropped and stats["lost"] + stats["timeouts"] >= 1
    assert rig.bridge.stats["duplicates"] == 0
    assert rig.bridge.stats["requests"] == stats["requests"]


@needs_verilator
def test_lost_run_response_of_a_single_request_is_not_executed_twice():
    """A RUN sent alone whose response is lost is answered again from the cache on retry."""
    lost = DropFirstRunResponse()
    rig = rig_for(Saxpy, tx_filter=lost)
    with rig.open(timeout=0.3) as dev:
        dev.link.call(P.RUN, 100)
        stats = dev.link.stats
    assert lost.dropped and stats["timeouts"] == 1 and stats["retries"] == 1
    assert rig.bridge.stats["duplicates"] == 1
    assert rig.bridge.stats["requests"] == stats["requests"]


# ---- a dead far end, an abandoned call -------------------------------------------------

@needs_verilator
def test_dead_far_end_raises_after_retries():
    rig = rig_for(Saxpy)
    dev = rig.open(timeout=0.3, retries=2)
    try:
        t0 = time.monotonic()
        rig.bridge.stop(timeout=5)
        assert not rig.bridge.running and time.monotonic() - t0 < 1.0
        x = np.arange(10, dtype=np.int32)
        start = time.monotonic()
        with pytest.raises(BoardError) as exc:
            dev.kernel("saxpy")(x, x, a=1)
        elapsed = time.monotonic() - start
    finally:
        dev.close()
    assert str(exc.value) == (f"serial:{rig.path}: RESET failed after 3 attempt(s): no response "
                              f"within 0.3 s; is the board connected, running the hetflow "
                              f"bridge, at 115200 baud?")
    # The job's burst waits out one time limit: nothing came back, so every frame held
    # behind the first is due from when it was sent, not one limit after another (that
    # took 6.5 s here).  Then its requests go one at a time and RESET fails after its 3
    # attempts of 0.3 s.
    assert 0.9 <= elapsed < 3.0
    # Nothing answers at all: opening fails on PING, just as clearly.
    start = time.monotonic()
    with pytest.raises(BoardError, match=r"^serial:.*: PING failed after 2 attempt\(s\): no "
                                         r"response within 0\.2 s; is the board connected"):
        rig.open(timeout=0.2, retries=1)
    assert time.monotonic() - start < 2.0


@needs_verilator
def test_abandoned_call_leaves_the_device_usable(cpu):
    rig = rig_for(Saxpy)
    with rig.open() as dev:
        saxpy = dev.kernel("saxpy")
        big = np.arange(1_000_000, dtype=np.int32)
        run = saxpy.start(big, big, a=3)
        with pytest.raises(TimeoutError, match=r"^kernel 'saxpy' on serial:.* did not finish"):
            run.wait(timeout=0.01)
        saxpy_calls(dev, cpu, np.random.default_rng(7), [100, 1000])


# ---- fuzz ------------------------------------------------------------------------------

def _fuzz_request(rng):
    """A well-formed request with random fields, kept to what finishes quickly."""
    op = rng.choice([P.PING, P.RESET, P.REG_WRITE, P.REG_READ, P.MEM_WRITE, P.MEM_READ,
                     P.DMA_SETUP, P.RUN, P.QUIT])
    address = rng.choice([0, rng.randrange(1 << 24), rng.randrange(1 << 32), (16 << 20) - 4])
    if op is P.RESET:
        return P.encode_request(op, rng.randrange(100))
    if op is P.REG_WRITE:
        return P.encode_request(op, rng.choice([rng.randrange(0x80), rng.randrange(1 << 32)]),
                                rng.randrange(1 << 32))
    if op is P.REG_READ:
        return P.encode_request(op, rng.choice([rng.randrange(0x80), rng.randrange(1 << 32)]))
    if op is P.MEM_WRITE:
        return P.encode_request(op, address, data=rng.randbytes(rng.randrange(300)))
    if op is P.MEM_READ:
        return P.encode_request(op, address, rng.choice([rng.randrange(2000),
                                                         rng.randrange(1 << 32)]))
    if op is P.DMA_SETUP:
        return P.encode_request(op, rng.randrange(6), address, rng.randrange(1 << 32))
    if op is P.RUN:
        return P.encode_request(op, rng.randrange(5000))
    return P.encode_request(op)


def _fuzz_payload(rng):
    """Random protocol bytes: unknown opcodes, wrong lengths, headers that lie."""
    kind = rng.randrange(3)
    body = rng.randbytes(rng.randrange(24))
    if kind == 0:                                 # random bytes, header and all
        return rng.randbytes(rng.randrange(30))
    code = rng.randrange(256)
    if kind == 1:                                 # consistent header, wrong size or opcode
        if code in P.OPCODES and len(body) == P.OPCODES[code].request_size:
            body += b"!"                          # random RUN/RESET fields could run for hours
        return P.HEADER.pack(code, len(body)) + body
    return P.HEADER.pack(code, rng.randrange(1 << 32)) + body   # header lies about its size


def _fuzz_bytes(rng, seq):
    """One slice of line traffic."""
    kind = rng.random()
    if kind < 0.3:
        return F.encode_frame(seq, _fuzz_request(rng))
    if kind < 0.5:
        return F.encode_frame(seq, _fuzz_payload(rng))
    frame = bytearray(F.encode_frame(seq, _fuzz_request(rng)))
    if kind < 0.65:                               # a flipped bit
        at = rng.randrange(len(frame))
        frame[at] ^= 1 << rng.randrange(8)
        return bytes(frame)
    if kind < 0.75:                               # cut short
        return bytes(frame[:rng.randrange(1, len(frame))])
    if kind < 0.85:                               # a length beyond the limit
        return struct.pack("<BBI", F.SYNC, seq, rng.randrange(F.MAX_PAYLOAD + 1, 1 << 32))
    noise = bytearray(rng.randbytes(rng.randrange(1, 200)))
    for _ in range(rng.randrange(4)):             # with sync bytes in it
        noise[rng.randrange(len(noise))] = F.SYNC
    return bytes(noise)


@needs_verilator
def test_fuzzed_bridge_survives_and_still_answers(capsys):
    rig = rig_for(Saxpy, run_timeout=2.0)
    rng = random.Random(2024)
    drained = bytearray()
    stop = threading.Event()

    def drain():          # keep the line moving: the bridge's answers must go somewhere
        while not stop.is_set():
            if select.select([rig.slave], [], [], 0.05)[0]:
                drained.extend(os.read(rig.slave, 1 << 16))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    count = 10_000
    start = time.monotonic()
    for i in range(count):
        os.write(rig.slave, _fuzz_bytes(rng, i % 255))
    # Then one good PING: its answer proves the bridge survived, caught up and is in step.
    # Its sequence number, 255, is one the fuzz frames never use.
    ping = F.encode_frame(0xFF, P.encode_request(P.PING))
    dec = F.FrameDecoder()
    info = None
    deadline = time.monotonic() + 60
    while info is None and time.monotonic() < deadline:
        os.write(rig.slave, ping)
        until = time.monotonic() + 2.0
        seen = 0
        while info is None and time.monotonic() < until:
            time.sleep(0.02)
            data = bytes(drained[seen:])
            seen += len(data)
            for event in dec.feed(data):
                if isinstance(event, F.Frame) and event.seq == 0xFF \
                        and event.payload[:1] == bytes([P.OK]) and len(event.payload) == 20:
                    info = P.decode_response(P.PING, P.OK, event.payload[5:])
    elapsed = time.monotonic() - start
    stop.set()
    reader.join(5)
    stats = rig.bridge.stats
    with capsys.disabled():
        print(f"\nfuzz: {count} slices ({len(drained)} response bytes) in {elapsed:.2f} s; "
              f"bridge {stats}")
    assert info is not None and info.magic == P.MAGIC
    assert rig.bridge.running and rig.bridge.error is None
    assert stats["errors"] == 0
    assert stats["crc"] > 100 and stats["length"] > 100 and stats["bad_requests"] > 100
    assert stats["frames"] > 1000
    assert elapsed < 120
    # The board is still good for real work.
    with rig.open() as dev:
        x = np.arange(1000, dtype=np.int32)
        np.testing.assert_array_equal(dev.kernel("saxpy")(x, x, a=2), 3 * x)


# ---- measurements ----------------------------------------------------------------------

@needs_verilator
def test_latency_and_throughput(capsys):
    rig = rig_for(Saxpy)
    with rig.open() as dev:
        board = dev.board
        for _ in range(50):
            board.reg_read(0x14)
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            assert board.reg_read(0x14) == zlib.crc32(b"saxpy")
        latency = (time.perf_counter() - t0) / n
        data = np.random.default_rng(8).integers(0, 256, 2 << 20, dtype=np.uint8).tobytes()
        t0 = time.perf_counter()
        board.mem_write(0, data)
        write = len(data) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        back = board.mem_read(0, len(data))
        read = len(data) / (time.perf_counter() - t0)
        assert back == data
    with capsys.disabled():
        print(f"\nserial over a pty: REG_READ round trip {latency * 1e6:.0f} us; MEM_WRITE "
              f"{write / 1e6:.1f} MB/s, MEM_READ {read / 1e6:.1f} MB/s "
              f"({dev.link.chunk}-byte chunks)")
