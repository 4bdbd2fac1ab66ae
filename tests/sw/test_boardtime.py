"""Predicted board time: link counts of the protocol, the model of a build, the serial baud
taken from a build, and the sim's link count checked against the bytes a real pty carries."""

import json
import os
import tty

import numpy as np
import pytest

import hetflow
from hetflow.boards.report import REPORT_FIELDS
from hetflow.boardtime import BoardTiming, LinkCount, LinkMeter, request_cost
from hetflow.hw.errors import HetflowError
from hetflow.link import protocol as P
from hetflow.link.framing import DEFAULT_TURNAROUND_S

from ..conftest import needs_verilator


def write_build(path, board="icebreaker", kernel="crc32", params=None, target_mhz=12.0,
                fmax_mhz=40.0, baud=3_000_000, memory=128 * 1024, **extra):
    """A build directory with the report.json ``hetflow build`` writes (the fields read here)."""
    path.mkdir(parents=True, exist_ok=True)
    report = {field: None for field in REPORT_FIELDS}
    report.update(board=board, kernel=kernel, params=params or {"lanes": 1},
                  target_mhz=target_mhz, fmax_mhz=fmax_mhz, timing_met=fmax_mhz >= target_mhz,
                  memory={"kind": "spram", "bytes": memory},
                  bridge={"kind": "uart-frame", "baud": baud})
    report.update(extra)
    (path / "report.json").write_text(json.dumps(report))
    return path


# ---- link counts ------------------------------------------------------------------------

def test_request_cost_counts_serial_frames():
    # A serial frame adds 10 bytes (sync, seq, length, CRC) around the protocol frame, whose
    # header is 5 bytes (opcode/status, length).
    assert request_cost(P.REG_WRITE, (0x20, 5), 0, ()) == LinkCount(1, (10 + 5 + 8) + (10 + 5))
    assert request_cost(P.REG_READ, (0x0c,), 0, (7,)) == LinkCount(1, (10 + 5 + 4) + (10 + 5 + 4))
    # Memory moves in 1024-byte requests: 2500 bytes are three, each with its address.
    assert request_cost(P.MEM_WRITE, (0,), 2500, ()) == \
        LinkCount(3, 3 * ((10 + 5 + 4) + (10 + 5)) + 2500)
    assert request_cost(P.MEM_READ, (0, 3000), 0, b"") == \
        LinkCount(3, 3 * ((10 + 5 + 8) + (10 + 5)) + 3000)
    # RUN goes in slices of 2**20 cycles (the serial backend's run_slice).
    assert request_cost(P.RUN, (10**7,), 0, (0, 3 * 2**20 + 1)) == \
        LinkCount(4, 4 * ((10 + 5 + 8) + (10 + 5 + 9)))
    assert request_cost(P.RUN, (10**7,), 0, (0, 0)).requests == 1
    meter = LinkMeter()
    meter.record(P.RESET, (4,), 0, ())
    meter.record(P.REG_READ, (0x14,), 0, (1,))
    assert meter.total == LinkCount(2, (10 + 5 + 4) + (10 + 5) + 38, 2)
    # A burst is one exchange however many requests it has; a RUN beyond one slice
    # continues with one exchange per further slice.
    meter.burst()
    meter.record(P.RESET, (4,), 0, (), alone=False)
    meter.record(P.RUN, (10**7,), 0, (0, 2 * 2**20), alone=False)
    assert (meter.total.requests, meter.total.exchanges) == (2 + 1 + 2, 2 + 1 + 1)


