"""``hetflow bench link``: what the serial link moves, in the board's time.

Serves a kernel's board design as ``hetflow serve`` does
(:class:`~hetflow.boards.serialsim.SerialSocSimulation`: the UART in the
simulated design at the line rate, the board's USB-UART turnaround) and drives
it through the serial backend (``hetflow.open("serial:...")``).  Every figure
is in *SoC time*: simulated cycles divided by the SoC clock, read from the
served design's clock file (:mod:`hetflow.boards.socclock`), from the moment
the host sends the first request (the board idle, its time standing still)
to the moment the last answer's last byte reaches the host.  The host's own
think time while the board waits for it is not counted; a host that is late
while the board is busy is (see :mod:`hetflow.boards.socclock`).

write
    ``mem_write`` of ``nbytes`` random bytes: ``chunk``-byte ``MEM_WRITE``
    requests, pipelined within the link's window.
read
    ``mem_read`` of the same bytes back (checked against what was written).
register round trips
    ``REG_READ`` of the kernel's id register, one at a time: each waits for its
    answer, so each pays the line time both ways and the USB-UART turnaround.
register burst
    the same ``REG_READ`` requests as one burst, pipelined within the window.

For each: data bytes per second of SoC time (memory bytes; 4 per register
read), that rate as a fraction of the line rate (8N1: ``baud / 10`` bytes a
second), and requests per second.  ``bulk_line_fraction`` is the lower of the
write and read fractions.
"""

import time
from dataclasses import dataclass

import numpy as np

from ..hw.errors import HetflowError
from ..hw.registry import get_kernel
from ..link.boardmap import KernelView

__all__ = ["LinkRow", "LinkBench", "run_link_bench", "print_report", "DEFAULT_BYTES",
           "DEFAULT_ROUND_TRIPS"]

#: Bytes of the bulk transfers (capped to the board's memory).
DEFAULT_BYTES = 32 * 1024
#: Register reads, one at a time and as a burst.
DEFAULT_ROUND_TRIPS = 100
#: Seconds (wall time) a request may take: a simulated board runs slower than a real one.
_TIMEOUT = 10.0
_ID_REGISTER = 0x14


@dataclass
class LinkRow:
    """One measurement (see the module doc)."""

    name: str
    requests: int
    data_bytes: int
    cycles: int
    clock_hz: int
    line_bytes_per_s: float
    wall_s: float

    @property
    def seconds(self):
        """SoC time of the measurement."""
        return self.cycles / self.clock_hz

    @property
    def bytes_per_s(self):
        return self.data_bytes / self.seconds

    @property
    def line_fraction(self):
        return self.bytes_per_s / self.line_bytes_per_s

    @property
    def req_per_s(self):
        return self.requests / self.seconds


@dataclass
class LinkBench:
    """Rows of :func:`run_link_bench` and the served line they were measured on."""

    board: str
    kernel: str
    line: object
    window: int
    rows: list
    ok: bool
    link_stats: dict

    def row(self, name):
        return next(r for r in self.rows if r.name == name)

    @property
    def bulk_line_fraction(self):
        """The lower of the bulk write and read line fractions."""
        return min(self.row("write").line_fraction, self.row("read").line_fraction)


