"""UART gateware: an 8N1 receiver and transmitter with stream interfaces.

The serial backend drives the board SoC from the host over a UART; the frame
bridge sees bytes as two :mod:`amaranth.lib.stream` ports of 8-bit payload
(:class:`UART` / :class:`UARTPins` ``out`` for received bytes, ``inp`` for
bytes to send), so it connects with :func:`amaranth.lib.wiring.connect`.

Line format (8N1)
-----------------
The line idles high.  A frame is one start bit (0), eight data bits, least
significant first, and one stop bit (1); every bit lasts ``divisor`` cycles of
the ``sync`` clock, so ``divisor = clk_hz / baud`` (:func:`divisor_for`).

Receiver timing
---------------
The ``rx`` pin is asynchronous to the clock, so it first goes through two
flip-flops (:class:`~amaranth.lib.cdc.FFSynchronizer`); the two cycles of
latency are the same for every edge and do not matter.  The receiver then:

1. waits for a falling edge of the line (the start of the start bit);
2. re-checks the line ``divisor // 2`` cycles later, in the middle of the
   start bit: if it is high again, the edge was a glitch and the receiver goes
   back to waiting (a low pulse of up to ``divisor // 2`` cycles, half a bit,
   is never taken for a start bit);
3. samples each data bit and the stop bit one ``divisor`` after the previous
   sample, i.e. in the middle of each bit as the *receiver* counts time;
4. in the middle of the stop bit, presents the byte if the stop bit is 1.  A
   stop bit of 0 is a *framing error*: the byte is dropped, ``framing_errors``
   counts it (where the receiver is built with counters: ``counter_width``),
   and the receiver hunts again; as it hunts for a falling edge, it
   waits for the line to go high first, so a held-low line (a *break*) counts
   once.

Sampling in the middle of the bit is what makes the link tolerate a baud rate
mismatch: everything is timed from one edge per frame, and the last sample
(the stop bit, 9.5 bits after the edge) may drift by almost half a bit before
it lands in a neighbouring bit.  With ``h = divisor // 2`` and up to one cycle
of uncertainty in seeing the edge, a sender whose bit lasts ``T`` cycles is
decoded while ``(h + 1 + 9 * divisor) / 10 < T <= divisor + h / 9``:

========= ======================= =========================
divisor   sender may be faster by sender may be slower by
========= ======================= =========================
4         2.5 %                   5.6 %
7         4.3 %                   4.8 %
16        4.4 %                   5.6 %
large     5 %                     5.6 %
========= ======================= =========================

So at ``divisor >= 16`` the link takes about ±4 % between the two ends' baud
rates; at small divisors the one-cycle uncertainty of the edge is a larger part
of a bit and the window shrinks.  :func:`divisor_for` keeps the rounding error
of the divisor itself within 2 %, half the window, and leaves the rest for the
other end (a USB-serial adapter has its own divisor error) and the crystals.
Divisors below 4 are refused: there, one cycle of edge uncertainty is a
quarter of a bit or more.

A received byte is presented on ``out`` until it is taken (``valid`` and
``ready`` high in the same cycle).  If the next byte completes while it still
has not been taken, the *new* byte is dropped and ``overrun`` counts it; the
consumer must therefore take a byte within one frame time (``10 * divisor``
cycles) to lose nothing.

Neither side counts bits: a marker bit in each shift register, behind the
data on receive and above the stop bit on transmit, says when a frame's bits
are all in or all out.

Transmitter timing
------------------
The transmitter takes a byte from ``inp`` when it is idle, or in the last
cycle of the stop bit of the byte it is sending, so a stream of bytes leaves
back to back, one frame every ``10 * divisor`` cycles with no idle gap.  ``tx``
is a register (no glitches on the pin) that idles high.
"""

import math
import numbers

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import io, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ..hw.errors import ParamError

__all__ = ["UARTReceiver", "UARTTransmitter", "UART", "UARTPins", "divisor_for",
           "MIN_DIVISOR", "MAX_BAUD_ERROR"]

