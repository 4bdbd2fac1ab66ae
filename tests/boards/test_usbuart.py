"""The boards' USB-UART chips, the rates they make and each board's default baud rate."""

import pytest

from hetflow.boards.registry import boards, get_board
from hetflow.boards.uart import MAX_BAUD_ERROR, divisor_for
from hetflow.boards.usbuart import (BL702, FT231X, FT232R, FT2232H, BaudError, check_baud,
                                    chip_rates, default_baud)


def test_each_board_names_its_usb_uart_and_its_source():
    chips = {b.name: b.usb_uart for b in boards()}
    assert chips == {"icebreaker": FT2232H, "ulx3s-85f": FT231X, "orangecrab": FT232R,
                     "tangnano9k": BL702}
    for chip in chips.values():
        assert "https://" in chip.source
    # The OrangeCrab's USB goes to the FPGA: the UART is an assumed external adapter.
    assert [b.name for b in boards() if not b.usb_uart.on_board] == ["orangecrab"]


def test_ftdi_rates_follow_the_fractional_divisor():
    # AN232B-05: divisor 0 is 3 MBaud, 1 is 2 MBaud, then 3 MHz / (n + k/8) from n = 2.
    rates = list(chip_rates(FT231X, slowest=1_300_000))
    assert rates[:4] == [3e6, 2e6, 1.5e6, 3e6 / 2.125]
    assert rates[-1] >= 1_300_000 and len(rates) == 2 + 3      # 2, 2.125, 2.25
    assert FT2232H.makes(12_000_000) == 12e6 and FT2232H.makes(9e6) == 8e6
    assert FT231X.makes(115_200) == pytest.approx(3e6 / 26)    # 115384.6, +0.16 %
    assert FT231X.makes(2_500_000) == 3e6                       # nothing between 2 and 3 M


@pytest.mark.parametrize("board, mhz, baud, divisor", [
    ("icebreaker", 12, 3_000_000, 4),      # FT2232H makes 12 MHz / 4; the SoC 12 MHz / 4
    ("icebreaker", 24, 6_000_000, 4),
    ("icebreaker", 48, 12_000_000, 4),     # the FT2232H's maximum
    ("ulx3s-85f", 25, 1_500_000, 17),      # 3 M and 2 M are 4.2 % off at 25 MHz
    ("ulx3s-85f", 48, 3_000_000, 16),
    ("orangecrab", 48, 3_000_000, 16),
    ("tangnano9k", 27, 3_000_000, 9),
])
def test_default_baud(board, mhz, baud, divisor):
    b = get_board(board)
    assert default_baud(b, mhz * 1e6) == baud
    assert divisor_for(mhz * 1e6, baud) == divisor
    assert check_baud(b, mhz * 1e6, baud) == divisor


def test_default_baud_is_the_fastest_rate_within_the_budget():
    # Every faster rate of the chip is refused for the ULX3S at 25 MHz: 3 M and 2 M.
    b = get_board("ulx3s-85f")
    for rate in (3_000_000, 2_000_000):
        error = abs(25e6 / round(25e6 / rate) - rate) / rate * 100
        assert error > MAX_BAUD_ERROR
    assert abs(25e6 / 17 - 1.5e6) / 1.5e6 * 100 == pytest.approx(1.96, abs=0.01)
    assert default_baud(b, 25e6) == 1_500_000


def test_check_baud_refusals():
    ice = get_board("icebreaker")
    with pytest.raises(BaudError) as e:
        check_baud(ice, 12e6, 13_000_000)
    assert str(e.value) == ("--baud 13000000 is above the 12,000,000-baud maximum of "
                            "icebreaker's FT2232H; use at most 12000000, e.g. the default "
                            "3000000")
    with pytest.raises(BaudError) as e:
        check_baud(get_board("tangnano9k"), 27e6, 1_800_000)
    assert str(e.value) == ("--baud 1800000: tangnano9k's BL702 makes 1500000 baud instead, "
                            "-16.67 % off (at most ±2 %); use one of its rates (3000000 / "
                            "(n + k/8)), e.g. the default 3000000")
    with pytest.raises(BaudError) as e:
        check_baud(ice, 12e6, 6_000_000)
    assert str(e.value) == ("baud rate 6000000 from a 12 MHz clock: divisor 2 is below the "
                            "minimum of 4 clock cycles per bit; use a baud rate of at most "
                            "3000000 or a faster clock; the default for icebreaker at 12 MHz "
                            "is 3000000")
    # 115200 is an FTDI rate within 0.16 % and 12 MHz / 104 is within 0.16 % of it.
    assert check_baud(ice, 12e6, 115_200) == 104


def test_no_rate_at_all():
    with pytest.raises(BaudError) as e:
        default_baud(get_board("icebreaker"), 1e3)
    assert str(e.value) == "icebreaker: no baud rate of the FT2232H is within ±2 % of a 0.001 MHz clock"
