"""Checking a kernel's description before anything is built.

User kernels come from plug-ins and module paths; a mistake in one (a missing
golden model, a method that should be a classmethod, ``scalars = ("a")``, a
core that is not a :class:`~hetflow.hw.core.KernelCore`) must be reported as
one line naming the file and line, not as a traceback from deep inside the
flow.  The registry calls :func:`validate_kernel_class` once per class.

The rules for methods come from :class:`~hetflow.hw.Kernel` itself: an
override must be a classmethod where the base has one and accept the
arguments hetflow passes to the base's.
"""

import inspect

import numpy as np

from .core import RESERVED_NAMES, KernelCore
from .errors import KernelDefinitionError, ParamError
from .kernel import Kernel
from .source import class_location, member_location, raise_site
from .spec import Param, Port, Register

__all__ = ["validate_kernel_class"]

#: Classmethods with no default in :class:`Kernel`: name -> what they are.
REQUIRED = {"inputs": "the input ports", "outputs": "the output ports",
            "golden": "the NumPy golden model", "cases": "the verification stimuli"}

_CLASSMETHODS = tuple(name for name, value in vars(Kernel).items()
                      if isinstance(value, classmethod))
_validated = set()


def _definer(cls, attr):
    """The class of ``cls``'s MRO whose body defines ``attr``."""
    return next((klass for klass in cls.__mro__ if attr in klass.__dict__), None)


def _override_problem(cls, attr):
    """How ``cls``'s override of a :class:`Kernel` classmethod breaks its call, or None."""
    owner = _definer(cls, attr)
    raw = owner.__dict__[attr]
    base = inspect.signature(Kernel.__dict__[attr].__func__)
    expected = f"@classmethod {attr}{base}"
    where = f"{member_location(cls, owner, attr)}: {owner.__qualname__}.{attr}"
    if not isinstance(raw, classmethod):
        return f"{where} must be a {expected}"
    positional = [name for name, param in base.parameters.items()
                  if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)]
    try:
        inspect.signature(raw.__func__).bind(*positional)
    except TypeError:
        return (f"{where} takes {attr}{inspect.signature(raw.__func__)}; hetflow calls it as "
                f"{attr}{base}")
    except ValueError:   # no signature (a builtin): nothing to check
        pass
    return None


def _core_problem(cls, here):
    """What is wrong with ``cls.core`` (the hardware), or None."""
    legacy = _definer(cls, "elaborate_core")
    if legacy is not None:
        return (f"{member_location(cls, legacy, 'elaborate_core')}: "
                f"{legacy.__qualname__}.elaborate_core(m, ctl) is no longer called: move its "
                f"body into elaborate(self, platform) of a hetflow.hw.KernelCore subclass "
                f"(m = Module() ... return m; self.ctl for ctl, self.p and the ports as before) "
                f"and set core = that class")
    core = cls.core
    if not (isinstance(core, type) and issubclass(core, KernelCore)):
        return (f"{here}: {cls.__qualname__}.core = {core!r}; set core = a "
                f"hetflow.hw.KernelCore subclass whose elaborate() builds the hardware")
    if core.elaborate is KernelCore.elaborate:
        return (f"{class_location(core)}: {core.__qualname__} does not define "
                f"elaborate(self, platform), the hardware")
    return None


def _metadata_problem(cls, here):
    """Ports and registers must be computable for the default parameters, without hardware."""
    try:
        p = cls.bind()
    except ParamError as exc:
        return f"{here}: the default parameters of {cls.__qualname__} are invalid: {exc}"
    for attr, kind in (("inputs", Port), ("outputs", Port), ("registers", Register)):
        try:
            value = getattr(cls, attr)(p)
        except Exception as exc:
            return (f"{raise_site(exc, cls) or here}: {cls.__qualname__}.{attr}(p) raised "
                    f"{type(exc).__name__}: {exc} (default parameters {dict(p)})")
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, kind) for v in value):
            return (f"{here}: {cls.__qualname__}.{attr}(p) returned {value!r}; expected a tuple "
                    f"of {kind.__name__}")
        if attr == "outputs" and not value:
            return f"{here}: {cls.__qualname__}.outputs(p) returned no ports; a kernel has one or more"
        for port in value if kind is Port else ():
            if port.name in RESERVED_NAMES:
                return (f"{here}: {cls.__qualname__}.{attr}(p): a port cannot be named "
                        f"'{port.name}'; {RESERVED_NAMES[port.name]} has that name")
            try:
                ok = np.dtype(port.dtype).kind in "iu"
            except TypeError:
                ok = False
            if not ok:
                return (f"{here}: {cls.__qualname__}.{attr}(p): port '{port.name}' has dtype "
                        f"{port.dtype!r}; allowed integer dtypes such as int16 or uint8")
    return None


def _problem(cls):
    """The first way ``cls`` breaks the kernel contract, as one line; None if it keeps it."""
    here = class_location(cls)
    name = cls.name
    if not isinstance(name, str) or not name:
        return (f"{here}: class {cls.__qualname__} has no 'name'; set a class attribute such "
                f"as name = \"{cls.__name__.lower()}\"")
    if not name.replace("_", "a").isalnum() or not name[0].isalpha():
        return (f"{here}: class {cls.__qualname__} has name {name!r}; a kernel name is letters, "
                f"digits and '_', starting with a letter")
    for attr, kind in (("params", Param), ("scalars", str)):
        value = getattr(cls, attr)
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, kind) for v in value):
            return (f"{here}: {cls.__qualname__}.{attr} = {value!r} must be a tuple of "
                    f"{kind.__name__}" + (" (a one-element tuple needs a comma: (\"a\",))"
                                          if isinstance(value, str) else ""))
    for attr, what in REQUIRED.items():
        if _definer(cls, attr) is Kernel:
            return (f"{here}: class {cls.__qualname__} does not define {attr}() ({what}); "
                    f"every kernel defines name, core, {', '.join(REQUIRED)}")
    for attr in _CLASSMETHODS:
        problem = _definer(cls, attr) is not Kernel and _override_problem(cls, attr)
        if problem:
            return problem
    return _core_problem(cls, here) or _metadata_problem(cls, here)


def validate_kernel_class(cls, where=None):
    """Check that ``cls`` keeps the :class:`~hetflow.hw.Kernel` contract; return it.

    Checks, without building hardware: a ``name``; ``params`` and ``scalars``
    as tuples; that ``inputs``, ``outputs``, ``golden`` and ``cases`` are
    defined; that every classmethod it overrides is a classmethod taking the
    arguments hetflow passes; that ``core`` is a
    :class:`~hetflow.hw.core.KernelCore` subclass with an ``elaborate``; that
    the default parameters are valid and the ports and registers can be
    computed from them.  The registry runs this on every kernel it loads.

    Parameters
    ----------
    cls : type
        A :class:`~hetflow.hw.Kernel` subclass.
    where : str, optional
        How the caller named the kernel, prefixed to the message.

    Raises
    ------
    KernelDefinitionError
        One line: where the kernel was named, the file and line of the
        problem, and what is wrong.
    """
    if cls in _validated:
        return cls
    problem = _problem(cls)
    if problem:
        raise KernelDefinitionError(f"{where}: {problem}" if where else problem)
    _validated.add(cls)
    return cls
