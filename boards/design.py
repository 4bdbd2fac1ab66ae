"""What a board build carries: one kernel with its parameters, or an overlay.

:class:`BuildDesign` is the one place that knows the difference for a build:
its name (cache and output directories), its label (messages), the
elaboratable design the SoC takes, what ``report.json`` says about it, and
which of the build's components are its kernel instances (the rest of the
cells are the shell, :mod:`hetflow.boards.components`).
"""

from ..hw.errors import HetflowError
from ..hw.overlay import Overlay, load_overlay
from ..hw.registry import get_kernel
from ..hw.shell import Shell

__all__ = ["BuildDesign", "fitting_phrase"]

#: Resource (nextpnr cell type) -> the per-component field that counts it.
_RESOURCE_FIELDS = {"ICESTORM_LC": "lc", "TRELLIS_COMB": "lc", "TRELLIS_SLICE": "lc",
                    "TRELLIS_FF": "ff", "ICESTORM_RAM": "bram", "DP16KD": "bram",
                    "ICESTORM_DSP": "dsp", "MULT18X18D": "dsp"}


def _params_text(params):
    return ", ".join(f"{k}={v}" for k, v in params.items())


class BuildDesign:
    """A kernel (``kernel`` and ``params``) or an ``overlay`` (an Overlay or a TOML path).

    Attributes
    ----------
    name : str
        The kernel's or the overlay's name.
    overlay : Overlay or None
    kernel_cls : type or None
        The kernel class (None for an overlay).
    params : dict
        The kernel's bound parameters (empty for an overlay).
    """

    def __init__(self, kernel=None, params=None, overlay=None):
        if overlay is not None:
            if kernel is not None or params:
                given = "KERNEL" if kernel is not None else "--param"
                raise HetflowError(f"--overlay builds the instances its file lists; drop "
                                   f"{given}")
            self.overlay = (overlay if isinstance(overlay, Overlay)
                            else load_overlay(overlay)).check()
            self.kernel_cls, self.params, self.name = None, {}, self.overlay.name
        else:
            if kernel is None:
                raise HetflowError("name a KERNEL to build, or an overlay with --overlay FILE")
            self.overlay = None
            self.kernel_cls = get_kernel(kernel)
            self.params = self.kernel_cls.bind(**(params or {}))
            self.name = self.kernel_cls.name

    @property
    def label(self):
        """``crc32(lanes=1)``, or ``overlay pipeline``, for messages."""
        if self.overlay is not None:
            return f"overlay {self.name}"
        params = _params_text(self.params)
        return f"{self.name}({params})" if params else self.name

    @property
    def dir_parts(self):
        """The parts of its default output directory's name before the board's."""
        return [self.name] + [f"{k}{v}" for k, v in self.params.items()]

    @property
    def instances(self):
        """The build components that are kernel instances: ``("kernel",)`` or the overlay's."""
        return ("kernel",) if self.overlay is None else tuple(self.overlay.instances)

    def make(self):
        """The design the SoC takes: a fresh Shell, or the Overlay."""
        if self.overlay is not None:
            return self.overlay
        return Shell(self.kernel_cls, **self.params)

    def report_fields(self):
        """What ``report.json`` says about the design.

        A kernel: ``kernel`` and ``params``.  An overlay: ``kernel`` None,
        ``params`` empty, and ``overlay``: its ``name``, its ``instances`` (name
        -> kernel and parameters, in order) and its ``streams``.
        """
        if self.overlay is None:
            return {"kernel": self.name, "params": dict(self.params)}
        return {"kernel": None, "params": {}, "overlay": {
            "name": self.name,
            "instances": {name: {"kernel": inst.kernel_cls.name, "params": dict(inst.params)}
                          for name, inst in self.overlay.instances.items()},
            "streams": [{"from": ".".join(s.source), "to": ".".join(s.sink), "depth": s.depth,
                         "reinterpret": bool(s.reinterpret)} for s in self.overlay.streams]}}


def fitting_phrase(resource, components, instances):
    """Which instances take most of an overused ``resource`` (a nextpnr cell type).

    ``"fir0 2,417, gemm0 1,120, crc0 610, the shell 2,601"`` from the build's
    per-component split, or ``None`` when the split does not count it.
    """
    field = _RESOURCE_FIELDS.get(resource)
    if field is None or not components:
        return None
    own = sorted(((components.get(name, {}).get(field, 0), name) for name in instances),
                 reverse=True)
    shell = sum(c.get(field, 0) for name, c in components.items() if name not in instances)
    parts = [f"{name} {count:,}" for count, name in own if count]
    return ", ".join(parts + [f"the shell {shell:,}"]) if parts else None