def test_record_burst_counts_as_burst_and_records_do():
    # A job's burst counted at once is what burst() and one record() per request count,
    # also when its requests repeat (their costs are kept by kind and size).
    burst = [(P.RESET, (4,), b"", None), (P.MEM_WRITE, (0,), bytes(2500), None),
             (P.REG_WRITE, (0x20, 5), b"", None), (P.RUN, (10**7,), b"", 1.0),
             (P.MEM_READ, (0x1000, 3000), b"", None), (P.REG_READ, (0x0c,), b"", None)]
    responses = [(), (), (), (0, 3 * 2**20 + 1), bytes(3000), (7,)]
    one_by_one, at_once = LinkMeter(), LinkMeter()
    for _ in range(2):
        one_by_one.burst()
        for (opcode, fields, data, _), response in zip(burst, responses):
            one_by_one.record(opcode, fields, len(data), response, alone=False)
        at_once.record_burst(burst, responses)
    assert at_once.total == one_by_one.total
    assert at_once.total == LinkCount(
        2 * (1 + 3 + 1 + 4 + 3 + 1),
        2 * sum(request_cost(op, f, len(d), r).bytes
                for (op, f, d, _), r in zip(burst, responses)),
        2 * (1 + 3))                    # one exchange per burst, one per further RUN slice
    at_once.record_burst([], [])        # nothing sent: no exchange
    assert at_once.total.exchanges == 2 * (1 + 3)


def test_record_job_counts_what_record_burst_counts():
    # A job's burst counted by its JobBurst (costs kept once per burst and request count)
    # is what record_burst counts, whatever the RUN's cycles and however many words an
    # array register takes this time.
    class Burst:
        cache = {}
    requests = [(P.RESET, (4,), b"", None), (P.MEM_WRITE, (0,), bytes(2500), None),
                (P.REG_WRITE, (0x20, 5), b"", None), (P.RUN, (10**7,), b"", 1.0),
                (P.MEM_READ, (0x1000, 3000), b"", None), (P.REG_READ, (0x0c,), b"", None)]
    responses = [(), (), (), (0, 3 * 2**20 + 1), bytes(3000), (7,)]
    by_job, by_burst = LinkMeter(), LinkMeter()
    for cycles, words in ((3 * 2**20 + 1, 1), (5, 1), (2**20, 3), (7, 1)):
        now = requests[:2] + [(P.REG_WRITE, (0x20 + 4 * i, i), b"", None)
                              for i in range(words)] + requests[3:]
        answers = responses[:2] + [()] * words + [(0, cycles)] + responses[4:]
        by_job.record_job(Burst, now, answers)
        by_burst.record_burst(now, answers)
        assert by_job.total == by_burst.total


# ---- the model of a build ---------------------------------------------------------------

def test_board_timing_from_a_build(tmp_path):
    timing = BoardTiming.from_build(write_build(tmp_path / "b"))
    assert (timing.board, timing.kernel, timing.clock_hz, timing.fmax_hz, timing.baud) == \
        ("icebreaker", "crc32", 12e6, 40e6, 3_000_000)
    assert timing.turnaround_s == DEFAULT_TURNAROUND_S == 1e-3
    assert timing.memory_size == 128 * 1024
    # cycles at the clock (not at Fmax) + 10 bits a byte at the baud rate + 1 ms an exchange.
    b = timing.breakdown(12_000, LinkCount(20, 30_000, 10))
    assert b == {"compute_s": pytest.approx(1e-3), "link_s": pytest.approx(0.1),
                 "turnaround_s": pytest.approx(10e-3), "total_s": pytest.approx(0.111)}
    assert timing.seconds(12_000, LinkCount(20, 30_000, 10)) == pytest.approx(0.111)
    assert timing.describe() == ("icebreaker build of crc32: 12 MHz clock (Fmax 40 MHz), "
                                 "3,000,000 baud 8N1, 1 ms turnaround per exchange")
    # report.json itself works too, and another turnaround.
    slow = BoardTiming.from_build(tmp_path / "b" / "report.json", turnaround_s=16e-3)
    assert slow.seconds(0, LinkCount(2, 0, 2)) == pytest.approx(32e-3)
    late = BoardTiming.from_build(write_build(tmp_path / "late", fmax_mhz=10.0))
    assert "(timing NOT met: the board may not work at all)" in late.describe()


