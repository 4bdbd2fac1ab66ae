"""The serial backend end to end against the board's own RTL, its UART in the loop.

SerialDevice -> real pty -> Verilator process running the SoC (kernel + memory + DMA),
the frame bridge and the UART gateware, exactly what goes into a bitstream, with the
UART's pins driven bit by bit at the line rate in simulated SoC time and the board's
USB-UART turnaround modelled.  Results are compared with the CPU's golden models; the
line's timing is checked in SoC cycles; a noisy line and a lost response exercise the
bridge's CRC checks and its response cache in gateware.

Every test here serves the same design (saxpy, icebreaker's memory, TEST_BAUD), so it is
compiled once for the file; the turnaround is a run-time setting of the same binary.
"""

import gc
import os
import random
import select
import subprocess
import sys
import threading
import time
import tty
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import hetflow
from hetflow.backends.serial import KernelMismatch
from hetflow.boards.serialsim import SerialSoC, SerialSocSimulation
from hetflow.boards.socclock import SocClock, SocClockError
from hetflow.hw.errors import ParamError
from hetflow.hw.kernels.crc32 import Crc32
from hetflow.hw.kernels.saxpy import Saxpy
from hetflow.link.boardmap import BoardMap, KernelView
from hetflow.link import framing as F
from hetflow.link import protocol as P
from tests.sim.test_serial import DropFirstRunResponse, Noise, _fuzz_bytes, saxpy_calls

from .test_bridge import expected_answer

from ..conftest import needs_verilator

pytestmark = needs_verilator

#: Line rate of the served design in these tests: 4 cycles a bit at icebreaker's 12 MHz.
TEST_BAUD = 3_000_000
#: SoC cycles of one byte on the line (8N1).
BYTE = 10 * 4


def served(**options):
    """The file's one design, with ``options`` (turnaround, filters) of its run."""
    return SerialSocSimulation(KernelView.of(Saxpy, {}), baud=TEST_BAUD, **options)


def open_board(sim, **options):
    return hetflow.open("serial:" + sim.port, timeout=1.0, baudrate=TEST_BAUD, **options)


@pytest.fixture(scope="module")
def cpu():
    with hetflow.open("cpu") as dev:
        yield dev


@pytest.fixture(scope="module")
def saxpy_soc():
    with served(status=print) as sim:
        yield sim


def test_saxpy_on_the_rtl_equals_cpu(saxpy_soc, cpu):
    with open_board(saxpy_soc) as dev:
        assert dev.board.info.memory_size == 128 * 1024
        saxpy_calls(dev, cpu, np.random.default_rng(1), [1, 7, 1000, 4000])
        assert dev.kernel("saxpy").last_cycles >= 4000
        stats = dev.link.stats
    assert stats["retries"] == 0 and stats["crc"] == 0


def test_kernel_is_discovered_from_the_rtl(saxpy_soc):
    with pytest.raises(KernelMismatch) as exc:
        open_board(saxpy_soc, kernel="crc32")
    assert str(exc.value) == (f"serial:{saxpy_soc.port}: the board's kernel id is "
                              f"0x{zlib.crc32(b'saxpy'):08x} ('saxpy'), not crc32 "
                              f"(0x{zlib.crc32(b'crc32'):08x})")


def test_a_call_larger_than_the_soc_memory_is_cut_on_the_host(saxpy_soc):
    from hetflow.fit import largest_call
    with open_board(saxpy_soc) as dev:
        saxpy = dev.kernel("saxpy")
        n_max = largest_call(saxpy.kernel_cls, saxpy.params, dev.board)
        assert n_max == 10240                # three 40 KiB regions in the 128 KiB memory
        x = np.arange(12_000, dtype=np.int32)
        assert np.array_equal(saxpy(x, 7 - x, a=2), x + 7)    # 2 jobs of <= 10240 elements
        assert saxpy.last_cycles >= 12_000


@pytest.mark.slow
def test_crc32_on_the_rtl_equals_zlib():
    # A second design: compiled once more, so not in the quick suite.
    rng = np.random.default_rng(2)
    with SerialSocSimulation(KernelView.of(Crc32, {}), baud=TEST_BAUD) as sim, \
            open_board(sim) as dev:
        for n in (1, 5, 3000):
            data = rng.integers(0, 256, n, dtype=np.uint8)
            assert int(dev.kernel("crc32")(data)[0]) == zlib.crc32(data.tobytes())


