"""Simulator builds of kernels, cached by content hash.

The key is the SHA-256 of the generated Verilog, the simulator and its
version, and :data:`BENCH_ABI`; an unchanged kernel is compiled once.  A
build is made in a temporary directory and renamed into place only when it
succeeded, so a failed or interrupted build is never taken for a good one.
"""

import hashlib
from importlib.metadata import version as dist_version
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..hw.errors import BuildError
from ..hw.verilog import to_verilog, top_name
from ..cache import cache_dir
from .runtime import RuntimeLibrary

__all__ = ["SimBuild", "build", "build_verilog", "install_build", "BuildError", "RTL"]

#: Bump when the way builds are made changes incompatibly.
BENCH_ABI = "1"

VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL",
                  "-Wno-PINCONNECTEMPTY", "-Wno-UNOPTFLAT"]


def cocotb_version():
    """The installed cocotb's version: its runner's build flags and main are part of a
    model's runtime flavour."""
    return dist_version("cocotb")


@dataclass(frozen=True)
class SimBuild:
    """A compiled simulation model.

    Attributes
    ----------
    directory : Path
        The build directory (inside the cache).
    toplevel : str
        Verilog top module name.
    verilog : Path
        The Verilog source.
    simulator : Simulator
    waves : bool
        Whether the model can write waveforms.
    cached : bool
        True when the build came from the cache.
    """

    directory: Path
    toplevel: str
    verilog: Path
    simulator: object
    waves: bool
    cached: bool


def install_build(tmp, final, key):
    """Mark a finished build in ``tmp`` good and rename it to ``final`` (atomically).

    If another process installed the same build first, theirs is as good as
    ours and ``tmp`` is removed.
    """
    (tmp / "BUILD_OK").write_text(key + "\n")
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / "BUILD_OK").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


class RTL:
    """The kernel's own Verilog, compiled by :func:`build`: what verification simulates.

    A *target* of :func:`hetflow.sim.verify.verify` is anything with a
    ``label`` (``"RTL"``, ``"icebreaker netlist"``) and a ``build(kernel,
    simulator, *, waves, status)`` method that returns a :class:`SimBuild`
    whose top level has the kernel's ports; the default target is this one.
    """

    label = "RTL"

    def build(self, kernel, simulator, *, waves=True, status=None):
        return build(kernel, simulator, waves=waves, status=status)


def build(kernel, simulator, *, waves=True, status=None):
    """Compile ``kernel`` (a Kernel instance) for ``simulator``, or reuse the cache.

    Verilator models are always compiled with tracing (dumping is switched on
    at run time); Icarus models get the dump module only when ``waves``.
    """
    return build_verilog(kernel.name, top_name(kernel), to_verilog(kernel), simulator,
                         waves=waves, status=status)


def build_key(simulator, waves, top, verilog_text, args, make_vars, files):
    """The cache key of a :func:`build_verilog` model (16 hex digits)."""
    from cocotb_tools.config import libs_dir

    h = hashlib.sha256("\0".join(
        # The model is linked to cocotb's libraries by their path in this environment: a
        # build made in another environment breaks when that one is removed.
        [BENCH_ABI, simulator.name, simulator.version, str(waves), top, verilog_text,
         " ".join(args), str(libs_dir)] + list(make_vars)).encode())
    for path in files:
        content = path.read_bytes()
        h.update(f"\0{path.name}\0{len(content)}\0".encode())
        h.update(content)
    return h.hexdigest()[:16]


def build_verilog(name, top, verilog_text, simulator, *, waves=True, status=None,
                  cache="sim", what=None, sources=(), includes=(), verilator_args=(),
                  make_vars=()):
    """Compile Verilog text whose top module is ``top`` for a cocotb runner, cached.

    Parameters
    ----------
    name : str
        Short name for cache directories and messages.
    cache : str
        Sub-directory of the hetflow cache (separates e.g. kernels from wrappers).
    what : str, optional
        What is compiled, for the progress message (default ``name``).
    sources : sequence of path-like
        Further Verilog files compiled with the text (cell libraries, models).
    includes : sequence of path-like
        Directories searched by their ``include`` directives.
    verilator_args : sequence of str
        Verilator options beyond :data:`VERILATOR_ARGS`.
    make_vars : sequence of str
        ``NAME=VALUE`` assignments for the make run that compiles the C++
        (``OPT_FAST=-O0``), on top of what the simulator needs.

    The cache key covers the text, every file of ``sources`` and every file
    directly in ``includes``, byte for byte, and the directory of cocotb's
    libraries the model is linked to.
    """
    from cocotb_tools.runner import get_runner

    if simulator.name == "verilator":
        waves = True
    sources = [Path(s) for s in sources]
    includes = [Path(d) for d in includes]
    args = VERILATOR_ARGS + list(verilator_args)
    files = sources + sorted(f for d in includes for f in d.iterdir() if f.is_file())
    key = build_key(simulator, waves, top, verilog_text, args, make_vars, files)
    root = cache_dir() / cache
    final = root / f"{name}-{simulator.name}-{key}"
    if (final / "BUILD_OK").exists():
        return SimBuild(final, top, final / f"{top}.v", simulator, waves, True)

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    try:
        src = tmp / f"{top}.v"
        src.write_text(verilog_text)
        simulator.apply()
        runner = get_runner(simulator.name)
        if status:
            status(f"compiling {what or name} with {simulator.name} (first time for these parameters)")
        build_args = args + ["-O3"] if simulator.name == "verilator" else []
        saved_makeflags = os.environ.get("MAKEFLAGS")
        runtime = (RuntimeLibrary(simulator, "cocotb", cocotb_version(), waves, *build_args,
                                  *make_vars)
                   if simulator.name == "verilator" else None)
        makeflags = " ".join(filter(None, [simulator.makeflags(saved_makeflags), *make_vars,
                                           *(runtime.make_vars() if runtime else [])]))
        if makeflags:
            # cocotb's runner runs make with this process's environment.
            os.environ["MAKEFLAGS"] = makeflags
        try:
            runner.build(sources=[src, *sources], includes=includes, hdl_toplevel=top,
                         build_dir=tmp, build_args=build_args, waves=waves,
                         timescale=("1ns", "1ps"), log_file=tmp / "build.log")
        except (RuntimeError, SystemExit) as exc:
            log = tmp / "build.log"
            kept = root / f"failed-{final.name}.log"
            if log.exists():
                shutil.copyfile(log, kept)
            raise BuildError(f"{simulator.name} failed to compile {what or name} ({exc}); "
                             f"log: {kept}") from None
        finally:
            if saved_makeflags is None:
                os.environ.pop("MAKEFLAGS", None)
            else:
                os.environ["MAKEFLAGS"] = saved_makeflags
        if runtime is not None:
            runtime.harvest(tmp)
        install_build(tmp, final, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SimBuild(final, top, final / f"{top}.v", simulator, waves, False)
