"""The served line's timing: the UART's bit time and the USB-UART's turnaround, in SoC cycles.

A board's UART does not reach the host directly: a USB-UART chip sits in
between (an FTDI FT2232H on the iCEBreaker, an FT231X on the ULX3S).  It adds
a delay a pty does not have.  FTDI's application note AN232B-04 ("Data
Throughput, Latency and Handshaking", section "Small Amounts of Data and End
of Buffer Conditions") lists when the chip sends the bytes it received from
the line on to the host:

1. its buffer holds a full USB packet: 64 bytes on a full-speed chip, of
   which 2 are status bytes and 62 data.  A high-speed chip (FT2232H) sends
   512-byte packets, again led by 2 status bytes (Linux's ``ftdi_sio`` driver
   strips 2 bytes from every ``max_packet_size`` piece of a read), so 510 data
   bytes;
2. its *latency timer* expires: it "measures the time since data was last sent
   to the PC", 16 ms by default, settable from 1 to 255 ms (section "Adjusting
   the Receive Buffer Latency Timer"; ``FT_SetLatencyTimer`` in the D2XX
   driver, ``latency_timer`` in Linux's sysfs, where a port with the
   ``low_latency`` flag gets 1 ms);
3. an event character or a modem-status line changes (the hetflow bridge uses
   neither).

The model, in SoC cycles (:class:`LineTiming`): a byte the board sends is
held; the held bytes go to the host as soon as a packet's worth of data is
held (those bytes), or when the line has been quiet for the turnaround since
the last byte arrived (all of them).  The chip's timer runs from the last
packet it sent, so on hardware a lone response waits anywhere between 0 and
the latency timer; the model takes the longest wait, the latency timer after
the response's last byte.  Not modelled: the USB scheduling of the host's own
writes (microframes of 125 µs on a high-speed chip, frames of 1 ms on a
full-speed one) and the host's driver.
"""

import math
import numbers
from dataclasses import dataclass

from ..hw.errors import ParamError
from .usbuart import USBUART

__all__ = ["LineTiming", "MAX_TURNAROUND_MS", "DEFAULT_SERVED_BOARD"]

#: The board a served design stands in for when none is named (``hetflow serve``).
DEFAULT_SERVED_BOARD = "icebreaker"

#: The largest latency timer an FTDI chip takes (AN232B-04).
MAX_TURNAROUND_MS = 255.0


def _fmt(x):
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _check(what, value, low, high, unit):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not low <= value <= high):
        raise ParamError(f"{what} {value!r} is out of range; allowed {_fmt(low)} to "
                         f"{_fmt(high)} {unit}")


@dataclass(frozen=True)
class LineTiming:
    """The served line in SoC cycles: bit time, turnaround and packet size.

    Parameters
    ----------
    clock_hz : int
        The SoC clock (Hz); simulated cycles count SoC time.
    baud : int
        The line rate (8N1: 10 bits per byte).
    turnaround_ms : float
        The USB-UART's latency timer (0 delivers every byte at once, as a pty).
    chip : USBUART
        The board's USB-UART chip (:mod:`hetflow.boards.usbuart`), for its
        packet size and fastest rate.
    """

    clock_hz: int
    baud: int
    turnaround_ms: float
    chip: USBUART

    def __post_init__(self):
        _check("baud rate", self.baud, 1, self.chip.max_baud,
               f"baud (the {self.chip.name}'s fastest)")
        _check("turnaround", self.turnaround_ms, 0, MAX_TURNAROUND_MS,
               "ms (an FTDI latency timer is 1 to 255 ms; 0 delivers at once, as a pty)")

    @property
    def turnaround_cycles(self):
        return round(self.turnaround_ms * 1e-3 * self.clock_hz)

    @property
    def bytes_per_s(self):
        """Bytes per second the line moves at most (8N1)."""
        return self.baud / 10

    def describe(self):
        """One line: what the served line is."""
        return (f"{self.baud} baud 8N1 through a modelled {self.chip.name} "
                f"({self.chip.packet_data}-byte packets, {self.turnaround_ms:g} ms latency "
                f"timer)")
