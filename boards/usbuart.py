"""The USB-UART chip between a host and a board's serial bridge, and the baud rates it makes.

A board's bridge UART (:mod:`hetflow.boards.uart`) runs at ``clock / divisor``
for a whole divisor; the USB-UART chip on the other end makes its own set of
rates.  The link works at a rate both make, within the receiver's tolerance.
:func:`default_baud` picks the fastest such rate for a board at a given SoC
clock, and :func:`check_baud` refuses a rate the chip or the clock cannot make
with one line naming the rate, the limit and what to try.

Every chip described here makes the rates of FTDI's fractional divisor
(AN232B-05, "Configuring FT232R, FT2232 and FT232B Baud Rates"): ``base /
(n + k/8)`` for ``n`` in 2..16383 and ``k`` in 0..7, and the special cases
``n = 0`` (``base``) and ``n = 1`` (``2 * base / 3``); nothing between.  The
chip's rate is then exact (to its crystal), so the whole rounding error is the
FPGA divisor's, which :func:`~hetflow.boards.uart.divisor_for` bounds by
:data:`~hetflow.boards.uart.MAX_BAUD_ERROR`.

====================== ========= ======== ==============================================
chip                   base      maximum  source
====================== ========= ======== ==============================================
FT2232H (hi-speed)     12 MHz    12 MBd   FTDI DS_FT2232H (UART "up to 12Mbaud"); the
                                          120 MHz / 10 base in Linux ``ftdi_sio``
                                          (``ftdi_2232h_baud_base_to_divisor``)
FT231X                 3 MHz     3 MBd    FTDI DS_FT231X ("300 baud to 3 Mbaud"),
                                          divisor of AN232B-05
FT232R                 3 MHz     3 MBd    FTDI DS_FT232R 2.1.9 (``3000000 / (n + x)``)
BL702 (FT2232C mode)   3 MHz     3 MBd    Sipeed RV-Debugger-BL702 firmware: it answers
                                          as an FT2232C (0403:6010, bcdDevice 0x500) and
                                          decodes the FTDI divisor as ``48 MHz / 16 /
                                          (n + k/8)`` (``ftdi_set_baudrate`` in
                                          ``usbd_ftdi.c``)
====================== ========= ======== ==============================================
"""

from dataclasses import dataclass

from ..hw.errors import HetflowError, ParamError
from .uart import MAX_BAUD_ERROR, MIN_DIVISOR, divisor_for

__all__ = ["USBUART", "FT2232H", "FT231X", "FT232R", "BL702", "chip_rates", "default_baud",
           "check_baud", "BaudError"]

#: Largest FTDI integer divisor (14 bits).
_MAX_N = (1 << 14) - 1


class BaudError(HetflowError, ValueError):
    """A baud rate the board's USB-UART chip or its SoC clock cannot make."""


#: Status bytes that lead every USB packet an FTDI chip sends to the host.
STATUS_BYTES = 2


@dataclass(frozen=True)
class USBUART:
    """A USB-UART chip: what it is, where it sits and the rates it makes.

    Attributes
    ----------
    name : str
        Part name (``FT2232H``).
    base_hz : float
        Reference of the fractional divisor: the rate of divisor 0.
    max_baud : int
        Fastest rate (``base_hz``).
    packet : int
        Bytes of its USB bulk-in packets, :data:`STATUS_BYTES` of them status:
        512 on a high-speed chip, 64 on a full-speed one.  The chip holds
        received bytes until a packet's data is full or its latency timer
        expires (FTDI AN232B-04).
    on_board : bool
        False when the board has no USB-UART of its own and the chip is an
        assumed external adapter.
    note : str
        What the chip is on this board (one line, for ``hetflow boards``).
    source : str
        Datasheet or firmware the rates come from.
    """

    name: str
    base_hz: float
    max_baud: int
    packet: int
    on_board: bool = True
    note: str = ""
    source: str = ""

    @property
    def packet_data(self):
        """Data bytes per USB packet: what the chip holds before it sends without waiting."""
        return self.packet - STATUS_BYTES

    def makes(self, baud):
        """The rate the chip makes when asked for ``baud``: its nearest divisor's."""
        if baud >= self.base_hz:
            return self.base_hz
        if baud > self.base_hz * 2 / 3:
            return min((self.base_hz, self.base_hz * 2 / 3), key=lambda r: abs(r - baud))
        eighths = min(max(round(self.base_hz * 8 / baud), 16), _MAX_N * 8 + 7)
        return self.base_hz * 8 / eighths

    def describe(self):
        return {"chip": self.name, "max_baud": self.max_baud, "on_board": self.on_board,
                "note": self.note, "source": self.source}


