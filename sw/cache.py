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
"""

import os
from pathlib import Path

__all__ = ["cache_dir", "tool_environment"]


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
