"""Where a design's instances, registers and streams appear to the host, on every board.

A board carries a *design*: one kernel, or an :class:`~hetflow.hw.overlay.Overlay`
of several instances chained by on-fabric streams.  Every board that speaks
the transaction protocol (:mod:`hetflow.link.protocol`) -- the virtual
board, the SoC behind its bridge, served or on a real board -- shows a design
to the host the same way, and :class:`BoardMap` is that view:

* **Register space.**  The byte offsets of ``REG_WRITE`` / ``REG_READ``.
  Instance ``k`` (in the overlay's order) has its kernel's register window at
  ``k * INSTANCE_STRIDE``.  An overlay's manifest
  (:mod:`hetflow.hw.overlay.manifest`) is read-only words at
  :data:`MANIFEST_BASE`; PING's register window size is then
  ``MANIFEST_BASE`` plus the manifest's bytes.  A single kernel is the one
  instance at 0 with no manifest, so its register space is its window, as
  it always was.
* **DMA channels.**  Numbered instance by instance in the overlay's order;
  within an instance its *unchained* inputs in port order, then its
  unchained outputs.  A chained port has no channel: its beats go from FIFO
  to kernel and never reach memory.  For a single kernel this is the old
  numbering (inputs first, then outputs).
* **RUN.**  ``RUN`` is done when every instance started since the last
  ``RESET`` (its ``ctrl`` written with the start bit) has its done bit set
  and every DMA channel has moved all its beats.
"""

from dataclasses import dataclass
from functools import cached_property

from ..hw.errors import HetflowError
from ..hw.overlay.manifest import encode_manifest
from .protocol import beat_stride

__all__ = ["BoardMap", "Channel", "Unit", "KernelView", "design_of", "INSTANCE_STRIDE", "MANIFEST_BASE", "MAX_INSTANCES",
           "channels"]

#: Bytes between two instances' register windows (a kernel's window is at most this).
INSTANCE_STRIDE = 0x1000
#: Byte offset of an overlay's manifest words in the register space.
MANIFEST_BASE = 0x80000
#: Instances a design may hold: their windows must end below the manifest.
MAX_INSTANCES = MANIFEST_BASE // INSTANCE_STRIDE


