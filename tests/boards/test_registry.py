"""Board descriptions and 'hetflow boards'."""

import json

import pytest

from hetflow.boards.errors import BoardNotFound
from hetflow.boards.registry import board_names, boards, get_board
from hetflow.cli import main


def test_boards_are_described_through_amaranth_boards():
    assert board_names()[:3] == ["icebreaker", "ulx3s-85f", "orangecrab"]
    ice = get_board("icebreaker")
    assert (ice.device, ice.lut, ice.dsp, ice.spram, ice.clock_mhz) == ("iCE40UP5K", 5280, 8, 4, 12.0)
    ulx = get_board("ulx3s-85f")
    assert (ulx.device, ulx.dsp, ulx.bram) == ("LFE5U-85F", 156, 208)
    for b in boards():
        if b.available:
            platform = b.make_platform()
            part = platform.part if b.family == "gowin" else platform.device
            assert part == b.device
            # Every board has the UART the host bridge uses.
            assert platform.lookup("uart", 0) is not None


def test_unknown_board():
    with pytest.raises(BoardNotFound) as e:
        get_board("de10-nano")
    assert str(e.value) == ("unknown board 'de10-nano'; boards are: icebreaker, ulx3s-85f, "
                            "orangecrab, tangnano9k")


def test_cli_boards_json(capsys):
    assert main(["boards", "--json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    by_name = {b["name"]: b for b in infos}
    assert by_name["icebreaker"]["resources"]["dsp"] == 8
    assert by_name["icebreaker"]["program"]["args"] == ["-b", "ice40_generic"]
    assert by_name["ulx3s-85f"]["memory"] == {"kind": "bram", "bytes": 65536}
    assert by_name["icebreaker"]["toolchain"] == "yowasp: ok"
    # The USB-UART the host reaches the bridge through, and the build's default baud rate.
    assert {n: (b["usb_uart"]["chip"], b["usb_uart"]["max_baud"], b["usb_uart"]["on_board"],
                b["usb_uart"]["default_baud"]) for n, b in by_name.items()} == {
        "icebreaker": ("FT2232H", 12_000_000, True, 3_000_000),
        "ulx3s-85f": ("FT231X", 3_000_000, True, 1_500_000),
        "orangecrab": ("FT232R", 3_000_000, False, 3_000_000),
        "tangnano9k": ("BL702", 3_000_000, True, 3_000_000)}


def test_cli_boards_table(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    assert "iCE40UP5K" in out and "LFE5U-85F" in out and "GW1NR" in out
    assert "FT2232H (12,000,000)" in out and "FT232R (ext.) (3,000,000)" in out
    assert "1,500,000" in out