FT2232H = USBUART(
    "FT2232H", 12e6, 12_000_000, 512, note="FT2232H channel B, USB-UART",
    source="FTDI DS_FT2232H (FT_000061), "
           "https://ftdichip.com/wp-content/uploads/2020/07/DS_FT2232H.pdf")
FT231X = USBUART(
    "FT231X", 3e6, 3_000_000, 64, note="FT231X USB-UART (also its JTAG)",
    source="FTDI DS_FT231X (FT_000565), "
           "https://ftdichip.com/wp-content/uploads/2020/08/DS_FT231X.pdf")
FT232R = USBUART(
    "FT232R", 3e6, 3_000_000, 64, on_board=False,
    note="no USB-UART on the board (its USB goes to the FPGA): an external 3.3 V adapter "
         "on the header pins, assumed FT232R-class",
    source="FTDI DS_FT232R (FT_000053), "
           "https://ftdichip.com/wp-content/uploads/2020/08/DS_FT232R.pdf")
BL702 = USBUART(
    "BL702", 3e6, 3_000_000, 64,
    note="BL702 running Sipeed's USB-JTAG/UART firmware, seen as an FT2232C",
    source="Sipeed firmware, ftdi_set_baudrate in components/usb_stack/class/vendor/"
           "usbd_ftdi.c, https://github.com/sipeed/RV-Debugger-BL702")


def chip_rates(chip, slowest=1.0):
    """The chip's rates from the fastest down to ``slowest`` (baud), fastest first."""
    yield chip.base_hz
    yield chip.base_hz * 2 / 3
    for eighths in range(16, _MAX_N * 8 + 8):
        rate = chip.base_hz * 8 / eighths
        if rate < slowest:
            return
        yield rate


def _rate(rate):
    """A rate as an integer number of baud when it is one (``3000000``), else rounded."""
    return int(round(rate))


def default_baud(board, clock_hz):
    """The fastest baud rate both the board's USB-UART chip and the SoC clock make.

    The chip's rates are tried from the fastest down; the first one the bridge
    UART makes from ``clock_hz`` within :data:`~hetflow.boards.uart.MAX_BAUD_ERROR`
    (and at least :data:`~hetflow.boards.uart.MIN_DIVISOR` cycles per bit) wins.

    Parameters
    ----------
    board : Board
        From :mod:`hetflow.boards.registry` (its ``usb_uart`` chip).
    clock_hz : float
        The SoC clock the UART runs on.

    Returns
    -------
    int
        Baud rate (rounded to a whole number when the chip's rate is not one).
    """
    chip = board.usb_uart
    for rate in chip_rates(chip, slowest=clock_hz / (_MAX_N * 8)):
        if clock_hz / rate < MIN_DIVISOR - 0.5:
            continue
        divisor = round(clock_hz / rate)
        if divisor >= MIN_DIVISOR and abs(clock_hz / divisor - rate) / rate * 100 \
                <= MAX_BAUD_ERROR:
            return _rate(rate)
    raise BaudError(f"{board.name}: no baud rate of the {chip.name} is within "
                    f"±{MAX_BAUD_ERROR:g} % of a {clock_hz / 1e6:g} MHz clock")


def check_baud(board, clock_hz, baud):
    """Refuse a baud rate the board's chip or the SoC clock cannot make; return the divisor.

    Raises
    ------
    BaudError
        When ``baud`` is above the chip's maximum or not one of its rates
        (within :data:`~hetflow.boards.uart.MAX_BAUD_ERROR`), or when the
        clock cannot make it (the message of
        :func:`~hetflow.boards.uart.divisor_for`).  Each message names the
        rate, the limit and :func:`default_baud`.
    """
    chip = board.usb_uart
    top = default_baud(board, clock_hz)
    where = f"--baud {baud}"
    if baud > chip.max_baud:
        raise BaudError(f"{where} is above the {chip.max_baud:,}-baud maximum of "
                        f"{board.name}'s {chip.name}; use at most {chip.max_baud}, e.g. the "
                        f"default {top}")
    made = chip.makes(baud)
    error = (made - baud) / baud * 100
    if abs(error) > MAX_BAUD_ERROR:
        raise BaudError(f"{where}: {board.name}'s {chip.name} makes {_rate(made)} baud "
                        f"instead, {error:+.2f} % off (at most ±{MAX_BAUD_ERROR:g} %); use "
                        f"one of its rates ({_rate(chip.base_hz)} / (n + k/8)), e.g. the "
                        f"default {top}")
    try:
        return divisor_for(clock_hz, baud)
    except ParamError as exc:
        raise BaudError(f"{exc}; the default for {board.name} at {clock_hz / 1e6:g} MHz "
                        f"is {top}") from None

