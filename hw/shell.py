"""The kernel shell: one contract for every accelerator kernel.

``Shell(Saxpy, lanes=2)`` is an ``amaranth.lib.wiring.Component`` with

* ``csr``: the register bus (:class:`~hetflow.hw.csr.CSRSignature`);
* one ``amaranth.lib.stream`` interface per input and output port, as the
  kernel's core has them.

Inside, a :class:`~hetflow.hw.regbank.RegisterBank` generated from the
kernel's :class:`~hetflow.hw.regmap.RegisterMap` implements the common
registers (start, busy/done, length, cycle counter, id) and holds the
kernel's own; the kernel's core (``Saxpy.core``, a
:class:`~hetflow.hw.core.KernelCore`) is a submodule, joined to the bank
through its :class:`~hetflow.hw.control.ControlSignature` and to the shell's
ports stream by stream, each with ``wiring.connect``.
"""

import gc
import traceback
import warnings

from amaranth.hdl import Fragment, Module, UnusedElaboratable
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .contract import validate_kernel_class
from .core import stream_members
from .csr import CSRSignature
from .errors import ElaborationError
from .regbank import RegisterBank
from .source import class_location, raise_site

__all__ = ["Shell"]


class Shell(wiring.Component):
    """A kernel's core behind the standard register bank.

    Parameters
    ----------
    kernel_cls : type
        The kernel's description, a :class:`~hetflow.hw.Kernel` subclass
        whose ``core`` is its hardware.
    **params
        Elaboration parameters, validated by ``kernel_cls.bind``.

    Attributes
    ----------
    kernel_cls : type
    name : str
        The kernel's name.
    p : Params
        The validated parameters.
    map : RegisterMap
        The register map the bank implements.
    in_ports, out_ports : tuple of Port
        The description's ports.
    core : KernelCore
        The kernel's core, a submodule once elaborated; a formal harness or a
        test may watch its members (``core.ctl.busy`` is the bank's ``busy``).
    """

    def __new__(cls, kernel_cls, **params):
        # The registry's check (done once per class): a class given here directly gets the
        # same one-line errors, its core among them, before anything is built.  Checked
        # before the object exists, so a refused shell leaves no unused elaboratable.
        validate_kernel_class(kernel_cls)
        kernel_cls.bind(**params)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, kernel_cls, **params):
        self.kernel_cls = kernel_cls
        self.name = kernel_cls.name
        self.p = kernel_cls.bind(**params)
        self.map = kernel_cls.memo("regmap", self.p)
        self.in_ports = kernel_cls.memo("inputs", self.p)
        self.out_ports = kernel_cls.memo("outputs", self.p)
        super().__init__({"csr": In(CSRSignature(self.map.addr_width)),
                          **stream_members(kernel_cls, self.p)})
        self._core = None

    @property
    def core(self):
        """The kernel's core, made on first use (a shell that is never elaborated makes none)."""
        if self._core is None:
            cls = self.kernel_cls
            self._core = self._guarded(lambda: cls.core(cls, **self.p))
        return self._core

    def _guarded(self, step):
        """``step()``, its errors turned into one line naming the kernel and its source line."""
        cls, core_cls = self.kernel_cls, self.kernel_cls.core
        try:
            return step()
        except Exception as exc:
            where = raise_site(exc, core_cls, cls) or class_location(core_cls)
            hint = ""
            if "array layout" in str(exc):
                # A core written for flat payloads (x.payload[16*i:16*(i+1)].as_signed()).
                hint = ("; stream payloads are data.ArrayLayout views of the port's dtype: "
                        "write payload[i] for lane i (already typed) instead of slicing bits, "
                        "or payload.as_value() for the flat bits")
            error = ElaborationError(f"{where}: kernel '{cls.name}' ({core_cls.__qualname__}) "
                                     f"failed to elaborate: {type(exc).__name__}: {exc}{hint}")
            # The half-built Module in the core's frame is dropped on purpose: free it now
            # (it sits in a reference cycle, hence the collection), so that Amaranth's
            # "created but never used" warning does not follow the error.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnusedElaboratable)
                traceback.clear_frames(exc.__traceback__)
                gc.collect()
            raise error from exc

    def elaborate(self, platform):
        # The core is elaborated here, not by Amaranth later, so that its errors name the
        # kernel and the line of its source that raised.
        core = self.core
        fragment = self._guarded(lambda: Fragment.get(core, platform))
        m = Module()
        m.submodules.core = fragment
        # Made once the core has elaborated: a core that fails leaves nothing unused behind.
        m.submodules.regs = bank = RegisterBank(self.map)
        wiring.connect(m, wiring.flipped(self.csr), bank.csr)
        wiring.connect(m, bank.ctl, core.ctl)
        for port in (*self.in_ports, *self.out_ports):
            wiring.connect(m, wiring.flipped(getattr(self, port.name)), getattr(core, port.name))
        return m
