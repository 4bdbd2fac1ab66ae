"""The kernel shell: one contract for every accelerator kernel.

A kernel is a subclass of :class:`Kernel`.  The class itself is the kernel's
description (name, parameters, ports, registers, golden model); an instance,
``Saxpy(lanes=2)``, is an ``amaranth.lib.wiring.Component`` with

* ``csr``: the register bus (:class:`~hetflow.hw.csr.CSRSignature`), decoded
  by the shell from the kernel's :class:`~hetflow.hw.regmap.RegisterMap`;
* one ``amaranth.lib.stream`` interface per input and output port.

The shell's :class:`~hetflow.hw.regbank.RegisterBank`, generated from the
register map, implements the common registers (start, busy/done, length,
cycle counter, id) and holds the kernel's own.  A subclass implements
:meth:`Kernel.elaborate_core`, which receives a :class:`Control` with the
start pulse, the register values and a ``finish`` strobe to raise when the
job is complete.  Stream payloads are ``data.ArrayLayout`` views of the
port's dtype: ``self.x.payload[i]`` is lane ``i``, typed.
"""

import numpy as np
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .csr import CSRSignature
from .contract import class_location, raise_site
from .errors import ElaborationError, ParamError, StimulusError
from .job import Job
from .regbank import RegisterBank, register_layout
from .regmap import RegisterMap
from .stimuli import random_ints

__all__ = ["Kernel", "Control", "Params"]


_MEMO = {}