#: Fewest clock cycles per bit the receiver accepts (see the module doc).
MIN_DIVISOR = 4
#: Largest divisor rounding error, in percent, :func:`divisor_for` accepts.
MAX_BAUD_ERROR = 2.0


def _fmt(x):
    """A number as a user wrote it: ``12000000``, ``115200``, ``12.5``."""
    return str(int(x)) if float(x).is_integer() else f"{x:.10g}"


def _check_positive(what, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        raise ParamError(f"UART {what} must be a positive number, got {value!r}")


def divisor_for(clk_hz, baud):
    """Clock cycles per bit for a baud rate: ``round(clk_hz / baud)``.

    Parameters
    ----------
    clk_hz : float
        Frequency of the ``sync`` clock the UART runs on, in Hz.
    baud : float
        Baud rate (bits per second).

    Returns
    -------
    int
        The divisor to pass to :class:`UART` (at least :data:`MIN_DIVISOR`).

    Raises
    ------
    ParamError
        If either value is not a positive number, if the divisor would be
        below :data:`MIN_DIVISOR`, or if the baud rate it gives is more than
        :data:`MAX_BAUD_ERROR` percent off the requested one.  The message
        names the values, the error, and baud rates that would work.
    """
    _check_positive("clock frequency (Hz)", clk_hz)
    _check_positive("baud rate", baud)
    divisor = round(clk_hz / baud)
    where = f"baud rate {_fmt(baud)} from a {clk_hz / 1e6:g} MHz clock"
    if divisor < MIN_DIVISOR:
        raise ParamError(
            f"{where}: divisor {divisor} is below the minimum of {MIN_DIVISOR} clock cycles "
            f"per bit; use a baud rate of at most {_fmt(clk_hz / MIN_DIVISOR)} "
            f"or a faster clock")
    error = (clk_hz / divisor - baud) / baud * 100
    if abs(error) > MAX_BAUD_ERROR:
        # Suggest the exact rates of the allowed divisors on either side of clk / baud.
        lo, hi = math.floor(clk_hz / baud), math.ceil(clk_hz / baud)
        near = " or ".join(_fmt(clk_hz / d) for d in sorted({lo, hi}) if d >= MIN_DIVISOR)
        raise ParamError(
            f"{where}: the nearest divisor {divisor} gives {_fmt(round(clk_hz / divisor))} "
            f"baud, {error:+.2f} % off (at most ±{MAX_BAUD_ERROR:g} % is safe for 8N1); "
            f"use a baud rate the clock divides evenly, e.g. {near}, or a lower baud rate")
    return divisor


def check_divisor(divisor):
    if isinstance(divisor, bool) or not isinstance(divisor, numbers.Integral):
        raise ParamError(f"UART divisor must be an integer number of clock cycles per bit, "
                         f"got {divisor!r}; divisor_for(clk_hz, baud) computes it")
    if divisor < MIN_DIVISOR:
        raise ParamError(f"UART divisor {divisor} is below the minimum of {MIN_DIVISOR} clock "
                         f"cycles per bit; use a lower baud rate or a faster clock")
    return int(divisor)


def _check_counter_width(width):
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 0:
        raise ParamError(f"UART counter_width must be a whole number of bits (0: no "
                         f"counters), got {width!r}")
    return int(width)


def _new_checked(cls, divisor, counter_width=8):
    """Create a UART component after checking its parameters.

    The components call this from ``__new__`` so that bad parameters are refused
    before Amaranth starts tracking the object: otherwise a caller who catches
    the :class:`ParamError` would also get an "UnusedElaboratable: created but
    never used" warning for the object that was never finished.
    """
    check_divisor(divisor)
    _check_counter_width(counter_width)
    # src_loc_at=2: skip this function and the component's __new__, so that the place
    # of creation Amaranth reports is the caller's line.
    return wiring.Component.__new__(cls, src_loc_at=2)


class UARTReceiver(wiring.Component):
    """8N1 receiver: line in, a stream of bytes out (timing in the module doc).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR` (:func:`divisor_for`).
    counter_width : int, optional
        Bits of the saturating error counters (default 8: they stop at 255; 0 builds
        none, and both stay 0-bit signals).

    Attributes
    ----------
    rx : Signal, in
        The line, straight from the pin (asynchronous; synchronised inside).
    out : stream, out
        Received bytes; each is held until taken.
    overrun : Signal(counter_width), out
        Bytes dropped because the previous one had not been taken (saturating).
    framing_errors : Signal(counter_width), out
        Frames dropped because their stop bit was 0 (saturating).
    """

    def __new__(cls, divisor, counter_width=8):
        return _new_checked(cls, divisor, counter_width)

    def __init__(self, divisor, counter_width=8):
        self.divisor = check_divisor(divisor)
        self.counter_width = _check_counter_width(counter_width)
        super().__init__({
            "rx": In(1, init=1),
            "out": Out(stream.Signature(8)),
            "overrun": Out(self.counter_width),
            "framing_errors": Out(self.counter_width),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)
        # The previous line level, for edge detection: a start bit begins at a 1 -> 0
        # transition, not merely at a low level (see the framing error below).
        prev = Signal(init=1)
        m.d.sync += prev.eq(line)

        timer = Signal(range(d))
        # The data bits come in at the top and shift down behind a marker bit set at the
        # start bit: the marker reaching bit 0 says all eight are in (no bit counter).
        shift = Signal(9)
        top = 2 ** self.counter_width - 1

        # The stream: the byte stays until taken; the delivery below overrides this.
        with m.If(self.out.ready):
            m.d.sync += self.out.valid.eq(0)

        with m.FSM():
            with m.State("HUNT"):
                with m.If(prev & ~line):
                    # This cycle is the first of the start bit: its middle is d // 2 later.
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "HUNT"                 # high again mid-bit: a glitch
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), shift.eq(1 << 8)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), timer.eq(d - 1)]
                    with m.If(shift[1]):                # the eighth data bit
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    # Back to hunting half a bit before the next start bit can begin.
                    m.next = "HUNT"
                    with m.If(self.out.valid & ~self.out.ready):
                        if self.counter_width:
                            with m.If(self.overrun != top):
                                m.d.sync += self.overrun.eq(self.overrun + 1)
                    with m.Else():
                        m.d.sync += [self.out.payload.eq(shift[1:]), self.out.valid.eq(1)]
                with m.Else():
                    if self.counter_width:
                        with m.If(self.framing_errors != top):
                            m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                    # A low stop bit may be the start of a break.  HUNT waits for a
                    # falling edge, i.e. for the line to go high first, so a held-low
                    # line is one error, not a string of 0x00 frames.
                    m.next = "HUNT"
        return m


