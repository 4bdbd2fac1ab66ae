"""Verilator's runtime library, compiled once and linked into every model built after.

Every Verilator model links the same runtime objects (``verilated.o``,
``verilated_threads.o``, and with tracing or VPI ``verilated_vcd_c.o``,
``verilated_vpi.o``), compiled from Verilator's own sources with the
build's flags.  ``make`` compiles them afresh in each build directory, and
they take most of a small model's compile time (``verilated.o`` alone about
7 s of CPU against 2 s for a kernel's harness).  :class:`RuntimeLibrary`
keeps them once per *flavour* -- the Verilator version, the C++ compiler,
the Verilator and ``make`` arguments: everything the objects depend on and
nothing of the design -- as one archive in the cache:

* the first build of a flavour compiles them as usual; :meth:`harvest` then
  archives the objects it made (the ``VM_GLOBAL_*`` lists of the model's
  ``*_classes.mk`` say which);
* later builds pass :meth:`make_vars` to ``make``: the global object lists
  emptied and the archive linked whole in their place (``--whole-archive``,
  so a shared library loaded later, such as cocotb's VPI library, finds
  every symbol the objects would have brought).

An archive is written to a temporary name and renamed into place, so a
half-written one is never used.  A cache path that ``make`` could not carry
in one word (a space or a comma in it) just builds the objects every time.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from ..cache import cache_dir

__all__ = ["RuntimeLibrary"]

#: Bump when the way the archive is made or linked changes.
RUNTIME_ABI = "1"
_GLOBAL_LISTS = ("VM_GLOBAL_FAST", "VM_GLOBAL_SLOW")


@lru_cache(maxsize=None)
def _compiler_version(cxx):
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _global_objects(classes_mk):
    """Names of the runtime objects a model's ``*_classes.mk`` lists (``verilated.o``...)."""
    text = Path(classes_mk).read_text().replace("\\\n", " ")
    names = []
    for line in text.splitlines():
        m = re.match(r"\s*(VM_GLOBAL_FAST|VM_GLOBAL_SLOW)\s*\+?=(.*)", line)
        if m:
            names += [f"{name}.o" for name in m.group(2).split()]
    return names


class RuntimeLibrary:
    """The cached runtime archive of one build flavour (see the module doc).

    Parameters
    ----------
    simulator : Simulator
        The Verilator that builds (its version and root are part of the flavour).
    *flavour : str
        Everything else the runtime objects depend on: the Verilator
        arguments, the ``make`` variables of the build.
    """

    def __init__(self, simulator, *flavour):
        cxx = os.environ.get("CXX", "c++")
        key = hashlib.sha256("\0".join(
            [RUNTIME_ABI, simulator.version, simulator.executable, _compiler_version(cxx),
             *map(str, flavour)]).encode()).hexdigest()[:16]
        self.path = cache_dir() / "verilator-runtime" / f"runtime-{key}.a"

    @property
    def usable(self):
        """Whether ``make`` can be given the archive's path as one word."""
        return not re.search(r"[\s,]", str(self.path))

    @property
    def available(self):
        return self.usable and self.path.exists()

    def make_vars(self):
        """``NAME=VALUE`` words for ``make``: link the archive instead of compiling the
        runtime objects; none when there is no archive yet."""
        if not self.available:
            return []
        return ["VM_GLOBAL_FAST=", "VM_GLOBAL_SLOW=",
                f"USER_LDLIBS=-Wl,--whole-archive,{self.path},--no-whole-archive"]

    def harvest(self, build_dir):
        """Archive the runtime objects a finished build in ``build_dir`` compiled.

        Does nothing when the archive exists, the path is not usable, or the
        build has not got every object its ``*_classes.mk`` lists (then it
        linked the archive itself, or is not a plain Verilator build).
        """
        if self.available or not self.usable:
            return
        build_dir = Path(build_dir)
        listings = sorted(build_dir.glob("*_classes.mk"))
        if len(listings) != 1:
            return
        objects = [build_dir / name for name in _global_objects(listings[0])]
        if not objects or not all(o.exists() for o in objects):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        os.close(fd)
        os.unlink(tmp)              # ar creates the archive itself
        try:
            subprocess.run([shutil.which("ar") or "ar", "rcs", tmp, *map(str, objects)],
                           check=True, capture_output=True, timeout=60)
            os.replace(tmp, self.path)
        except (OSError, subprocess.SubprocessError):
            # No archive this time: the next build compiles the objects and tries again.
            Path(tmp).unlink(missing_ok=True)