class Params(dict):
    """Validated elaboration parameters; also readable as attributes.

    A ``Params`` is the identity of a kernel configuration: the runtime, the
    simulated boards and the shell's own memo key their caches on
    ``(kernel_cls, params)``.  Two ``Params`` are equal when they hold the same
    names and values in any order, and equal ones hash alike (values are the
    plain ints :meth:`Kernel.bind` makes, so ``numpy.int64(2)`` and ``"2"``
    give the key ``2`` gives).  It is read-only, since a key that changed after
    it was stored could never be found again; build a new one with
    ``Kernel.bind(**{**p, "name": value})``.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __hash__(self):
        # Sorted, so that insertion order (which dict equality ignores) cannot change it.
        return hash(tuple(sorted(self.items())))

    def __reduce__(self):
        # dict subclasses pickle and copy by filling an empty instance through
        # __setitem__, which is closed here; rebuild from a plain dict instead.
        return (type(self), (dict(self),))

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"Params are read-only (they key caches); make new ones with "
                        f"Kernel.bind(**{{**params, ...}}), not by changing {dict(self)}")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only


class Control:
    """What the shell hands to a kernel core.

    Attributes
    ----------
    start : Signal(1)
        One-cycle pulse when the host starts a job; reset job state on it.
    busy : Signal(1)
        High from the cycle after ``start`` until the cycle after ``finish``.
    finish : Signal(1)
        Drive high (combinationally, one cycle) when the job is complete.
    length : Signal(32)
        The ``len`` register.
    regs : dict of str to Signal or list of Signal
        Kernel registers, shaped as declared (signed where declared signed).
    """

    def __init__(self):
        self.start = Signal()
        self.busy = Signal()
        self.finish = Signal()
        self.length = Signal(32)
        self.regs = {}


class Kernel(wiring.Component):
    """Base class of every hetflow kernel.

    Subclasses set the class attributes and override the classmethods that
    describe the kernel, plus :meth:`elaborate_core` for the hardware.

    Class attributes
    ----------------
    name : str
        Registry name, e.g. ``"saxpy"``.
    summary : str
        One line shown by ``hetflow kernels``.
    params : tuple of Param
        Elaboration parameters.
    scalars : tuple of str
        Names of runtime scalars the caller passes as keywords (each is a
        kernel register of the same name unless :meth:`prepare` says otherwise).
    """

    name = None
    summary = ""
    params = ()
    scalars = ()

    # ---- description (no hardware needed) -------------------------------------------

    @classmethod
    def bind(cls, **kwargs):
        """Validate elaboration parameters, fill defaults, return :class:`Params`."""
        known = {p.name: p for p in cls.params}
        for key in kwargs:
            if key not in known:
                allowed = ", ".join(known) if known else "none"
                raise ParamError(f"{cls.name}: unknown parameter '{key}'; "
                                 f"parameters are: {allowed}")
        values = Params({p.name: p.validate(cls.name, kwargs.get(p.name, p.default))
                         for p in cls.params})
        cls.check_params(values)
        return values

    @classmethod
    def check_params(cls, p):
        """Check combinations of parameters; raise :class:`ParamError`."""

    @classmethod
    def inputs(cls, p):
        """Input :class:`~hetflow.hw.spec.Port` tuple for parameters ``p``."""
        raise NotImplementedError

    @classmethod
    def outputs(cls, p):
        """Output :class:`~hetflow.hw.spec.Port` tuple for parameters ``p``."""
        raise NotImplementedError

    @classmethod
    def registers(cls, p):
        """Kernel-specific :class:`~hetflow.hw.spec.Register` tuple."""
        return ()

    @classmethod
    def memo(cls, what, p):
        """``cls.<what>(p)`` for ``what`` in inputs/outputs/registers/regmap, computed once.

        Ports and register maps are immutable and depend only on the
        parameters; the host runtime asks for them on every call, so they are
        kept per (class, parameters).
        """
        key = (cls, what, p if isinstance(p, Params) else Params(p))
        try:
            return _MEMO[key]
        except KeyError:
            value = _MEMO[key] = getattr(cls, what)(p)
            return value

    @classmethod
    def regmap(cls, p):
        return RegisterMap(cls.name, cls.registers(p))

    @classmethod
    def golden(cls, p, inputs, scalars):
        """The golden model: exact hardware semantics, on NumPy arrays.

        Parameters
        ----------
        p : Params
        inputs : dict of str to numpy.ndarray
        scalars : dict of str to int or numpy.ndarray

        Returns
        -------
        dict of str to numpy.ndarray
        """
        raise NotImplementedError

    @classmethod
    def prepare(cls, p, inputs, scalars):
        """Turn a call into a :class:`~hetflow.hw.job.Job`.

        The default suits element-wise kernels: every input is a 1-D array of
        the same length, ``len`` is that length, each scalar is written to the
        register of the same name, and every output has :meth:`output_length`
        elements.
        """
        inputs, scalars = cls.check_call(p, inputs, scalars)
        ports = cls.memo("inputs", p)
        for name, arr in inputs.items():
            if arr.ndim != 1:
                raise StimulusError(f"{cls.name}: input '{name}' has shape {arr.shape}; "
                                    f"expected a 1-D array")
        lengths = {port.name: len(inputs[port.name]) for port in ports}
        n = lengths[ports[0].name]
        for name, length in lengths.items():
            if length != n:
                raise StimulusError(
                    f"{cls.name}: input '{name}' has {length} elements but "
                    f"'{ports[0].name}' has {n}; they must be equal")
        registers = {"len": n}
        registers.update(scalars)
        return Job(registers=registers,
                   streams=dict(inputs),
                   expect={port.name: cls.output_length(p, n) for port in cls.memo("outputs", p)})

    @classmethod
    def split(cls, p, inputs, scalars):
        """Split a call larger than the hardware takes into tile-sized calls.

        Returns ``(calls, merge)``: a list of ``(inputs, scalars)`` each
        acceptable to :meth:`prepare`, and a function that merges their output
        dicts (in order) into the call's result.  The default is one call.
        Raise :class:`StimulusError` for whole-call shape errors.
        """
        return [(inputs, scalars)], lambda outputs: outputs[0]

    @classmethod
    def split_elements(cls, p, inputs, scalars, n):
        """Cut a 1-D call into calls of at most ``n`` input elements, or return None.

        Used when a call does not fit a board's memory.  Returns ``(calls,
        merge)`` as :meth:`split` does, or None (the default) when the kernel's
        result cannot be put together from pieces.
        """
        return None

    @classmethod
    def model(cls, p, inputs, scalars):
        """The whole (untiled) call computed on the CPU; the golden model by default."""
        return cls.golden(p, inputs, scalars)

    @classmethod
    def output_length(cls, p, n):
        """Elements each output produces for a job of ``n`` (default: ``n``)."""
        return n

    @classmethod
    def work(cls, p, job):
        """Amount of work in a job and its unit, for throughput figures.

        The default is the ``len`` register counted in elements.
        """
        return job.registers["len"], "element"

    @classmethod
    def collect(cls, p, job, streams):
        """Turn output element streams back into the call's result arrays."""
        return {name: np.asarray(streams[name])[:job.expect[name]] for name in job.expect}

    @classmethod
    def check_call(cls, p, inputs, scalars):
        """Check names, dtypes and ranges of a call's arrays and scalars.

        Returns the inputs as NumPy arrays and the scalars as register values.
        """
        ports = {port.name: port for port in cls.memo("inputs", p)}
        missing = [name for name in ports if name not in inputs]
        extra = [name for name in inputs if name not in ports]
        if missing or extra:
            raise StimulusError(
                f"{cls.name}: inputs are {', '.join(ports)}; "
                + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"))
        checked = {}
        for name, port in ports.items():
            arr = inputs[name]
            if not isinstance(arr, np.ndarray):
                what = f"a NumPy scalar ({arr.dtype})" if isinstance(arr, np.generic) \
                    else type(arr).__name__
                raise StimulusError(
                    f"{cls.name}: input '{name}' must be a numpy array of {port.dtype}, "
                    f"not {what}")
            if arr.dtype != port.np_dtype:
                raise StimulusError(
                    f"{cls.name}: input '{name}' has dtype {arr.dtype}; expected {port.dtype} "
                    f"(convert with .astype(np.{port.dtype}))")
            checked[name] = arr
        missing = [s for s in cls.scalars if s not in scalars]
        extra = [s for s in scalars if s not in cls.scalars]
        if missing or extra:
            allowed = ", ".join(cls.scalars) if cls.scalars else "none"
            raise StimulusError(
                f"{cls.name}: runtime scalars are: {allowed}; "
                + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"))
        regmap = cls.memo("regmap", p)
        values = {}
        for name in cls.scalars:
            values[name] = cls._check_scalar(regmap[name], scalars[name]) if name in regmap \
                else scalars[name]
        return checked, values

    @classmethod
    def _check_scalar(cls, reg, value):
        lo, hi = reg.limits
        kind = f"int{reg.bits}" if reg.signed else f"uint{reg.bits}"
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu" and arr.dtype != np.bool_:
            raise StimulusError(f"{cls.name}: scalar '{reg.name}' must be an integer "
                                f"({kind}), not {arr.dtype}")
        expected = (reg.count,) if reg.array else ()
        if arr.shape != expected:
            raise StimulusError(
                f"{cls.name}: scalar '{reg.name}' must have shape {expected}, not {arr.shape}")
        flat = [int(v) for v in arr.reshape(-1)]
        for v in flat:
            if not lo <= v <= hi:
                raise StimulusError(f"{cls.name}: scalar '{reg.name}' = {v} does not fit "
                                    f"{kind} ({lo}..{hi})")
        return flat if reg.array else flat[0]

    @classmethod
    def cases(cls, p, rng, count):
        """Stimuli for verification: a list of ``(inputs, scalars)``.

        Edge cases come first (shortest job, extreme values, a long job), then
        random ones; ``count`` bounds the total.
        """
        raise NotImplementedError

    #: Units of work of the calls ``hetflow calibrate`` times by default.
    calibration_sizes = (4096, 16384, 65536, 262144)

    @classmethod
    def sample_call(cls, p, rng, n, index=0):
        """A random call with about ``n`` units of work: ``(inputs, scalars)``.

        ``hetflow calibrate`` and the benchmarks time these; ``index`` counts
        the calls of one calibration, for kernels that vary their shape.  The
        default suits 1-D kernels: every input ``n`` elements of its dtype,
        every scalar random within its register (a list for an array).
        """
        n = max(int(n), 1)
        inputs = {port.name: random_ints(rng, port.np_dtype, n, edge=0)
                  for port in cls.memo("inputs", p)}
        regmap = cls.memo("regmap", p)
        scalars = {}
        for name in cls.scalars:
            reg = regmap[name]
            lo, hi = reg.limits
            values = rng.integers(lo, hi, reg.count, dtype=np.int64, endpoint=True)
            scalars[name] = values if reg.array else int(values[0])
        return inputs, scalars

    @classmethod
    def throughput(cls, p):
        """``(units per cycle, unit)`` of the datapath without stalls, ``(None, unit)`` if unknown.

        ``hetflow bench build`` multiplies it by the achieved Fmax.
        """
        return None, "element"

    @classmethod
    def describe(cls, p=None):
        """Metadata as a JSON-able dict (used by ``hetflow kernels --json``)."""
        p = cls.bind() if p is None else p
        return {
            "name": cls.name,
            "summary": cls.summary,
            "params": [{"name": q.name, "default": q.default, "min": q.min, "max": q.max,
                        "choices": list(q.choices), "doc": q.doc} for q in cls.params],
            "inputs": [{"name": port.name, "dtype": port.dtype, "lanes": port.lanes}
                       for port in cls.inputs(p)],
            "outputs": [{"name": port.name, "dtype": port.dtype, "lanes": port.lanes}
                        for port in cls.outputs(p)],
            "scalars": list(cls.scalars),
        }

    # ---- hardware ----------------------------------------------------------------------

    def __init__(self, **params):
        self.p = type(self).bind(**params)
        self.map = type(self).regmap(self.p)
        self.in_ports = type(self).inputs(self.p)
        self.out_ports = type(self).outputs(self.p)
        members = {"csr": In(CSRSignature(self.map.addr_width))}
        # Typed lanes: payload[i] is element i with the port's dtype (the same bits as a
        # flat vector, so the Verilog ports and the host packing are unchanged).
        for port in self.in_ports:
            members[port.name] = In(stream.Signature(port.layout))
        for port in self.out_ports:
            if port.name in members:
                raise ParamError(f"{self.name}: port name {port.name!r} is used twice")
            members[port.name] = Out(stream.Signature(port.layout))
        super().__init__(members)

    def elaborate_core(self, m, ctl):
        """Build the kernel's datapath into ``m``; see :class:`Control`."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        ctl = Control()
        # The core sees each register as declared: a typed value, a list for an array.
        layout = register_layout(self.map)
        regs = Signal(layout) if layout is not None else None
        for reg in self.map:
            if layout is not None and reg.name in layout.members:
                field = regs[reg.name]
                ctl.regs[reg.name] = [field[i] for i in range(reg.count)] if reg.array else field

        try:
            self.elaborate_core(m, ctl)
        except Exception as exc:
            # An error deep inside Amaranth says little about the user's kernel: name the
            # kernel and the line of its own source that was running.
            m._MustUse__silence = True   # the half-built module is dropped on purpose
            cls = type(self)
            where = raise_site(exc, cls) or class_location(cls)
            hint = ""
            if "array layout" in str(exc):
                # A core written for flat payloads (x.payload[16*i:16*(i+1)].as_signed()).
                hint = ("; stream payloads are data.ArrayLayout views of the port's dtype: "
                        "write payload[i] for lane i (already typed) instead of slicing bits, "
                        "or payload.as_value() for the flat bits")
            raise ElaborationError(f"{where}: kernel '{cls.name}' ({cls.__qualname__}) failed "
                                   f"to elaborate: {type(exc).__name__}: {exc}{hint}") from exc

        # The bank is made once the core has elaborated: a core that fails leaves nothing
        # unelaborated behind.
        m.submodules.regs = bank = RegisterBank(self.map)
        wiring.connect(m, wiring.flipped(self.csr), bank.csr)
        m.d.comb += [ctl.start.eq(bank.start), ctl.busy.eq(bank.busy),
                     ctl.length.eq(bank.length), bank.finish.eq(ctl.finish)]
        if regs is not None:
            m.d.comb += regs.eq(bank.regs)
        return m
