"""Bitstream builds of a kernel, or an overlay, in its board SoC, with open toolchains.

Planning, caching and running a build are the steps of one supervised run; the tools
are found apart (:mod:`hetflow.boards.toolchain`), and what a build leaves (report,
installed files, a failure's logs) is :mod:`hetflow.boards.buildfiles`.

:func:`build` elaborates :class:`~hetflow.boards.top.BoardTop` for the board,
lets the board's amaranth-boards platform write its build plan (Yosys script,
constraints, the ``build_top.sh`` that calls Yosys, nextpnr and the packer),
and runs that script with per-tool variables choosing the tools
(:func:`~hetflow.boards.toolchain.resolve_board_tools`: ``toolchain="yowasp"``,
the default, runs the YoWASP builds from PyPI; ``"native"`` the tools on ``PATH``).

The script runs under supervision (:func:`~hetflow.boards.toolchain.run_build_script`)
rather than through ``platform.build(do_build=True)``: a timeout, progress from the
files the tools write, and the tools' output (run verbose) captured in ``build.log``.
Options added to the platform's templates: the Yosys options of
:func:`~hetflow.boards.synthesis.yosys_overrides` (``synth_ice40 -dsp`` on iCE40:
without it Yosys leaves the SB_MAC16 DSPs unused; the netlist simulation runs the same
synthesis), and ``nextpnr --seed N --report top.report.json --timing-allow-fail`` (a
design that misses its clock target still gets a bitstream; ``timing_met`` in the
report says so).

Results are cached by SHA-256 of the build plan (every generated file, so the
kernel, its parameters, the SoC, the clock, the seed) and the toolchain's
identity (kind and tool versions), under ``bitstreams/`` of
:func:`hetflow.cache.cache_dir`; an unchanged build is copied from the cache.  The key
depends on content only, not on where the checkout or the packages live (see
:func:`plan_key`), so every checkout of one commit shares its builds.  A build
runs in a temporary directory and only a complete, parsed build is renamed into
the cache.
"""

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from ..cache import cache_dir, compile_yowasp
from ..hw.errors import HetflowError
from .buildfiles import (KEPT, NAME, bridge_info, failure, install, make_report,
                         sha256_file)
from .clocking import ecp5_pll, ice40_pll, soc_clock_mhz
from .components import measure
from .design import BuildDesign
from .errors import OutputDirError
from .registry import get_board
from .synthesis import yosys_overrides
from .toolchain import (TOOLCHAINS, openfpgaloader_path, resolve_board_tools, resolve_tools,
                        run_build_script, script_environment)
from .top import BoardTop
from .usbuart import default_baud

__all__ = ["build", "BuildResult", "TOOLCHAINS", "resolve_tools", "cache_root", "BUILD_ABI",
           "BUILD_TIMEOUT", "openfpgaloader_path", "cache_key", "plan_key", "dry_run",
           "default_out_dir"]

#: Bump when the SoC/top/build options change in a way the plan digest does not see.
BUILD_ABI = "3"
#: Seconds a whole build may take.
BUILD_TIMEOUT = 3600.0


class BuildResult:
    """What :func:`build` returns: the report dict, the output directory, cache use."""

    def __init__(self, report, out_dir, cached):
        self.report = report
        self.out_dir = Path(out_dir)
        self.cached = cached

    @property
    def bitstream(self):
        return self.out_dir / self.report["bitstream"]

    def __repr__(self):
        r = self.report
        how = "cached" if self.cached else f"{r['build_s']} s"
        what = r["kernel"] or r["overlay"]["name"]
        return (f"BuildResult({what} on {r['board']}: {r['lut_used']}/{r['lut_total']} "
                f"LUT, {r['dsp_used']}/{r['dsp_total']} DSP, {r['fmax_mhz']} MHz, {how})")


def cache_root():
    """Directory of cached bitstream builds (``bitstreams/`` of :func:`hetflow.cache.cache_dir`)."""
    return cache_dir() / "bitstreams"


