"""Overlays as TOML files, with every error naming its file and line.

The format::

    name = "pipeline"                            # optional; default: the file's stem

    [instances]                                  # name = { kernel = ..., parameters }
    fir0  = { kernel = "fir", taps = 16 }
    crc0  = { kernel = "crc32", lanes = 4 }
    gemm0 = { kernel = "gemm", rows = 2, cols = 4 }

    [[stream]]                                   # one table per on-fabric stream
    from = "fir0.y"
    to = "crc0.data"
    depth = 32                                   # FIFO beats (optional, default 16)
    reinterpret = true                           # int32 -> uint8 x 4 (needed when types differ)

An instance may also be its own table (``[instances.fir0]`` with
``kernel = "fir"`` and the parameters below it).  ``kernel`` is a registry
name or a module path (``"mypkg.kernels:Blur"``), as ``hetflow.open``'s
``dev.kernel()`` takes.

:mod:`tomllib` reports no positions for values, so :func:`key_lines`
reads them off the text: the line of each table header and key.
"""

import re
import tomllib
from pathlib import Path

from ..errors import OverlayError
from .description import DEFAULT_DEPTH, Overlay

__all__ = ["load_overlay", "parse_overlay", "key_lines", "as_overlay"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")
_TOP_KEYS = ("name", "instances", "stream")
_STREAM_KEYS = ("from", "to", "depth", "reinterpret")


def key_lines(text):
    """``{path: line}`` of table headers and keys; arrays of tables are indexed.

    ``("instances", "fir0")`` is the line of ``fir0 = {...}`` under
    ``[instances]`` (or of ``[instances.fir0]``); ``("stream", 1, "to")`` the
    ``to`` key of the second ``[[stream]]``.
    """
    lines, table, counts = {}, (), {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            parts = tuple(part.strip().strip("\"'") for part in header.group(2).split("."))
            if header.group(1) == "[[":
                index = counts.get(parts, 0)
                counts[parts] = index + 1
                parts = parts + (index,)
            table = parts
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault(table + (key.group(1).strip('"'),), number)
    return lines


class _Locator:
    """Prefixes messages with ``file:line`` of the most specific known path."""

    def __init__(self, source, text):
        self.source = source
        self.lines = key_lines(text)

    def error(self, path, message):
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        line = self.lines.get(path, 1)
        return OverlayError(f"{self.source}:{line}: {message}")


def load_overlay(path):
    """Read the overlay in the TOML file ``path``; raise :class:`OverlayError` on any mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OverlayError(f"overlay file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OverlayError(f"overlay file {path} cannot be read: {exc}") from None
    return parse_overlay(text, source=str(path), default_name=path.stem)


def parse_overlay(text, source="<overlay>", default_name="overlay"):
    """The :class:`~hetflow.hw.overlay.Overlay` described by TOML ``text``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise OverlayError(f"{source}:{match.group(1) if match else 1}: not valid TOML: "
                           f"{exc}") from None
    where = _Locator(source, text)
    for key in doc:
        if key not in _TOP_KEYS:
            raise where.error((key,), f"unknown key '{key}'; an overlay file has "
                                      f"{', '.join(_TOP_KEYS)}")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name.isidentifier():
        raise where.error(("name",), f"name = {name!r} must be an identifier such as "
                                     f"\"pipeline\"")
    overlay = Overlay(name)
    instances = doc.get("instances", {})
    if not isinstance(instances, dict):
        raise where.error(("instances",), "instances must be a table: [instances] then "
                                          "fir0 = { kernel = \"fir\" }")
    for inst_name, spec in instances.items():
        path = ("instances", inst_name)
        if not isinstance(spec, dict) or not isinstance(spec.get("kernel"), str):
            raise where.error(path, f"instance '{inst_name}' must be a table with a kernel "
                                    f"name: {inst_name} = {{ kernel = \"fir\", taps = 16 }}")
        params = {k: v for k, v in spec.items() if k != "kernel"}
        try:
            overlay.add(inst_name, spec["kernel"], **params)
        except OverlayError as exc:
            raise where.error(path, str(exc)) from None
    streams = doc.get("stream", [])
    if not isinstance(streams, list):
        raise where.error(("stream",), "streams are [[stream]] tables (from = \"fir0.y\", "
                                       "to = \"crc0.data\")")
    for index, spec in enumerate(streams):
        path = ("stream", index)
        unknown = [k for k in spec if k not in _STREAM_KEYS]
        if unknown:
            raise where.error(path + (unknown[0],), f"unknown key '{unknown[0]}' in a stream; "
                                                    f"a stream has {', '.join(_STREAM_KEYS)}")
        missing = [k for k in ("from", "to") if k not in spec]
        if missing:
            raise where.error(path, f"stream has no '{missing[0]}'; give both, e.g. "
                                    f"from = \"fir0.y\" and to = \"crc0.data\"")
        try:
            overlay.connect(spec["from"], spec["to"], depth=spec.get("depth", DEFAULT_DEPTH),
                            reinterpret=spec.get("reinterpret", False))
        except OverlayError as exc:
            field = getattr(exc, "field", None)
            raise where.error(path + ((field,) if field else ()), str(exc)) from None
    try:
        return overlay.check()
    except OverlayError as exc:
        raise where.error(("instances",), str(exc)) from None


def as_overlay(overlay):
    """A checked :class:`Overlay` from one, or from the path of its TOML file."""
    if isinstance(overlay, Overlay):
        return overlay.check()
    if isinstance(overlay, str) or hasattr(overlay, "__fspath__"):
        return load_overlay(overlay)
    raise OverlayError(f"overlay must be a hetflow.Overlay or the path of a TOML file, "
                       f"not {overlay!r}")