class UARTTransmitter(wiring.Component):
    """8N1 transmitter: a stream of bytes in, the line out (timing in the module doc).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR` (:func:`divisor_for`).

    Attributes
    ----------
    inp : stream, in
        Bytes to send; one is taken when the previous frame's stop bit ends.
    tx : Signal, out
        The line (registered; idles high).
    """

    def __new__(cls, divisor):
        return _new_checked(cls, divisor)

    def __init__(self, divisor):
        self.divisor = check_divisor(divisor)
        super().__init__({
            "inp": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        # The bits after the one on the line (data bits, then the stop bit) above a marker
        # bit: the marker is the last bit to reach the line (high, as the line idles), and
        # the register is empty, the transmitter idle, once it has.  Zero tests on the
        # register take the place of a bit counter.
        rest = Signal(10)
        on_stop_bit = (rest[1:] == 0) & rest[0]

        # Ready when idle, or in the last cycle of the stop bit, so frames leave back to
        # back.  It depends only on state, never on ``valid`` (a stream rule).
        m.d.comb += self.inp.ready.eq((rest == 0) | (on_stop_bit & (timer == 0)))

        with m.If(self.inp.valid & self.inp.ready):
            m.d.sync += [self.tx.eq(0), rest.eq(Cat(self.inp.payload, 1, 1)),
                         timer.eq(d - 1)]
        with m.Elif(rest != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                # The next bit goes out; after the stop bit, the marker leaves the line high.
                m.d.sync += [self.tx.eq(rest[0]), rest.eq(rest >> 1), timer.eq(d - 1)]
        return m


class UART(wiring.Component):
    """An 8N1 receiver and transmitter sharing one divisor.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR`; :meth:`divisor_for`
        computes it from the clock and the baud rate.
    counter_width : int, optional
        Bits of the receiver's saturating error counters (default 8).

    Attributes
    ----------
    rx : Signal, in
        Receive line (asynchronous).
    tx : Signal, out
        Transmit line (idles high).
    out : stream, out
        Received bytes (:class:`UARTReceiver`).
    inp : stream, in
        Bytes to send (:class:`UARTTransmitter`).
    overrun, framing_errors : Signal(counter_width), out
        The receiver's error counters.
    """

    divisor_for = staticmethod(divisor_for)

    def __new__(cls, divisor, counter_width=8):
        return _new_checked(cls, divisor, counter_width)

    def __init__(self, divisor, counter_width=8):
        self.divisor = check_divisor(divisor)
        self.counter_width = _check_counter_width(counter_width)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "out": Out(stream.Signature(8)),
            "inp": In(stream.Signature(8)),
            "overrun": Out(self.counter_width),
            "framing_errors": Out(self.counter_width),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = rx = UARTReceiver(self.divisor, self.counter_width)
        m.submodules.transmitter = tx = UARTTransmitter(self.divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     self.overrun.eq(rx.overrun), self.framing_errors.eq(rx.framing_errors)]
        wiring.connect(m, wiring.flipped(self.out), rx.out)
        wiring.connect(m, wiring.flipped(self.inp), tx.inp)
        return m


class UARTPins(wiring.Component):
    """A :class:`UART` on the platform's UART resource.

    Requests ``platform.request(resource, number, dir="-")`` and puts plain
    (unregistered) I/O buffers on its ``rx`` and ``tx`` pins; the receiver
    synchronises ``rx`` itself.  Pin inversion declared by the board is
    handled by the buffers.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (:func:`divisor_for`).
    resource : str, optional
        Name of the platform resource (default ``"uart"``).
    number : int, optional
        Which one of that name (default 0).
    counter_width : int, optional
        Bits of the receiver's saturating error counters (default 0: none; a
        board's bridge reads no counters, its frames' CRC and the host's retries
        cover a bad line, and 16 counter bits cost some 30 logic cells).

    Attributes
    ----------
    out, inp, overrun, framing_errors
        As in :class:`UART`.
    """

    def __new__(cls, divisor, resource="uart", number=0, counter_width=0):
        return _new_checked(cls, divisor, counter_width)

    def __init__(self, divisor, resource="uart", number=0, counter_width=0):
        self.divisor = check_divisor(divisor)
        self.counter_width = _check_counter_width(counter_width)
        self.resource = resource
        self.number = number
        super().__init__({
            "out": Out(stream.Signature(8)),
            "inp": In(stream.Signature(8)),
            "overrun": Out(self.counter_width),
            "framing_errors": Out(self.counter_width),
        })

    def elaborate(self, platform):
        if platform is None:
            raise ParamError("UARTPins needs a platform with a UART resource; "
                             "simulate UART (which has rx/tx ports) instead")
        m = Module()
        pins = platform.request(self.resource, self.number, dir="-")
        m.submodules.rx_buffer = rx = io.Buffer("i", pins.rx)
        m.submodules.tx_buffer = tx = io.Buffer("o", pins.tx)
        m.submodules.uart = uart = UART(self.divisor, self.counter_width)
        m.d.comb += [uart.rx.eq(rx.i), tx.o.eq(uart.tx),
                     self.overrun.eq(uart.overrun),
                     self.framing_errors.eq(uart.framing_errors)]
        wiring.connect(m, wiring.flipped(self.out), uart.out)
        wiring.connect(m, wiring.flipped(self.inp), uart.inp)
        return m
