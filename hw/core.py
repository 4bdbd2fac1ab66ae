"""A kernel's hardware: the core, a Component of its own.

A core is a subclass of :class:`KernelCore` that implements ``elaborate``.
Its signature comes from the kernel's description:

* ``ctl``: ``In(ControlSignature)``, the job's control (see
  :mod:`hetflow.hw.control` for when ``start``, ``busy`` and ``finish`` rise
  and fall) and the registers, typed as declared (``self.ctl.regs.a``);
* one ``amaranth.lib.stream`` interface per port, ``In`` for inputs and
  ``Out`` for outputs, named as the port, whose payload is a
  ``data.ArrayLayout`` of the port's dtype: ``self.x.payload[i]`` is lane
  ``i``, typed.

The shell (:class:`~hetflow.hw.shell.Shell`) connects a core to its register
bank and to the board's streams; a test or a formal harness can instantiate
the core alone, ``SaxpyCore(Saxpy, lanes=2)``, and drive those members itself.
"""

from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .control import ControlSignature
from .errors import ParamError

__all__ = ["KernelCore", "RESERVED_NAMES", "stream_members"]

#: Member names of the core and the shell that no port may take.
RESERVED_NAMES = {"ctl": "the core's control interface", "csr": "the shell's register bus"}


def stream_members(kernel_cls, p):
    """``{port name: In/Out(stream.Signature(port.layout))}`` for a kernel's ports."""
    members = {}
    ports = [(port, In) for port in kernel_cls.memo("inputs", p)]
    ports += [(port, Out) for port in kernel_cls.memo("outputs", p)]
    for port, flow in ports:
        if port.name in RESERVED_NAMES:
            raise ParamError(f"{kernel_cls.name}: a port cannot be named '{port.name}'; "
                             f"{RESERVED_NAMES[port.name]} has that name")
        if port.name in members:
            raise ParamError(f"{kernel_cls.name}: port name {port.name!r} is used twice")
        members[port.name] = flow(stream.Signature(port.layout))
    return members


class KernelCore(wiring.Component):
    """Base class of a kernel's hardware.

    Parameters
    ----------
    kernel_cls : type
        The kernel's description, a :class:`~hetflow.hw.Kernel` subclass.
    **params
        Elaboration parameters, validated by ``kernel_cls.bind``.

    Attributes
    ----------
    kernel_cls : type
    p : Params
        The validated parameters (``self.p.lanes``).
    ctl : In(ControlSignature)
        Start, busy, finish, length and the kernel's registers.
    <port> : In/Out(stream.Signature)
        One per port of the description.
    """

    def __init__(self, kernel_cls, **params):
        self.kernel_cls = kernel_cls
        self.p = kernel_cls.bind(**params)
        super().__init__({"ctl": In(ControlSignature(kernel_cls.memo("regmap", self.p))),
                          **stream_members(kernel_cls, self.p)})

    def elaborate(self, platform):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement elaborate()")