def test_noisy_line_into_the_rtl_bridge(cpu):
    tx, rx = Noise(seed=21, rate=0.15), Noise(seed=22, rate=0.1)
    start = time.monotonic()
    with served(rx_filter=rx, tx_filter=tx) as sim, \
            hetflow.open("serial:" + sim.port, timeout=0.3, retries=10,
                         baudrate=TEST_BAUD) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(5), [10, 3000, 1])
        stats = dev.link.stats
    print(f"\nnoisy line into the RTL bridge: {tx.damaged} responses and {rx.damaged} request "
          f"chunks damaged; host {stats}; {time.monotonic() - start:.1f} s")
    assert tx.damaged > 3 and rx.damaged > 3
    assert stats["retries"] > 0 and (stats["crc"] > 0 or stats["timeouts"] > 0)


def test_lost_run_response_is_recovered(cpu):
    """A job whose RUN answer was lost goes again one request at a time from its RESET;
    a RUN sent alone is retried and the bridge answers the repeat.

    (That the repeat comes from the bridge's cache rather than a second run is shown in
    tests/boards/test_bridge.py, where the RUN is slow enough for a rerun to differ.)
    """
    lost = DropFirstRunResponse()
    with served(tx_filter=lost) as sim, \
            hetflow.open("serial:" + sim.port, timeout=0.3, baudrate=TEST_BAUD) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(6), [500])
        stats = dev.link.stats
    assert lost.dropped and stats["lost"] + stats["timeouts"] >= 1
    alone = DropFirstRunResponse()
    with served(tx_filter=alone) as sim, \
            hetflow.open("serial:" + sim.port, timeout=0.3, baudrate=TEST_BAUD) as dev:
        dev.link.call(P.RUN, 100)
        stats = dev.link.stats
    assert alone.dropped and stats["timeouts"] == 1 and stats["retries"] == 1


# ---- hetflow serve ---------------------------------------------------------------------