@dataclass(frozen=True)
class Channel:
    """One DMA channel: ``index``, port, direction, payload ``width`` and memory ``stride``.

    ``unit`` names the instance whose port it feeds or reads.
    """

    index: int
    port: object
    output: bool
    unit: str = None

    # Cached: a job's layout asks for them on every call.
    @cached_property
    def width(self):
        return self.port.width

    @cached_property
    def nbytes(self):
        return -(-self.port.width // 8)

    @cached_property
    def stride(self):
        return beat_stride(self.port.width)

    @cached_property
    def words(self):
        """Memory words a beat takes (a sub-word beat still costs one access)."""
        return max(1, self.stride // 4)

    @cached_property
    def info(self):
        """The DMA channel's INFO register: bit 0 output, bits 8-15 stride, 16-31 width."""
        return int(self.output) | (self.stride << 8) | (self.width << 16)


def channels(kernel, unit=None, first=0, inputs=None, outputs=None):
    """DMA channels of a kernel instance: inputs first in port order, then outputs.

    ``inputs`` / ``outputs`` (default: all of the kernel's) are the ports that
    get a channel; numbering starts at ``first``.
    """
    inputs = kernel.in_ports if inputs is None else inputs
    outputs = kernel.out_ports if outputs is None else outputs
    out = [Channel(first + i, port, False, unit) for i, port in enumerate(inputs)]
    out += [Channel(first + len(out) + i, port, True, unit) for i, port in enumerate(outputs)]
    return out


def design_of(content):
    """The :class:`~hetflow.hw.overlay.Overlay` a manifest describes (``content`` as
    :meth:`BoardMap.describe` gives it): what a host rebuilds from the board alone.

    A kernel the manifest names must be importable here (a built-in or an
    installed plug-in); otherwise the error says which.
    """
    from ..hw.overlay import Overlay

    try:
        overlay = Overlay(content["design"])
        for inst in content["instances"]:
            overlay.add(inst["name"], inst["kernel"], **inst["params"])
        for stream in content["streams"]:
            overlay.connect(stream["from"], stream["to"], depth=stream["depth"],
                            reinterpret=stream["reinterpret"])
    except (KeyError, TypeError) as exc:
        raise HetflowError(f"the board's manifest does not describe a design ({exc!r} is "
                           f"missing or malformed); rebuild the bitstream with this "
                           f"hetflow") from None
    return overlay.check()


@dataclass(frozen=True)
class KernelView:
    """What the host sees of a kernel instance -- name, parameters, register map, ports --
    without its hardware (a :class:`~hetflow.hw.Shell` is an elaboratable, which Amaranth
    expects to be elaborated)."""

    name: str
    kernel_cls: type
    p: object
    map: object
    in_ports: tuple
    out_ports: tuple

    @classmethod
    def of(cls, kernel_cls, params):
        p = kernel_cls.bind(**params)
        return cls(kernel_cls.name, kernel_cls, p, kernel_cls.memo("regmap", p),
                   kernel_cls.memo("inputs", p), kernel_cls.memo("outputs", p))


@dataclass(frozen=True)
class Unit:
    """One instance as the host sees it: its shell, register ``base`` and DMA channels."""

    name: str
    kernel: object
    base: int
    channels: tuple

    @property
    def size(self):
        """Bytes of the instance's register window."""
        return self.kernel.map.size

    def offset(self, register):
        """Byte offset in the board's register space of the instance's ``register``."""
        return self.base + self.kernel.map[register].offset


class BoardMap:
    """The host's view of a design (see the module doc).

    Parameters
    ----------
    design : Overlay or Shell
        An overlay, or a single kernel's shell (the trivial design).
    shells : dict of str to Shell, optional
        The overlay's shells by instance name, when the caller has made them
        already (an :class:`~hetflow.hw.overlay.fabric.OverlayFabric`'s);
        otherwise each unit holds a :class:`KernelView` (no hardware is made).

    Attributes
    ----------
    units : dict of str to Unit
        The instances in the overlay's order.
    channels : tuple of Channel
        Every DMA channel, by index.
    overlay : Overlay or None
        The overlay, or None for a single kernel.
    """

    def __init__(self, design, shells=None):
        from ..hw.overlay import Overlay

        if isinstance(design, Overlay):
            overlay = design.check()
            if len(overlay.instances) > MAX_INSTANCES:
                raise HetflowError(f"{overlay.name}: {len(overlay.instances)} instances; a "
                                   f"board has register windows for at most {MAX_INSTANCES}")
            if shells is None:
                shells = {name: KernelView.of(inst.kernel_cls, inst.params)
                          for name, inst in overlay.instances.items()}
            chained = ({s.source for s in overlay.streams}
                       | {s.sink for s in overlay.streams})
            self.overlay, units, index = overlay, {}, 0
            for k, name in enumerate(overlay.instances):
                shell = shells[name]
                if shell.map.size > INSTANCE_STRIDE:
                    raise HetflowError(f"{name}: register window of {shell.map.size} bytes is "
                                       f"larger than the {INSTANCE_STRIDE:#x} bytes an "
                                       f"instance has")
                own = channels(shell, name, index,
                               [p for p in shell.in_ports if (name, p.name) not in chained],
                               [p for p in shell.out_ports if (name, p.name) not in chained])
                units[name] = Unit(name, shell, k * INSTANCE_STRIDE, tuple(own))
                index += len(own)
        else:
            self.overlay = None
            units = {design.name: Unit(design.name, design, 0, tuple(channels(design,
                                                                              design.name)))}
        self.units = units
        self.channels = tuple(ch for unit in units.values() for ch in unit.channels)

    @property
    def name(self):
        return self.overlay.name if self.overlay is not None else next(iter(self.units))

    def unit(self, name):
        """The :class:`Unit` of instance ``name``; a one-line error lists the instances."""
        try:
            return self.units[name]
        except KeyError:
            raise HetflowError(f"{self.name} has no instance {name!r}; it has "
                               f"{', '.join(self.units)}") from None

    @cached_property
    def manifest(self):
        """The manifest's ROM words (a list of ints), or ``[]`` for a single kernel."""
        if self.overlay is None:
            return []
        return encode_manifest(self.describe())

    @cached_property
    def register_space(self):
        """Bytes of register space the host may address (PING's register window size)."""
        if self.overlay is None:
            return next(iter(self.units.values())).size
        return MANIFEST_BASE + 4 * len(self.manifest)

    def describe(self):
        """The design as a JSON-able dict: what the manifest carries."""
        instances = []
        for name, unit in self.units.items():
            inst = self.overlay.instances[name] if self.overlay is not None else None
            instances.append({
                "name": name,
                "kernel": unit.kernel.name,
                "params": dict(inst.params) if inst is not None else dict(unit.kernel.p),
                "base": unit.base,
                "size": unit.size,
                "channels": [[ch.index, ch.port.name, "out" if ch.output else "in"]
                             for ch in unit.channels],
            })
        streams = [] if self.overlay is None else [
            {"from": ".".join(s.source), "to": ".".join(s.sink), "depth": s.depth,
             "reinterpret": bool(s.reinterpret)} for s in self.overlay.streams]
        return {"design": self.name, "instances": instances, "streams": streams}
