"""Where hetflow keeps what it can make again: one root for every cache.

Simulator builds (``board/``, ``verify/``, ``bench/``), bitstreams
(``bitstreams/``), post-synthesis netlists and their simulator builds
(``netlist/``), the scheduler's performance models (``perfmodels.json``)
and the YoWASP tools' compiled WebAssembly (``yowasp/``) all live under
:func:`cache_dir`:

1. ``$HETFLOW_CACHE`` when set;
2. else ``$XDG_CACHE_HOME/hetflow``;
3. else ``~/.cache/hetflow``.

Deleting the directory is always safe: everything in it is rebuilt on demand.

:func:`compile_yowasp` has a YoWASP program compiled once per machine, before the
flow starts it.
"""

import fcntl
import os
import subprocess
import threading
from pathlib import Path

__all__ = ["cache_dir", "tool_environment", "compile_yowasp"]

#: Seconds a YoWASP program's first start may take to compile (yosys: minutes).
COMPILE_TIMEOUT = 1800
#: A start that has not ended after this many seconds is compiling: say so.
COMPILE_NOTICE_S = 2.0


def cache_dir():
    """Root of hetflow's caches (see the module docstring for the order)."""
    root = os.environ.get("HETFLOW_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "hetflow"


def tool_environment():
    """Variables for the programs hetflow starts, so their caches share the root.

    YoWASP compiles each tool's WebAssembly once and keeps it under
    ``YOWASP_CACHE_DIR``; a value the user set is kept.
    """
    env = {}
    if not os.environ.get("YOWASP_CACHE_DIR"):
        env["YOWASP_CACHE_DIR"] = str(cache_dir() / "yowasp")
    return env


_compiled = set()                  # YoWASP programs this process has seen compiled
_compiled_lock = threading.Lock()


def compile_yowasp(path, say=None):
    """Have the YoWASP program ``path`` compile its WebAssembly now, once per machine.

    A YoWASP program compiles its WebAssembly to machine code on its first
    start (minutes for yosys) and keeps it in the cache of
    :func:`tool_environment`.  Processes that start it cold at the same time
    (pytest-xdist workers, builds side by side) would each compile it, sharing
    the cores; here it is started with ``--version`` under a lock file in that
    cache, so one process compiles while the others wait and then load the
    compiled code.  A start that takes longer than :data:`COMPILE_NOTICE_S`
    is announced through ``say`` (a progress callback taking one string).

    Programs whose name does not start with ``yowasp-`` are left alone.  A
    failure here is not raised: the real run that follows reports it.
    """
    name = Path(path).name
    with _compiled_lock:
        if not name.startswith("yowasp-") or path in _compiled:
            return
        env = {**os.environ, **tool_environment()}
        cache = Path(env["YOWASP_CACHE_DIR"])
        try:
            cache.mkdir(parents=True, exist_ok=True)
            lock = open(cache / f".{name}.lock", "w")
        except OSError:
            return
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                proc = subprocess.Popen([path, "--version"], env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except OSError:
                return
            try:
                proc.wait(COMPILE_NOTICE_S)
            except subprocess.TimeoutExpired:
                if say is not None:
                    say(f"compiling {name} for this machine (its first start; it can take "
                        f"minutes, once)")
                try:
                    proc.wait(COMPILE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    return
        _compiled.add(path)
