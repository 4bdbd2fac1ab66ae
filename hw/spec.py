"""Kernel metadata as data: parameters, stream ports, runtime registers.

These small records describe a kernel to the rest of the flow (the bench, the
host runtime, the register-map exporters, the CLI) without elaborating any
hardware.
"""

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from .errors import ParamError

__all__ = ["Param", "Port", "Register"]


@dataclass(frozen=True)
class Param:
    """An elaboration-time parameter with an inclusive integer range.

    Parameters
    ----------
    name : str
        Keyword used in ``Kernel(name=value)`` and ``--param name=value``.
    default : int
        Value used when the parameter is not given.
    min, max : int
        Inclusive bounds.
    doc : str
        One line shown by ``hetflow kernels``.
    choices : tuple of int, optional
        If given, only these values are allowed (they must lie in range).
    """

    name: str
    default: int
    min: int
    max: int
    doc: str = ""
    choices: tuple = ()

    def allowed(self):
        """Human-readable description of the allowed values."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        return f"{self.min}..{self.max}"

    def validate(self, kernel_name, value):
        """Return ``value`` as an int, or raise :class:`ParamError`."""
        if isinstance(value, str):
            try:
                value = int(value, 0)
            except ValueError:
                raise ParamError(
                    f"{kernel_name}: parameter '{self.name}' = {value!r} is not an integer; "
                    f"allowed {self.allowed()}") from None
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ParamError(
                f"{kernel_name}: parameter '{self.name}' = {value!r} is not an integer; "
                f"allowed {self.allowed()}")
        value = int(value)
        if self.choices and value not in self.choices or not self.min <= value <= self.max:
            raise ParamError(
                f"{kernel_name}: parameter '{self.name}' = {value} is out of range; "
                f"allowed {self.allowed()}")
        return value


@dataclass(frozen=True)
class Port:
    """A stream port of a kernel.

    Each stream transfer (a *beat*) carries ``lanes`` elements of ``dtype``,
    element ``i`` in bits ``[i*bits, (i+1)*bits)`` of the payload, two's
    complement for signed types.
    """

    name: str
    dtype: str
    lanes: int = 1
    doc: str = ""

    @property
    def np_dtype(self):
        return np.dtype(self.dtype)

    @property
    def bits(self):
        """Width of one element in bits."""
        return self.np_dtype.itemsize * 8

    @property
    def signed(self):
        return self.np_dtype.kind == "i"

    @property
    def width(self):
        """Width of the stream payload in bits."""
        return self.bits * self.lanes

    @property
    def shape(self):
        """The Amaranth shape of one element: ``signed(16)`` for int16."""
        return signed(self.bits) if self.signed else unsigned(self.bits)

    @property
    def layout(self):
        """The stream payload's layout: ``data.ArrayLayout(shape, lanes)``.

        Element ``i`` is ``payload[i]``, typed; the bits are those the host
        packs (element ``i`` in bits ``[i*bits, (i+1)*bits)``).
        """
        return data.ArrayLayout(self.shape, self.lanes)

    def beats(self, elements):
        """Number of beats that carry ``elements`` elements."""
        return -(-int(elements) // self.lanes)


@dataclass(frozen=True)
class Register:
    """A 32-bit control/status register, or an array of ``count`` of them.

    ``array`` says whether the host passes a list/array (of ``count`` values)
    or one integer; it defaults to ``count > 1``, and a kernel whose array
    length is a parameter sets it so that a length of 1 is still an array.
    ``access`` is ``"rw"`` for host-written parameters, ``"ro"`` for status
    and ``"wo"`` for strobes.  ``signed`` says how the host should interpret
    the low ``bits`` bits of the value.
    """

    name: str
    offset: int = 0
    count: int = 1
    bits: int = 32
    signed: bool = False
    access: str = "rw"
    doc: str = ""
    fields: tuple = field(default=())
    array: bool = None

    def __post_init__(self):
        if self.array is None:
            object.__setattr__(self, "array", self.count > 1)

    @property
    def limits(self):
        """``(lowest, highest)`` value of one word, as its ``bits`` and ``signed`` say."""
        if self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1

    @property
    def size(self):
        """Size of the register block in bytes."""
        return 4 * self.count