def _serve(*argv):
    proc = subprocess.Popen([sys.executable, "-m", "hetflow.cli", "serve", "saxpy", "-q",
                             "--baud", str(TEST_BAUD), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = proc.stdout.readline().strip()
    assert port.startswith("/dev/"), proc.stderr.read()
    # The simulated board: the serve process's child.
    board, = [int(pid) for task in Path(f"/proc/{proc.pid}/task").iterdir()
              for pid in (task / "children").read_text().split()]
    return proc, port, board


def _gone(pid, within=5.0):
    """Whether process ``pid`` has ended (or is a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def test_serve_command_is_a_board_for_any_host_script(cpu):
    proc, port, board = _serve("--seconds", "120")
    try:
        with hetflow.open("serial:" + port, timeout=1.0, baudrate=TEST_BAUD) as dev:
            saxpy_calls(dev, cpu, np.random.default_rng(9), [100])
        banner = proc.stderr.readline()
        clock_path = banner.split("; SoC cycles in ")[1].split(";")[0]
        with SocClock(clock_path) as clock:        # any process can read the board's time
            assert clock.cycles > 100 * 12 * BYTE   # at least the call's bytes on the line
    finally:
        proc.terminate()
        proc.wait(10)
    assert banner.startswith(
        f"serving saxpy(lanes=1) on {port} with icebreaker's 128 KiB spram of SoC memory at "
        f"12 MHz, 3000000 baud 8N1 through a modelled FT2232H (510-byte packets, 1 ms latency "
        f"timer); SoC cycles in {clock_path}; use hetflow.open('serial:{port}', "
        f"baudrate=3000000); Ctrl-C stops")
    # SIGTERM stops it cleanly, the simulated board with it, and removes the clock file.
    assert proc.returncode == 0
    assert _gone(board)
    assert not os.path.exists(clock_path)


def test_a_served_board_does_not_outlive_a_killed_server():
    # SIGKILL: no cleanup runs in the server; the board sees that its parent is gone, on the
    # next turn of its loop (a few ms), not after hundreds of them.
    proc, port, board = _serve()
    proc.kill()
    proc.wait(10)
    assert _gone(board, within=1.0)


@pytest.mark.parametrize("argv, message", [
    (["saxpy", "--seconds", "0"], "hetflow serve: error: --seconds 0 is out of range; allowed "
                                  "more than 0"),
    (["saxpy", "--memory", "1000"], "hetflow serve: error: SoC memory_size = 1000 is out of "
                                    "range; allowed a power of two from 1024 to 1048576 bytes"),
    (["saxpy", "--board", "nope"], "hetflow serve: error: unknown board 'nope'; boards are: "
                                   "icebreaker, ulx3s-85f, orangecrab, tangnano9k"),
    (["saxpy", "--param", "lanes=3"], "hetflow serve: error: saxpy: parameter 'lanes' = 3 is out "
                                      "of range; allowed one of 1, 2, 4, 8"),
    (["saxpy", "--baud", "0"], "hetflow serve: error: baud rate 0 is out of range; allowed 1 to "
                               "12000000 baud (the FT2232H's fastest)"),
    (["saxpy", "--board", "ulx3s-85f", "--baud", "3000000"],
     "hetflow serve: error: baud rate 3000000 from a 25 MHz clock: the nearest divisor 8 gives "
     "3125000 baud, +4.17 % off (at most ±2 % is safe for 8N1); use a baud rate the clock "
     "divides evenly, e.g. 3125000 or 2777777.778, or a lower baud rate"),
    (["saxpy", "--turnaround-ms", "300"],
     "hetflow serve: error: turnaround 300.0 is out of range; allowed 0 to 255 ms (an FTDI "
     "latency timer is 1 to 255 ms; 0 delivers at once, as a pty)"),
])
def test_serve_bad_input(argv, message, capsys):
    from hetflow.cli import main
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


# ---- the line's timing is the board's --------------------------------------------------

def round_trip(sim, dev, opcode, *fields):
    """SoC cycles from sending one request until the last byte of its answer reached the host.

    The board is idle before (its time stands still while it waits for the host), and the
    clock file says when bytes last reached the host.
    """
    before = sim.clock.read()["cycles"]
    dev.link.call(opcode, *fields)
    return sim.clock.read()["delivered"] - before


def test_round_trips_take_the_line_time_and_the_usb_uart_turnaround(saxpy_soc):
    """Both frames at 4 cycles a bit, and the 1 ms latency timer (12000 cycles) when the
    answer ends in a part-filled USB packet; the FT2232H sends a full 510-byte packet at once."""
    with served(turnaround_ms=0) as bare, open_board(bare) as dev0, \
            open_board(saxpy_soc) as dev1:
        for n in (4, 495, 1024):
            answer = F.OVERHEAD + P.HEADER.size + n
            line = (len(F.encode_frame(0, P.encode_request(P.MEM_READ, 0, n))) + answer) * BYTE
            at_once = round_trip(bare, dev0, P.MEM_READ, 0, n)
            held = round_trip(saxpy_soc, dev1, P.MEM_READ, 0, n)
            # The last byte counts from the middle of its stop bit; the bridge adds a few cycles.
            assert line - BYTE <= at_once <= line + 20 * BYTE, (n, line, at_once)
            assert held - at_once == (0 if answer % 510 == 0 else 12_000), (n, held, at_once)


def test_soc_clock_file(saxpy_soc, tmp_path):
    with SocClock(saxpy_soc.clock_path) as clock:
        got = clock.read()
        assert (got["clock_hz"], got["baud"], got["turnaround"], got["packet"]) == \
            (12_000_000, TEST_BAUD, 12_000, 510)
        assert got["delivered"] <= got["cycles"] and clock.seconds(12_000_000) == 1.0
    with pytest.raises(SocClockError, match=r"^SoC clock file /nonexistent/clock: cannot read "
                                            r"it: No such file or directory$"):
        SocClock("/nonexistent/clock")
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(64))
    with pytest.raises(SocClockError) as exc:
        SocClock(junk)
    assert str(exc.value) == (f"SoC clock file {junk} is not one (it does not start with "
                              f"b'HFSOCCLK'); pass the path 'hetflow serve' printed")


def test_line_settings_are_checked_before_anything_is_built():
    with pytest.raises(ParamError, match=r"^turnaround -1 is out of range; allowed 0 to 255 ms"):
        served(turnaround_ms=-1)
    with pytest.raises(ParamError, match=r"^baud rate 5000000 is out of range; allowed 1 to "
                                         r"3000000 baud \(the FT231X's fastest\)$"):
        SerialSocSimulation(KernelView.of(Saxpy, {}), board="ulx3s-85f", baud=5_000_000)


def test_a_refused_serial_soc_leaves_no_unused_elaboratable():
    """It takes descriptions and checks them in ``__new__``: nothing is made before the checks
    pass, so a refused design leaves no "created but never used" warning behind."""
    view = KernelView.of(Saxpy, {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ParamError, match=r"^SoC memory_size = 3000 is out of range"):
            SerialSoC(view, memory_size=3000, divisor=4, idle_cycles=16)
        with pytest.raises(ParamError):
            SerialSoC(view, memory_size=4096, divisor=1, idle_cycles=16)
        gc.collect()
    assert not [w for w in caught if "created but never used" in str(w.message)]


def _is_subsequence(part, whole):
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


@pytest.mark.parametrize("count", [
    1_000, pytest.param(10_000, marks=pytest.mark.slow)])
def test_fuzzed_rtl_bridge_answers_only_proven_frames_in_order(saxpy_soc, cpu, count):
    """``count`` slices of line traffic (good, damaged, cut, oversized frames, noise with
    sync bytes) into the gateware through its UART, as fast as the pty takes them,
    nothing waited for.

    Every response must answer a frame that was sent whole and intact, in the order
    sent; the bridge must answer a PING afterwards and still run a kernel.
    """
    rng = random.Random(2026)
    slices, good_seqs, kinds = [], [], {}
    for i in range(count):
        seq = i % 256
        data = _fuzz_bytes(rng, seq)
        decoded = F.FrameDecoder().feed(data)
        whole = [e for e in decoded if isinstance(e, F.Frame)]
        kind = "frames" if whole and len(data) == F.OVERHEAD + len(whole[0].payload) \
            else "damaged"
        if kind == "frames" and len(whole[0].payload) > F.BRIDGE_MAX_PAYLOAD:
            kind = "oversized"
        if kind == "frames":
            good_seqs.append(whole[0].seq)
        kinds[kind] = kinds.get(kind, 0) + 1
        slices.append(data)
    sim = saxpy_soc
    fd = os.open(sim.port, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    drained = bytearray()
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            if select.select([fd], [], [], 0.05)[0]:
                drained.extend(os.read(fd, 1 << 16))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    start = time.monotonic()
    for data in slices:
        os.write(fd, data)
    # The served line shifts the queued bytes in at its rate, long after the writes
    # returned: wait until nothing more comes back, then one PING must be answered last
    # (a fuzzed frame can be a PING too, so only the last answer on a quiet line counts).
    ping, info = F.encode_frame(0xFF, P.encode_request(P.PING)), None

    def quiet(seconds=1.5, limit=120):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            seen = len(drained)
            time.sleep(seconds)
            if len(drained) == seen:
                return
        raise AssertionError(f"the line did not go quiet within {limit} s")

    for _ in range(3):
        quiet()
        os.write(fd, ping)
        quiet()
        events = [e for e in F.FrameDecoder().feed(bytes(drained)) if isinstance(e, F.Frame)]
        last = events[-1] if events else None
        if last is not None and last.seq == 0xFF and last.payload[:1] == bytes([P.OK]) \
                and len(last.payload) == 20:
            info = P.decode_response(P.PING, P.OK, last.payload[5:])
            break
    elapsed = time.monotonic() - start
    stop.set()
    reader.join(5)
    os.close(fd)
    answers = [e for e in F.FrameDecoder().feed(bytes(drained)) if isinstance(e, F.Frame)]
    fuzz_answers = [a for a in answers if a.seq != 0xFF or a.payload[:1] != bytes([P.OK])
                    or len(a.payload) != 20]
    statuses = {}
    for a in fuzz_answers:
        name = P.STATUS[a.payload[0]].name if a.payload[:1] and a.payload[0] in P.STATUS \
            else f"status {a.payload[:1].hex()}"
        statuses[name] = statuses.get(name, 0) + 1
    line = F.FrameDecoder(F.BRIDGE_MAX_PAYLOAD)
    line.feed(b"".join(slices))
    line.expire()
    assert info is not None and info.magic == P.MAGIC
    # What the line carried: a frame can also form across two slices (a cut one whose
    # missing bytes happen to complete it), so the proven frames are the decoder's on the
    # whole line, not the slices' one by one.  Each answer must be the one its request
    # gets (status and payload length, from the golden model above), in the order sent.
    strides = [ch.stride for ch in BoardMap(KernelView.of(Saxpy, {})).channels]
    carried = [(e.seq, expected_answer(e.payload, info.memory_size, info.register_size,
                                        strides))
               for e in F.FrameDecoder(F.BRIDGE_MAX_PAYLOAD).feed(b"".join(slices))
               if isinstance(e, F.Frame)]
    got = [(a.seq, (P.STATUS[a.payload[0]].name if a.payload[0] in P.STATUS else "?",
                    len(a.payload))) for a in fuzz_answers]
    print(f"\nRTL bridge fuzz: {len(slices)} slices {kinds}; on the line {line.stats}; "
          f"{len(good_seqs)} intact frames sent, {len(carried)} proven on the line; "
          f"{len(fuzz_answers)} answered: {statuses}; "
          f"{len(got) if _is_subsequence(got, carried) else 'NOT all'} answers matched "
          f"their requests in order; {elapsed:.1f} s")
    assert _is_subsequence(got, carried)
    # Sent with no flow control: frames that overrun the receive buffer (behind a RUN
    # of thousands of cycles) or follow a cut frame are dropped, never answered wrongly.
    assert len(fuzz_answers) > count // 10
    with open_board(sim) as dev:
        saxpy_calls(dev, cpu, np.random.default_rng(3), [100])
