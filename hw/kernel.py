"""A kernel's description: everything the host and the flow know of it.

A kernel is a subclass of :class:`Kernel`.  The class is never instantiated:
its attributes and classmethods say what the kernel is (name, parameters,
stream ports, registers, golden model, verification cases) and how a call
becomes a job and back (``prepare``, ``collect``, ``split``,
``output_length``, ``sample_call``).  Its ``core`` attribute names the
hardware, a :class:`~hetflow.hw.core.KernelCore` subclass, which the shell
(:class:`~hetflow.hw.shell.Shell`) instantiates; nothing here builds any.
"""

from typing import NamedTuple

import numpy as np

from .errors import ParamError, StimulusError
from .job import Job
from .params import Params
from .regmap import RegisterMap
from .stimuli import random_ints

__all__ = ["Kernel"]


class CallShape(NamedTuple):
    """What checking a call of a kernel with given parameters takes (:meth:`Kernel.memo`)."""

    #: ``[(name, port, numpy dtype)]`` of the inputs, in port order.
    inputs: list
    #: The output names.
    outputs: list
    #: ``[(name, (register, lo, hi) or None)]`` in :attr:`Kernel.scalars` order (None: the
    #: scalar is not a register).
    scalars: list
    #: The input and scalar names as sets, which a call's dicts' keys are compared with.
    input_names: frozenset
    scalar_names: frozenset


_MEMO = {}


class Kernel:
    """Base class of every hetflow kernel's description.

    Subclasses set the class attributes and override the classmethods that
    describe the kernel; ``core`` is the class of its hardware.

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
    core : type
        The :class:`~hetflow.hw.core.KernelCore` subclass that builds the
        hardware; ``Shell(Saxpy, lanes=2)`` puts it in the standard shell,
        ``SaxpyCore(Saxpy, lanes=2)`` is the core alone.
    """

    name = None
    summary = ""
    params = ()
    scalars = ()
    core = None

    def __init__(self, **params):
        # Saxpy(lanes=2) reads like building the hardware; say where the hardware is.
        cls = type(self)
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        raise TypeError(f"{cls.__qualname__} is a kernel description and is not instantiated: "
                        f"the hardware in its shell is hetflow.hw.Shell({cls.__qualname__}"
                        f"{', ' + args if args else ''}), the core alone "
                        f"{cls.__qualname__}.core({cls.__qualname__}{', ' + args if args else ''})")

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
        """``cls.<what>(p)`` for ``what`` in inputs/outputs/registers/regmap/_call_shape,
        computed once.

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
        call = cls.memo("_call_shape", p)
        ports, outputs = call.inputs, call.outputs
        for name, arr in inputs.items():
            if arr.ndim != 1:
                raise StimulusError(f"{cls.name}: input '{name}' has shape {arr.shape}; "
                                    f"expected a 1-D array")
        first = ports[0][0]
        n = len(inputs[first])
        for name, _, _ in ports:
            if len(inputs[name]) != n:
                raise StimulusError(
                    f"{cls.name}: input '{name}' has {len(inputs[name])} elements but "
                    f"'{first}' has {n}; they must be equal")
        registers = {"len": n}
        registers.update(scalars)
        length = cls.output_length(p, n)
        return Job(registers=registers,
                   streams=inputs,                  # check_call's own dict
                   expect={name: length for name in outputs})

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
        call = cls.memo("_call_shape", p)
        shape, registers = call.inputs, call.scalars
        if inputs.keys() != call.input_names:
            names = [name for name, _, _ in shape]
            missing = [name for name in names if name not in inputs]
            extra = [name for name in inputs if name not in names]
            raise StimulusError(
                f"{cls.name}: inputs are {', '.join(names)}; "
                + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"))
        checked = {}
        for name, port, dtype in shape:
            arr = inputs[name]
            if not isinstance(arr, np.ndarray):
                what = f"a NumPy scalar ({arr.dtype})" if isinstance(arr, np.generic) \
                    else type(arr).__name__
                raise StimulusError(
                    f"{cls.name}: input '{name}' must be a numpy array of {port.dtype}, "
                    f"not {what}")
            if arr.dtype != dtype:
                raise StimulusError(
                    f"{cls.name}: input '{name}' has dtype {arr.dtype}; expected {port.dtype} "
                    f"(convert with .astype(np.{port.dtype}))")
            checked[name] = arr
        if scalars.keys() != call.scalar_names:
            missing = [s for s in cls.scalars if s not in scalars]
            extra = [s for s in scalars if s not in cls.scalars]
            allowed = ", ".join(cls.scalars) if cls.scalars else "none"
            raise StimulusError(
                f"{cls.name}: runtime scalars are: {allowed}; "
                + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"))
        values = {}
        for name, found in registers:
            value = scalars[name]
            if found is None:
                values[name] = value
            else:
                reg, lo, hi = found
                # the usual case first: a Python int that fits a plain register
                values[name] = value if type(value) is int and not reg.array \
                    and lo <= value <= hi else cls._check_scalar(reg, value)
        return checked, values

    @classmethod
    def shape_decides(cls):
        """Whether a call's shape decides its checks and job: true for a kernel that keeps
        the default :meth:`check_call`, :meth:`prepare`, :meth:`split` and :meth:`collect`.

        Two calls whose arrays have the same types, dtypes, shapes and strides and whose
        scalars have the same names then pass the same checks, but for the scalars'
        values (:meth:`scalar_limits`), and make jobs that differ only in the arrays'
        data and those values (a device's repeat calls, :mod:`hetflow.handle`).
        """
        return all(getattr(cls, name).__func__ is getattr(Kernel, name).__func__
                   for name in ("check_call", "prepare", "split", "collect"))

    @classmethod
    def scalar_limits(cls, p):
        """``{name: (lo, hi)}`` of each scalar that is a plain register word: a plain
        ``int`` in that range passes :meth:`check_call` as it is."""
        return {name: found[1:] for name, found in cls.memo("_call_shape", p).scalars
                if found is not None and not found[0].array}

    @classmethod
    def _call_shape(cls, p):
        """What checking a call takes, for :meth:`memo`: a :class:`CallShape`."""
        regmap = cls.memo("regmap", p)
        scalars = [(name, (regmap[name], *regmap[name].limits) if name in regmap else None)
                   for name in cls.scalars]
        inputs = [(port.name, port, port.np_dtype) for port in cls.memo("inputs", p)]
        return CallShape(inputs, [port.name for port in cls.memo("outputs", p)], scalars,
                         frozenset(name for name, _, _ in inputs), frozenset(cls.scalars))

    @classmethod
    def _check_scalar(cls, reg, value):
        """A scalar that is not a plain int in range (:meth:`check_call` takes those), checked."""
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
