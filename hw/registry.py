"""The kernel registry.

Built-in kernels and out-of-tree kernels register the same way: an entry point
in the ``hetflow.kernels`` group whose value is a :class:`~hetflow.hw.Kernel`
subclass, e.g. in a user's ``pyproject.toml``::

    [project.entry-points."hetflow.kernels"]
    blur = "mypkg.kernels:Blur"

A kernel can also be named by module path, ``mypkg.kernels:Blur``, without
being installed as an entry point.
"""

import importlib
import os
import sysconfig
import traceback
from importlib.metadata import entry_points

from .errors import KernelNotFound
from .contract import validate_kernel_class
from .kernel import Kernel

__all__ = ["kernel_names", "get_kernel", "all_kernels"]

GROUP = "hetflow.kernels"


def _entry_points():
    eps = {}
    for ep in entry_points(group=GROUP):
        eps.setdefault(ep.name, ep)
    return eps


def kernel_names():
    """Sorted names of every registered kernel."""
    return sorted(_entry_points())


def _check_class(obj, where):
    if not (isinstance(obj, type) and issubclass(obj, Kernel)):
        raise KernelNotFound(f"{where} is {obj!r}, not a subclass of hetflow.hw.Kernel")
    return validate_kernel_class(obj, where)


def _failure_site(exc):
    """`` at file:line`` of the user code an import failed in ('' if only library code)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {exc.filename}:{exc.lineno}"
    stdlib = sysconfig.get_paths()["stdlib"]
    # Skip the import machinery: the stdlib's importlib and, where a package pulls it
    # in, the importlib_metadata backport that loads entry points in its place.
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(("<", stdlib)) and f.filename != __file__
              and f"{os.sep}importlib_metadata{os.sep}" not in f.filename]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _load_path(spec):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise KernelNotFound(f"kernel '{spec}' is not of the form module:Class "
                             f"(e.g. mypkg.kernels:Blur)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise KernelNotFound(f"kernel '{spec}': cannot import module '{module_name}': {exc}") from None
    except Exception as exc:   # a bug in the user's module: say where, not a traceback
        raise KernelNotFound(f"kernel '{spec}': importing '{module_name}' failed"
                             f"{_failure_site(exc)}: {type(exc).__name__}: {exc}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise KernelNotFound(f"kernel '{spec}': module '{module_name}' has no '{attr}'") from None
    return _check_class(obj, f"kernel '{spec}'")


def get_kernel(name):
    """Return the kernel class registered as ``name``.

    ``name`` is a registry name (``"fir"``) or a module path
    (``"mypkg.kernels:Blur"``); a :class:`~hetflow.hw.Kernel` subclass is
    returned as it is.  Every class is checked against the kernel contract
    (:func:`~hetflow.hw.contract.validate_kernel_class`) the first time it is
    seen, so a broken user kernel fails here with one line naming its file.
    """
    if isinstance(name, type) and issubclass(name, Kernel):
        return validate_kernel_class(name, f"kernel class {name.__qualname__}")
    if not isinstance(name, str):
        raise KernelNotFound(f"kernel must be a name or a Kernel subclass, not {name!r}")
    if ":" in name:
        return _load_path(name)
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none (is hetflow installed with pip install -e .?)"
        raise KernelNotFound(f"unknown kernel '{name}'; known kernels: {known}")
    try:
        obj = eps[name].load()
    except Exception as exc:   # a broken plugin must not take the CLI down
        raise KernelNotFound(f"kernel '{name}' ({eps[name].value}) failed to load"
                             f"{_failure_site(exc)}: {type(exc).__name__}: {exc}") from None
    return _check_class(obj, f"kernel '{name}' ({eps[name].value})")


def all_kernels():
    """Every registered kernel class, by name."""
    return [get_kernel(name) for name in kernel_names()]