def run_link_bench(board="icebreaker", baud=None, turnaround_ms=1.0, window=None,
                   nbytes=DEFAULT_BYTES, round_trips=DEFAULT_ROUND_TRIPS, kernel="saxpy",
                   seed=1, status=None):
    """Serve ``kernel``'s design for ``board`` and measure the link; a :class:`LinkBench`.

    ``baud`` defaults to the board's default rate, ``window`` to the serial
    backend's (:data:`~hetflow.backends.serial.BRIDGE_WINDOW`).
    """
    from ..backends.serial import BRIDGE_WINDOW, SerialDevice
    from ..boards.registry import get_board
    from ..boards.serialsim import SerialSocSimulation
    from ..link import protocol as P

    board = get_board(board)
    window = BRIDGE_WINDOW if window is None else window
    for flag, value, low in (("--bytes", nbytes, 1), ("--round-trips", round_trips, 1),
                             ("--window", window, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise HetflowError(f"{flag} {value!r} is out of range; allowed an integer of at "
                               f"least {low}")
    if nbytes > board.memory_size:
        raise HetflowError(f"--bytes {nbytes} is more than {board.name}'s "
                           f"{board.memory_size}-byte SoC memory; allowed 1 to "
                           f"{board.memory_size}")
    cls = get_kernel(kernel)
    data = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    with SerialSocSimulation(KernelView.of(cls, {}), board=board, baud=baud,
                             turnaround_ms=turnaround_ms,
                             status=status) as sim:
        line = sim.line
        if status:
            status(f"serving {cls.name} for {board.name}: {line.describe()}")
        with SerialDevice(sim.port, baudrate=line.baud, timeout=_TIMEOUT,
                          window=window) as dev:
            clock, board_api = sim.clock, dev.board
            rows = []

            def measure(name, requests, data_bytes, action):
                if status:
                    status(f"link bench: {name}")
                start, wall = clock.read()["cycles"], time.perf_counter()
                result = action()
                cycles = clock.read()["delivered"] - start
                rows.append(LinkRow(name, requests, data_bytes, cycles, line.clock_hz,
                                    line.bytes_per_s, time.perf_counter() - wall))
                return result

            chunks = -(-nbytes // board_api.max_transfer)
            measure("write", chunks, nbytes, lambda: board_api.mem_write(0, data))
            back = measure("read", chunks, nbytes, lambda: board_api.mem_read(0, nbytes))
            expected = board_api.reg_read(_ID_REGISTER)
            ids = measure("register round trips", round_trips, 4 * round_trips,
                          lambda: [board_api.reg_read(_ID_REGISTER) for _ in range(round_trips)])
            link = dev.link
            read_id = link.request(P.REG_READ, _ID_REGISTER)
            (burst,) = measure("register burst", round_trips, 4 * round_trips,
                               lambda: link.exchange([[read_id] * round_trips]))
            burst_ids = [link.decode(P.REG_READ, *answer)[0] for answer in burst]
            ok = back == data and ids == [expected] * round_trips \
                and burst_ids == [expected] * round_trips
            stats = dev.link.stats
    return LinkBench(board.name, cls.name, line, window, rows, ok, stats)


def print_report(result, console):
    """Print ``result``'s table, the line it ran on and its figures as ``key=value`` lines."""
    from rich.table import Table

    line = result.line
    table = Table(title=f"hetflow bench link: {result.board}, {line.describe()}, window "
                        f"{result.window} bytes")
    for col in ("measurement", "requests", "data bytes", "SoC time", "bytes/s", "of line",
                "requests/s", "wall"):
        table.add_column(col, justify="left" if col == "measurement" else "right")
    for r in result.rows:
        table.add_row(r.name, f"{r.requests:,}", f"{r.data_bytes:,}", f"{r.seconds * 1e3:,.2f} ms",
                      f"{r.bytes_per_s:,.0f}", f"{r.line_fraction:.3f}", f"{r.req_per_s:,.0f}",
                      f"{r.wall_s:,.2f} s")
    console.print(table)
    print(f"SoC time: simulated cycles at {line.clock_hz / 1e6:g} MHz, from the first request "
          f"sent to the last answer's last byte at the host; line rate {line.baud} baud 8N1 = "
          f"{line.bytes_per_s:,.0f} bytes/s")
    write, read = result.row("write"), result.row("read")
    trips, burst = result.row("register round trips"), result.row("register burst")
    print(f"link_baud={line.baud}")
    print(f"link_clock_hz={line.clock_hz}")
    print(f"link_turnaround_ms={line.turnaround_ms:g}")
    print(f"link_window_bytes={result.window}")
    print(f"write_bytes_per_s={write.bytes_per_s:.0f}")
    print(f"write_line_fraction={write.line_fraction:.4f}")
    print(f"write_req_per_s={write.req_per_s:.1f}")
    print(f"read_bytes_per_s={read.bytes_per_s:.0f}")
    print(f"read_line_fraction={read.line_fraction:.4f}")
    print(f"read_req_per_s={read.req_per_s:.1f}")
    print(f"reg_round_trip_us={trips.seconds / trips.requests * 1e6:.1f}")
    print(f"reg_round_trip_req_per_s={trips.req_per_s:.1f}")
    print(f"reg_burst_req_per_s={burst.req_per_s:.1f}")
    print(f"link_retries={result.link_stats['retries']}")
    print(f"bulk_line_fraction={result.bulk_line_fraction:.4f}")
