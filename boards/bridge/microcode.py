"""The bridge executor's microcode: its word, a small assembler, and the sequencer that runs it.

Why microcode: the executor's control is a long, mostly straight sequence of
steps (a frame's bytes one by one, a few bus accesses, a response's bytes one
by one) that a state machine pays for in logic cells, one decoder per state
and per control signal.  Held in a spare block RAM instead, each step is one
word that *is* its control signals, so the logic left is the datapath and a
next-address unit of a few cells: the word names its successor (``next``),
or a branch target (``arg``) taken when its condition holds, or a jump table
(``arg`` plus the opcode's low four bits).  The constants a response carries
(``PING``'s fields, a response's length) are ``arg`` too, added to the
selected byte source, so they cost no multiplexer.

The block RAM's output register is the state: the next address goes straight
to its address port, and a word that must wait (for a frame, or for the
transmitter to take a byte) holds the RAM's output by dropping its read
enable.  Its first word, before the RAM's first read, is not known: it is
kept from acting (a flip-flop says so) and goes to address 0, where a frame
ends; unused words wait for a frame, then go there too.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ...hw.errors import ParamError
from .checks import Check, Span

__all__ = ["Access", "Act", "Cond", "Source", "Scan", "MicrowordLayout", "ConditionsLayout",
           "Program", "Sequencer"]

#: Address bits of the microprogram (one SB_RAM40_4K is 256 words of 16 bits).
ADDRESS_BITS = 8


class Access(enum.Enum, shape=4):
    """The host-bus access a word makes."""

    NONE = 0
    RESET = 1
    REG_ADDRESS = 2        # the register's address only: the write follows
    WRITE_A = 3            # A to the address set before
    REG_READ = 4
    DMA_ADDRESS = 5
    DMA_BEATS = 6
    MEM_WRITE = 7
    MEM_READ = 8
    KERNEL_STATUS = 9
    SOC_STATUS = 10


class Act(enum.Enum, shape=4):
    """The register a word loads (from the ring's byte, the bus, or a constant)."""

    NONE = 0
    RETRY = 1              # the flag byte; the length check starts over
    SEQ = 2
    SIZE_LOW = 3
    SIZE_HIGH = 4          # and the frame's end
    OPCODE = 5
    LENGTH_CHECK = 6       # payload length byte ``idx`` against the frame's
    CHANNEL = 7
    RUN_START = 8          # cycles 0, reason "budget"
    KERNEL_DONE = 9        # the design's done bit from the bus
    RUN_REASON = 10        # the reason from the done bits
    ANSWER = 11            # REG_READ's value from the bus
    DATA = 12              # MEM_READ's byte from the bus word
    FINISH = 13            # the frame is done: head and ring pointer to its end
    SIZE_IS = 14           # the request's size must be ``arg``
    SIZE_WITH_DATA = 15    # ... at least MEM_WRITE's fixed fields


class Cond(enum.Enum, shape=4):
    """What a word's next address depends on."""

    WAIT_FRAME = 0         # wait while no frame is committed, then ``next``
    NEVER = 1              # ``next``
    DISPATCH = 2           # ``arg`` + the opcode (0 for an unknown one)
    BAD = 3                # the checks (``check``) refuse the request; its status is kept
    RETRY = 4
    AT_END = 5             # the ring pointer is at the frame's end
    SHORT = 6              # no request header
    NO_RUN = 7             # RUN's budget is zero
    RUN_END = 8            # RUN is done or its budget spent
    LAST_BYTE = 9          # MEM_READ's last data byte (also flags it last)
    B_ZERO = 10            # field b is zero


class Source(enum.Enum, shape=3):
    """The byte a response word sends, before ``arg`` is added."""

    ZERO = 0               # ``arg`` alone: a constant
    SEQ = 1
    STATUS = 2             # the status kept by the last ``BAD`` word
    ANSWER = 3             # byte ``idx`` of the answer
    LENGTH = 4             # byte ``idx`` of MEM_READ's length
    DATA = 5
    REASON = 6


class Scan(enum.Enum, shape=3):
    """The byte-serial check a word steps."""

    NONE = 0
    FIELD = 1              # field a's byte ``idx`` against constants
    # Field b's byte ``idx``: b's zero test, and the memory range counted by the
    # :class:`~.checks.Span` in the low bits.
    RANGE_LENGTH = 4 | Span.LENGTH.value
    RANGE_DATA = 4 | Span.DATA.value
    RANGE_BEATS = 4 | Span.BEATS.value


class MicrowordLayout(data.StructLayout):
    """One microinstruction: the executor's control signals for a step."""

    def __init__(self):
        super().__init__({
            "cond": Cond, "arg": ADDRESS_BITS, "next": ADDRESS_BITS,
            "act": Act, "scan": Scan, "idx": 2,
            "next_byte": 1,        # the ring pointer to the next byte
            "shift": 1,            # the ring's byte into the fields
            "advance": 1,          # one memory byte moved
            "poll": 1,             # RUN's cycle count
            "access": Access,
            "emit": 1, "last": 1, "source": Source, "carry": 1,
            "check": Check,
        })


class ConditionsLayout(data.StructLayout):
    """The executor's branch conditions, one bit per :class:`Cond` that branches."""

    def __init__(self):
        super().__init__({c.name.lower(): 1 for c in Cond
                          if c not in (Cond.WAIT_FRAME, Cond.NEVER, Cond.DISPATCH)})


class Program:
    """A microprogram under construction: words placed in order, jumps by label.

    A word is given as keyword arguments of :class:`MicrowordLayout` (enum
    members for the enum fields); ``next`` and, for a branch, ``arg`` may be
    labels.  ``next`` defaults to the word placed after it, ``cond`` to ``NEVER``.
    """

    def __init__(self):
        self.words = {}
        self.labels = {}
        self.here = 0

    def label(self, name):
        """Name the address of the next word placed."""
        if name in self.labels:
            raise ParamError(f"microcode label {name!r} is defined twice")
        self.labels[name] = self.here

    def at(self, address):
        """Place the next words from ``address`` on."""
        self.here = address

    def word(self, **fields):
        """Place one word (fields of :class:`MicrowordLayout`, see the class doc)."""
        if self.here in self.words:
            raise ParamError(f"microcode address {self.here} is used twice")
        fields = {"cond": Cond.NEVER, "next": self.here + 1, **fields}
        self.words[self.here] = fields
        self.here += 1

    def resolve(self, value):
        """An address: a number, a label, or ``"LABEL+N"``."""
        if not isinstance(value, str):
            return value
        name, _, offset = value.partition("+")
        if name not in self.labels:
            raise ParamError(f"microcode label {name!r} is not defined")
        return self.labels[name] + int(offset or 0)

    def assemble(self):
        """The words as ``MicrowordLayout`` constants' field dicts, by address."""
        depth = 1 << ADDRESS_BITS
        if self.words and max(self.words) >= depth:
            raise ParamError(f"the microprogram needs {max(self.words) + 1} words; "
                             f"it has room for {depth}")
        image = [{"cond": Cond.WAIT_FRAME}] * depth      # unused words: wait, then 0
        for address, fields in self.words.items():
            word = dict(fields)
            word["next"] = self.resolve(word["next"]) % depth    # the last word's: 0
            word["arg"] = self.resolve(word.get("arg", 0))
            image[address] = word
        return image


class Sequencer(wiring.Component):
    """Runs a microprogram held in block RAM (see the module doc).

    Parameters
    ----------
    image : list of dict
        The words (:meth:`Program.assemble`).

    Members
    -------
    word : Out(MicrowordLayout())
        The word of this cycle.
    conds : In(ConditionsLayout())
        The branch conditions.
    opcode : In(4)
        The jump table's index for ``DISPATCH``.
    hold : In(1)
        Keep this word for another cycle (its effects are the executor's to hold).
    """

    def __init__(self, image):
        self.image = image
        super().__init__({"word": Out(MicrowordLayout()), "conds": In(ConditionsLayout()),
                          "opcode": In(4), "hold": In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = Memory(shape=MicrowordLayout(), depth=len(self.image),
                                        init=self.image)
        port = rom.read_port()
        word = port.data
        take = Signal()
        with m.Switch(word.cond):
            with m.Case(Cond.DISPATCH):
                m.d.comb += take.eq(1)
            for cond in Cond:
                if cond.name.lower() in self.conds.shape().members:
                    with m.Case(cond):
                        m.d.comb += take.eq(self.conds[cond.name.lower()])
        target = word.arg | Mux(word.cond == Cond.DISPATCH, self.opcode, 0)
        # The RAM's output register has no initial value: until its first read, its word
        # may make no access, send no byte, move no pointer, and goes to address 0.
        started = Signal()
        m.d.sync += started.eq(1)
        m.d.comb += [
            port.addr.eq(Mux(started, Mux(take, target, word.next), 0)),
            port.en.eq(~self.hold | ~started),
            self.word.eq(word),
            self.word.access.eq(Mux(started, word.access, Access.NONE)),
            self.word.emit.eq(word.emit & started),
            self.word.next_byte.eq(word.next_byte & started),
        ]
        return m