def _check_out_dir(out_dir):
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create output directory {out}: "
                             f"{exc.strerror or exc}") from None
    if not out.is_dir():
        raise OutputDirError(f"output directory {out} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".hetflow-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputDirError(f"cannot write to output directory {out}: "
                             f"{exc.strerror or exc}") from None
    return out


def _pll_for(board, freq_mhz):
    if freq_mhz is None or abs(float(freq_mhz) - board.clock_mhz) < 1e-9:
        return None
    freq = float(freq_mhz)
    if board.family == "ice40":
        return ice40_pll(board.clock_mhz, freq)
    if board.family == "ecp5":
        return ecp5_pll(board.clock_mhz, freq)
    raise HetflowError(f"--freq is not supported on {board.name}; it runs at "
                       f"{board.clock_mhz:g} MHz")


def _plan(design, board, pll, seed, baud=None):
    platform = board.make_platform()
    top = BoardTop(design, board, pll=pll, baud=baud)
    # verbose: the tools print to the script's output, which build.log captures; quiet,
    # a good build's output would be only in top.rpt and top.tim.
    overrides = {"nextpnr_opts": ["--seed", str(int(seed)), "--report", f"{NAME}.report.json",
                                  "--timing-allow-fail"],
                 "verbose": True,
                 # The Yosys options are shared with the netlist simulation.
                 **yosys_overrides(board)}
    plan = platform.build(top, name=NAME, do_build=False, **overrides)
    return plan, top


#: A source location in the RTLIL Amaranth writes: ``attribute \src "FILE:LINE"`` (Yosys
#: joins several with ``|``).  FILE is the absolute path the Python file was loaded from.
_SRC_ATTR = re.compile(r'(\\src ")([^"]*)(")')


def _portable_sources(text):
    """``text`` with the directory part of every source location's path removed."""

    def location(loc):
        path, colon, line = loc.rpartition(":")
        return os.path.basename(path) + colon + line if colon else os.path.basename(loc)

    return _SRC_ATTR.sub(lambda m: m.group(1) + "|".join(map(location, m.group(2).split("|")))
                         + m.group(3), text)


def plan_key(plan, identity):
    """Cache key (32 hex digits) of a build plan and a toolchain identity string.

    Like ``plan.digest()``, every file of the plan counts, byte for byte, except
    the absolute paths in source locations: ``src`` attributes name the file a
    signal was made in, as loaded (``/home/me/hetflow/boards/soc.py:106``), so
    the same design from another checkout, virtualenv or user would never meet
    its cached build.  For the key each such path is cut to its file name
    (``soc.py:106``): the rest of the plan already says what was built, and the
    key stays a function of the plan alone.  Line numbers stay in: they are
    what the timing report shows.
    """
    h = hashlib.sha256()
    for name in sorted(plan.files):
        content = plan.files[name]
        if isinstance(content, str):
            content = _portable_sources(content).encode("utf-8")
        # Length-prefixed, so that no two different plans hash the same stream.
        h.update(f"{len(name)}:{name}{len(content)}:".encode("utf-8"))
        h.update(content)
    h.update(f"{plan.script}\0{identity}".encode("utf-8"))
    return h.hexdigest()[:32]


def _setup(kernel, board, params, freq_mhz, seed, toolchain, status, out_dir=None,
           baud=None, overlay=None):
    """Check the arguments of a build and decide it, before any tool runs.

    Checks run in the order the user meets them (``out_dir`` only when given),
    then the design is elaborated into its plan and keyed.
    """
    board = get_board(board)
    if not board.available:
        from .errors import BoardUnavailable
        raise BoardUnavailable(f"board '{board.name}' is not available: {board.reason}")
    design = BuildDesign(kernel, params, overlay)
    if not isinstance(seed, int) or seed < 0:
        raise HetflowError(f"--seed {seed!r} is out of range; allowed 0 or more")
    tools = resolve_board_tools(board, toolchain)
    env, versions, notes = script_environment(board, tools)
    pll = _pll_for(board, freq_mhz)
    baud = _resolve_baud(board, pll, baud)    # a rate the chip or clock cannot make: say so now
    # Last: nothing is created for a build that bad arguments would stop.
    out = None if out_dir is None else _check_out_dir(out_dir)

    status(f"elaborating {design.label} for {board.name}")
    plan, _ = _plan(design.make(), board, pll, seed, baud)
    identity = json.dumps({"abi": BUILD_ABI, "toolchain": toolchain, "tools": versions,
                           "env": sorted(env)}, sort_keys=True)
    return SimpleNamespace(board=board, design=design, pll=pll,
                           baud=baud, tools=tools, env=env, versions=versions, notes=notes,
                           out=out, plan=plan, key=plan_key(plan, identity))


def _resolve_baud(board, pll, baud):
    """``baud``, or the board's :func:`~hetflow.boards.usbuart.default_baud` when None; checked."""
    if baud is None:
        return default_baud(board, soc_clock_mhz(board, pll) * 1e6)
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise HetflowError(f"--baud {baud!r} is out of range; allowed a positive integer")
    bridge_info(board, pll, baud)
    return baud


def default_out_dir(kernel, board, params=None, freq_mhz=None, baud=None, overlay=None):
    """The directory ``hetflow build`` writes to without ``--out``.

    Named by the kernel, every elaboration parameter (defaults included, so
    ``-p lanes=1`` and no ``-p`` share a directory), a clock or baud rate
    other than the default, and the board: ``build/saxpy-lanes4-icebreaker``,
    ``build/fir-taps16-ulx3s-85f-48mhz``.  Two different builds never share
    a directory.  An overlay's directory is named by the overlay
    (``build/pipeline-ulx3s-85f``).
    """
    board = get_board(board)
    parts = BuildDesign(kernel, params, overlay).dir_parts + [board.name]
    if freq_mhz is not None and abs(float(freq_mhz) - board.clock_mhz) > 1e-9:
        parts.append(f"{float(freq_mhz):g}mhz")
    if baud is not None and baud != default_baud(
            board, soc_clock_mhz(board, _pll_for(board, freq_mhz)) * 1e6):
        parts.append(f"{baud}baud")
    return Path("build") / re.sub(r"[^A-Za-z0-9_.+-]", "_", "-".join(parts))


def dry_run(kernel, board, params=None, freq_mhz=None, seed=1, toolchain="yowasp",
            baud=None, out_dir=None, overlay=None):
    """Decide a build as :func:`build` would, and say what it would run; write nothing.

    Returns
    -------
    dict
        ``kernel``, ``params``, ``board``, ``toolchain``, ``tools`` (tool name
        -> ``{"env", "path", "source", "version"}``, the executables the build
        script would run), ``notes``, ``cache_key``, ``cached`` (an identical
        build is in the cache), ``out_dir`` and ``baud`` (the bridge's rate).
    """
    setup = _setup(kernel, board, params, freq_mhz, seed, toolchain, lambda msg: None,
                   baud=baud, overlay=overlay)
    tools = {t.name: {"env": t.env, "path": t.path, "source": t.source, "version": t.version}
             for t in setup.tools}
    cached = (cache_root() / f"{setup.board.name}-{setup.design.name}-{setup.key}"
              / "report.json").is_file()
    out = out_dir if out_dir is not None else default_out_dir(
        kernel, setup.board, params, freq_mhz, baud, overlay)
    return {**setup.design.report_fields(), "label": setup.design.label,
            "board": setup.board.name, "toolchain": toolchain, "tools": tools,
            "notes": setup.notes, "cache_key": setup.key, "cached": cached,
            "out_dir": str(out), "baud": setup.baud}


def cache_key(kernel, board, params=None, freq_mhz=None, seed=1, toolchain="yowasp",
              baud=None, overlay=None):
    """The key :func:`build` files this build under in the cache, without building.

    Elaborates the design and writes the build plan in memory (about a second);
    checks the arguments as :func:`build` does.

    Returns
    -------
    str
        32 hex digits; :func:`build` puts it in ``report.json`` as ``cache_key``.
    """
    return _setup(kernel, board, params, freq_mhz, seed, toolchain, lambda msg: None,
                  baud=baud, overlay=overlay).key


def build(kernel, board, params=None, freq_mhz=None, seed=1, toolchain="yowasp",
          out_dir=None, status=None, timeout=BUILD_TIMEOUT, use_cache=True,
          baud=None, overlay=None):
    """Build ``kernel`` (or ``overlay``) for ``board``; write the bitstream and report.json
    to ``out_dir``.

    Parameters
    ----------
    kernel : str or Kernel subclass
        Registry name or class; None with ``overlay``.
    board : str or Board
    params : dict, optional
        Elaboration parameters (strings are parsed).
    freq_mhz : float, optional
        SoC clock; default the board oscillator.  Another frequency adds a
        PLL (the nearest setting it can make becomes ``target_mhz``).
    seed : int
        nextpnr placement seed.
    toolchain : str
        ``"yowasp"`` or ``"native"``.
    out_dir : path, optional
        Created if missing; default :func:`default_out_dir`.
    status : callable, optional
        Receives one-line progress messages.
    timeout : float
        Seconds the tools may take.
    use_cache : bool
        Reuse an identical earlier build.
    baud : int, optional
        Line speed of the board's UART bridge (8N1); default the fastest rate
        the board's USB-UART chip and the SoC clock both make
        (:func:`~hetflow.boards.usbuart.default_baud`).  Refused when the chip
        cannot make it or the SoC clock cannot make it within 2 %.
    overlay : Overlay or path, optional
        Build this overlay (a TOML file's path or an Overlay) instead of one
        kernel: its instances, the FIFOs of its streams and its manifest ROM.
        ``report.json`` then has ``overlay`` (instances, streams) and a
        component per instance; ``shell_lc`` is everything but the instances.

    Returns
    -------
    BuildResult
    """
    status = status or (lambda msg: None)
    if out_dir is None:
        out_dir = default_out_dir(kernel, board, params, freq_mhz, baud, overlay)
    setup = _setup(kernel, board, params, freq_mhz, seed, toolchain, status, out_dir, baud,
                   overlay)
    board, design, pll = setup.board, setup.design, setup.pll
    baud = setup.baud
    env, versions, notes, plan, key = setup.env, setup.versions, setup.notes, setup.plan, setup.key
    out = setup.out
    root = cache_root()
    cached_dir = root / f"{board.name}-{design.name}-{key}"
    if use_cache and (cached_dir / "report.json").is_file():
        report = json.loads((cached_dir / "report.json").read_text())
        bit = cached_dir / report["bitstream"]
        if bit.is_file() and sha256_file(bit) == report["sha256"]:
            status("unchanged: using the cached bitstream")
            report["cached"] = True
            install(cached_dir, out, report)
            return BuildResult(report, out, cached=True)

    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    except OSError as exc:
        raise OutputDirError(f"cannot create the build cache {root}: "
                             f"{exc.strerror or exc}") from None
    try:
        plan.extract(tmp)
        for tool in setup.tools:
            compile_yowasp(tool.path, status)
        status(f"building {design.label} for {board.name} ({toolchain})")
        t0 = time.monotonic()
        code = run_build_script(tmp, NAME, env, timeout, status)
        build_s = time.monotonic() - t0
        if code != 0:
            raise failure(tmp, out, design, board, code, setup.tools)
        status("counting cells per component (hierarchical synthesis and packing)")
        t1 = time.monotonic()
        components, why = measure(tmp, board, setup.tools, NAME,
                                  instances=design.instances if design.overlay else ())
        components_s = time.monotonic() - t1
        if why:
            notes = [*notes, f"no per-component split: {why}"]
        report = make_report(tmp, design, board, pll, freq_mhz, seed, toolchain,
                              versions, notes, build_s, key, baud, components)
        report["components_s"] = round(components_s, 2)
        report["cached"] = False
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        # Trim the cache entry to what is installed; netlists are large.
        keep = set(KEPT) | {report["bitstream"], "report.json"}
        for f in tmp.iterdir():
            if f.name not in keep:
                if f.is_dir():
                    shutil.rmtree(f)
                else:
                    f.unlink()
        if cached_dir.exists():
            shutil.rmtree(cached_dir, ignore_errors=True)
        os.replace(tmp, cached_dir)
        tmp = None
        install(cached_dir, out, report)
        return BuildResult(report, out, cached=False)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
