"""Checking a kernel class against the :class:`~hetflow.hw.shell.Kernel` contract.

User kernels come from plugins and module paths; a mistake in one (a missing
golden model, a method that should be a classmethod, ``scalars = ("a")``)
must be reported as one line naming the file and line, not as a traceback
from deep inside the flow.  The registry calls :func:`validate_kernel_class`
once per class; the shell uses :func:`raise_site` to point elaboration errors
at the user's own source line.
"""

import inspect
import sysconfig
import traceback

import numpy as np

from .errors import KernelDefinitionError, ParamError
from .spec import Param, Port, Register

__all__ = ["validate_kernel_class", "class_location", "raise_site"]


#: Methods every kernel defines: name -> (kind, arguments after cls/self, what it is).
REQUIRED_METHODS = {
    "inputs": ("classmethod", ("p",), "the input ports"),
    "outputs": ("classmethod", ("p",), "the output ports"),
    "golden": ("classmethod", ("p", "inputs", "scalars"), "the NumPy golden model"),
    "cases": ("classmethod", ("p", "rng", "count"), "the verification stimuli"),
    "elaborate_core": ("method", ("m", "ctl"), "the hardware"),
}

#: Optional overrides whose call signature is checked when a kernel defines them.
OPTIONAL_METHODS = {
    "registers": ("classmethod", ("p",)),
    "check_params": ("classmethod", ("p",)),
    "prepare": ("classmethod", ("p", "inputs", "scalars")),
    "split": ("classmethod", ("p", "inputs", "scalars")),
    "model": ("classmethod", ("p", "inputs", "scalars")),
    "output_length": ("classmethod", ("p", "n")),
    "work": ("classmethod", ("p", "job")),
    "collect": ("classmethod", ("p", "job", "streams")),
}

_STDLIB = sysconfig.get_paths()["stdlib"]
_validated = set()


def _source_file(cls):
    try:
        return inspect.getsourcefile(cls) or inspect.getfile(cls)
    except (TypeError, OSError):
        return f"<module {cls.__module__}>"


def class_location(cls):
    """``file:line`` of a class statement (``file`` alone when the line is unknown)."""
    path = _source_file(cls)
    try:
        _, line = inspect.getsourcelines(cls)
        return f"{path}:{line}"
    except (TypeError, OSError):
        return path


def _member_location(cls, owner, attr):
    """``file:line`` of ``attr`` as defined in class ``owner`` (a base of ``cls``)."""
    fn = owner.__dict__[attr]
    fn = getattr(fn, "__func__", fn)
    try:
        lines, first = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return class_location(cls)
    # Point at the ``def`` line, not at a decorator above it.
    offset = next((i for i, line in enumerate(lines)
                   if line.lstrip().startswith(("def ", "async def "))), 0)
    return f"{inspect.getsourcefile(fn)}:{first + offset}"


def raise_site(exc, cls):
    """``file:line`` of the deepest traceback frame in ``cls``'s source file, if any."""
    path = _source_file(cls)
    site = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            site = f"{frame.filename}:{frame.lineno}"
    return site


def _definer(cls, attr):
    """The class of ``cls``'s MRO whose body defines ``attr``."""
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            return klass
    return None


def _check_signature(cls, attr, kind, args):
    """Problem with how ``cls`` defines method ``attr``, or None."""
    owner = _definer(cls, attr)
    raw = owner.__dict__[attr]
    expected = f"{attr}({'cls' if kind == 'classmethod' else 'self'}, {', '.join(args)})"
    if kind == "classmethod":
        if not isinstance(raw, classmethod):
            return (f"{_member_location(cls, owner, attr)}: {owner.__qualname__}.{attr} must be a "
                    f"@classmethod {expected}")
        fn, call = raw.__func__, (cls,) + args
    else:
        if not inspect.isfunction(raw):
            return (f"{_member_location(cls, owner, attr)}: {owner.__qualname__}.{attr} must be "
                    f"a method {expected}")
        fn, call = raw, (None,) + args
    try:
        inspect.signature(fn).bind(*call)
    except TypeError:
        return (f"{_member_location(cls, owner, attr)}: {owner.__qualname__}.{attr} takes "
                f"{attr}{inspect.signature(fn)}; hetflow calls it as {expected}")
    except ValueError:   # no signature (a builtin): nothing to check
        pass
    return None


def _problem(cls):
    """The first way ``cls`` breaks the kernel contract, as one line; None if it keeps it."""
    here = class_location(cls)
    from .shell import Kernel   # the shell imports this module for raise_site

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
    for attr, (kind, args, what) in REQUIRED_METHODS.items():
        if _definer(cls, attr) is Kernel:
            required = ", ".join(REQUIRED_METHODS)
            return (f"{here}: class {cls.__qualname__} does not define {attr}() ({what}); "
                    f"every kernel defines name, {required}")
        problem = _check_signature(cls, attr, kind, args)
        if problem:
            return problem
    for attr, (kind, args) in OPTIONAL_METHODS.items():
        if _definer(cls, attr) is not Kernel:
            problem = _check_signature(cls, attr, kind, args)
            if problem:
                return problem
    # The metadata must be computable without hardware: the CLI and the runtime use it.
    try:
        p = cls.bind()
    except ParamError as exc:
        return f"{here}: the default parameters of {cls.__qualname__} are invalid: {exc}"
    for attr in ("inputs", "outputs", "registers"):
        kind = Register if attr == "registers" else Port
        try:
            value = getattr(cls, attr)(p)
        except Exception as exc:
            where = raise_site(exc, cls) or here
            return (f"{where}: {cls.__qualname__}.{attr}(p) raised {type(exc).__name__}: {exc} "
                    f"(default parameters {dict(p)})")
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, kind) for v in value):
            return (f"{here}: {cls.__qualname__}.{attr}(p) returned {value!r}; expected a tuple "
                    f"of {kind.__name__}")
        if attr == "outputs" and not value:
            return f"{here}: {cls.__qualname__}.outputs(p) returned no ports; a kernel has one or more"
        for port in value if kind is Port else ():
            try:
                ok = np.dtype(port.dtype).kind in "iu"
            except TypeError:
                ok = False
            if not ok:
                return (f"{here}: {cls.__qualname__}.{attr}(p): port '{port.name}' has dtype "
                        f"{port.dtype!r}; allowed integer dtypes such as int16 or uint8")
    return None


def validate_kernel_class(cls, where=None):
    """Check that ``cls`` keeps the :class:`Kernel` contract; return it.

    Checks, without building hardware: a ``name``; ``params`` and ``scalars``
    as tuples; that ``inputs``, ``outputs``, ``golden``, ``cases`` and
    ``elaborate_core`` are defined, each with the signature hetflow calls it
    with (classmethods where the base class has classmethods); that the
    default parameters are valid and the ports and registers can be computed
    from them.  The registry runs this on every kernel it loads.

    Parameters
    ----------
    cls : type
        A :class:`Kernel` subclass.
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
