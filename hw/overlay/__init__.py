"""Overlays: several kernel instances in one design, chained by on-fabric streams.

:class:`Overlay` describes a design (instances and streams) in Python or, via
:func:`load_overlay`, in a TOML file; :mod:`.chain` says what a chain of
instances computes (the jobs the host programs, the composed golden models).
"""

from .chain import compose, derive_jobs
from .description import DEFAULT_DEPTH, Chain, Instance, Overlay, OverlayError, Stream
from .tomlfile import as_overlay, load_overlay, parse_overlay

__all__ = ["Overlay", "Instance", "Stream", "Chain", "OverlayError", "DEFAULT_DEPTH",
           "load_overlay", "parse_overlay", "as_overlay", "compose", "derive_jobs"]