def test_board_timing_refusals(tmp_path):
    with pytest.raises(HetflowError) as e:
        BoardTiming.from_build(tmp_path / "nothing")
    assert str(e.value) == f"build directory {tmp_path / 'nothing'} does not exist"
    old = write_build(tmp_path / "old", bridge=None)
    with pytest.raises(HetflowError) as e:
        BoardTiming.from_build(old)
    assert str(e.value) == (f"{old}/report.json has no serial bridge baud rate (bridge.baud); "
                            f"rebuild it with 'hetflow build KERNEL --board BOARD'")
    with pytest.raises(HetflowError) as e:
        BoardTiming.from_build(write_build(tmp_path / "b"), turnaround_s=-1)
    assert str(e.value) == "turnaround -1 s is out of range; allowed 0 or more seconds"


# ---- sim counts what a serial link carries ----------------------------------------------

class Pty:
    """The Python model of a board's bridge in front of a virtual board, on a raw pty."""

    def __init__(self, kernel):
        from hetflow.hw.shell import Shell
        from hetflow.sim.board.bridge import SerialBridge
        from hetflow.sim.board.virtual import VirtualBoard
        self.board = VirtualBoard(Shell(kernel))
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.bridge = SerialBridge(self.master, self.board).start()

    def close(self):
        self.bridge.stop()
        self.board.close()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture(scope="module")
def crc_pty():
    from hetflow.hw.kernels.crc32 import Crc32
    pty = Pty(Crc32)
    yield pty
    pty.close()


@needs_verilator
def test_sim_link_count_equals_the_bytes_a_serial_link_carries(crc_pty):
    data = np.arange(2500, dtype=np.uint8)
    with hetflow.open("sim") as dev:
        sim = dev.kernel("crc32")
        want = sim(data)
        sim_link, sim_cycles = sim.last_link, sim.last_cycles
    with hetflow.open("serial:" + crc_pty.path, timeout=2.0) as dev:
        board = dev.kernel("crc32")
        assert np.array_equal(board(data), want)
        assert board.last_cycles == sim_cycles
        # Every byte that crossed the pty for this call, both ways, and its exchanges.
        assert board.last_link == sim_link
    assert sim_link.requests >= 3 + 1 + 3      # three MEM_WRITEs, RUN, reads ...
    with hetflow.open("cpu") as dev:
        cpu = dev.kernel("crc32")
        cpu(data)
        assert cpu.last_link is None


@needs_verilator
def test_serial_takes_baud_and_kernel_from_the_build(crc_pty, tmp_path):
    build = write_build(tmp_path / "b", baud=3_000_000)
    with hetflow.open("serial:" + crc_pty.path, board=build, timeout=2.0) as dev:
        assert dev.link.baudrate == 3_000_000
        assert dev.board.kernel.name == "crc32"
    # An explicit baudrate wins over the build's.
    with hetflow.open("serial:" + crc_pty.path, board=build, baudrate=115_200,
                      timeout=2.0) as dev:
        assert dev.link.baudrate == 115_200
    # hetflow run --board sets $HETFLOW_BOARD; an open without board= or baudrate= takes it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HETFLOW_BOARD", str(write_build(tmp_path / "env", baud=1_500_000)))
        with hetflow.open("serial:" + crc_pty.path, timeout=2.0) as dev:
            assert dev.link.baudrate == 1_500_000
        with hetflow.open("serial:" + crc_pty.path, baudrate=9600, timeout=2.0) as dev:
            assert dev.link.baudrate == 9600
    no_bridge = write_build(tmp_path / "nb", bridge=None)
    with pytest.raises(HetflowError) as e:
        hetflow.open("serial:" + crc_pty.path, board=no_bridge)
    assert str(e.value) == (f"serial:{crc_pty.path}: {no_bridge}/report.json names no bridge "
                            f"baud rate (bridge.baud); pass baudrate=")
