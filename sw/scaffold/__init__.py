"""Project scaffolding: ``hetflow new NAME`` writes a small, working kernel project.

The generated project has one kernel on the standard shell (a scaled absolute
difference, ``z = scale * |x - y|``) with its golden model, a pytest file
that verifies it with the ``hetflow_verify`` fixture, a host script, a
GitHub Actions workflow and a ``pyproject.toml`` whose ``hetflow.kernels``
entry point registers the kernel.  The templates are package data beside this
module (``templates/*.tmpl``); placeholders are ``@@name@@`` so that the
``${{ }}`` of the workflow file and Python's braces need no escaping.

The project is written into a temporary directory next to the target and
renamed into place at the end, so a failure leaves nothing half-written.
"""

import keyword
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path

from ..hw.errors import HetflowError
from ..templates import render

__all__ = ["create_project", "Project", "ScaffoldError", "check_name", "FILES"]

#: Template file -> path in the project (``{package}`` is the Python package name).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "package_init.py.tmpl": "src/{package}/__init__.py",
    "kernel.py.tmpl": "src/{package}/kernel.py",
    "test_kernel.py.tmpl": "tests/test_{package}.py",
    "host.py.tmpl": "host.py",
    "ci.yml.tmpl": ".github/workflows/ci.yml",
}

_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
_MAX_NAME = 64

# Modules a generated package must not shadow: hetflow and what it imports.
_TAKEN = {"hetflow", "amaranth", "amaranth_boards", "numpy", "cocotb", "cocotb_tools",
          "pytest", "rich", "serial", "setuptools", "pip", "tests", "test", "src"}


class ScaffoldError(HetflowError, ValueError):
    """A project name or target directory that ``hetflow new`` cannot use."""


@dataclass
class Project:
    """What :func:`create_project` wrote.

    Attributes
    ----------
    path : Path
        The project directory.
    name : str
        The distribution name (``NAME`` as given).
    package : str
        The Python package (``NAME`` with ``-`` as ``_``); also the kernel's
        registry name.
    class_name : str
        The kernel class (``CamelCase`` of the package).
    files : list of str
        Paths written, relative to :attr:`path`.
    """

    path: Path
    name: str
    package: str
    class_name: str
    files: list = field(default_factory=list)

    @property
    def kernel(self):
        """The kernel's registry name."""
        return self.package

    @property
    def module_path(self):
        """The kernel as ``module:Class``, usable before the project is installed."""
        return f"{self.package}:{self.class_name}"


def _builtin_kernel_names():
    return {ep.name for ep in entry_points(group="hetflow.kernels")
            if ep.value.startswith("hetflow.")}


def check_name(name):
    """Return ``(package, class_name)`` for a project ``name``; raise :class:`ScaffoldError`."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(("-", "_")) \
            or "--" in name or len(name) > _MAX_NAME:
        raise ScaffoldError(
            f"project name {name!r} is not allowed; use lowercase letters, digits, '_' and '-', "
            f"starting with a letter, at most {_MAX_NAME} characters (e.g. demo_kernel)")
    package = name.replace("-", "_")
    if keyword.iskeyword(package):
        raise ScaffoldError(f"project name {name!r} is a Python keyword; choose another name")
    if package in sys.stdlib_module_names or package in _TAKEN:
        raise ScaffoldError(f"project name {name!r} would shadow the module '{package}'; "
                            f"choose another name (e.g. my_{package})")
    if package in _builtin_kernel_names():
        raise ScaffoldError(f"project name {name!r} is the name of a built-in kernel; "
                            f"choose another name (e.g. my_{package})")
    class_name = "".join(part[:1].upper() + part[1:] for part in package.split("_") if part)
    return package, class_name


def _check_target(path):
    if path.exists() and not path.is_dir():
        raise ScaffoldError(f"cannot create the project in {path}: it is a file")
    if path.is_dir() and any(path.iterdir()):
        raise ScaffoldError(f"directory {path} already exists and is not empty; "
                            f"choose another name or --dir")


def create_project(name, directory=None):
    """Write a new kernel project.

    Parameters
    ----------
    name : str
        Project name: lowercase letters, digits, ``_`` and ``-``, starting
        with a letter.  The package and the kernel are named after it.
    directory : path-like, optional
        The project directory to create (default: ``./NAME``).  It may exist
        if it is empty.

    Returns
    -------
    Project

    Raises
    ------
    ScaffoldError
        For a bad name, or a target that exists and is not an empty
        directory; nothing is written then.
    """
    from .. import __version__

    package, class_name = check_name(name)
    path = Path(directory if directory is not None else name).expanduser().absolute()
    _check_target(path)
    values = {"project": name, "package": package, "kernel": package, "Class": class_name,
              "hetflow_version": __version__}
    templates = resources.files(__name__) / "templates"
    rendered = {target.format(package=package): render((templates / source).read_text(), values)
                for source, target in FILES.items()}

    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    except OSError as exc:
        raise ScaffoldError(f"cannot create the project in {path}: {exc.strerror}") from None
    try:
        for rel, text in rendered.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        os.chmod(tmp, 0o755)   # mkdtemp makes it 0700; a project is an ordinary directory
        try:
            # rename(2) replaces an empty directory and refuses a non-empty one, so a
            # directory filled since the check above is never overwritten.
            os.rename(tmp, path)
        except OSError as exc:
            raise ScaffoldError(f"directory {path} already exists and is not empty; "
                                f"choose another name or --dir" if path.is_dir() and
                                any(path.iterdir()) else
                                f"cannot create the project in {path}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Project(path, name, package, class_name, sorted(rendered))
