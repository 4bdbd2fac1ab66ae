"""An overlay: kernel instances and the streams that chain them on the fabric.

An :class:`Overlay` is what a design holds: named instances of kernels, each
with its elaboration parameters (two instances of one kernel are allowed),
and stream connections from an output port of one instance to an input port
of another, each with a FIFO depth.  It is the unit the flow simulates,
builds and drives; a single kernel is the trivial overlay
(:meth:`Overlay.single`).

Instances linked by streams form a :class:`Chain`: the host calls it as one
function, feeding the inputs no stream feeds and reading the outputs no
stream reads, and the intermediate data never leaves the fabric.

Every check names the mistake, the value and what to do, in one line; an
overlay read from a TOML file (:func:`~hetflow.hw.overlay.tomlfile.load_overlay`)
prefixes it with ``file:line``.
"""

import keyword
from dataclasses import dataclass, field

from ..errors import KernelNotFound, OverlayError, ParamError
from ..registry import get_kernel
from .chain import check_derivable

__all__ = ["Overlay", "Instance", "Stream", "Chain", "OverlayError", "DEFAULT_DEPTH",
           "RESERVED_NAMES"]

#: FIFO depth (beats) of a stream whose description gives none.
DEFAULT_DEPTH = 16
#: Largest FIFO depth a stream may ask for (beats).
MAX_DEPTH = 4096
#: Names a device already uses for its own API, so no instance or chain may take them.
RESERVED_NAMES = frozenset({"kernel", "kernels", "chain", "chains", "allocate", "close",
                            "closed", "name", "overlay", "instance"})


def _stream_error(field, message):
    """An :class:`OverlayError` about a stream's ``field`` (``from``, ``to``, ``depth``, ...)."""
    error = OverlayError(message)
    error.field = field
    return error


@dataclass(frozen=True)
class Instance:
    """One kernel instance: its name, kernel class and validated parameters."""

    name: str
    kernel_cls: type
    params: dict

    @property
    def kernel(self):
        return self.kernel_cls.name

    def ports(self, direction):
        """Input (``"in"``) or output (``"out"``) :class:`~hetflow.hw.spec.Port` tuple."""
        what = "inputs" if direction == "in" else "outputs"
        return self.kernel_cls.memo(what, self.params)

    def port(self, name):
        """``(direction, Port)`` of port ``name``, or None."""
        for direction in ("in", "out"):
            for port in self.ports(direction):
                if port.name == name:
                    return direction, port
        return None

    def describe(self):
        return {"name": self.name, "kernel": self.kernel, "params": dict(self.params)}


@dataclass(frozen=True)
class Stream:
    """An on-fabric stream from ``source`` (instance, output port) to ``sink`` (instance, input).

    ``reinterpret`` says the sink takes the source's bytes as its own element
    type (``int32`` into ``uint8`` x 4: each int32's bytes, least significant
    first); without it the element types must be equal.
    """

    source: tuple
    sink: tuple
    depth: int = DEFAULT_DEPTH
    reinterpret: bool = False

    def __str__(self):
        return f"{'.'.join(self.source)} -> {'.'.join(self.sink)}"

    def describe(self):
        return {"from": ".".join(self.source), "to": ".".join(self.sink), "depth": self.depth,
                "reinterpret": self.reinterpret}


@dataclass(frozen=True)
class Chain:
    """Instances linked by streams, called as one function.

    ``order`` lists the instances so that every stream goes forward;
    ``inputs`` / ``outputs`` are the ``(instance, port)`` pairs no stream
    feeds or reads: what the host gives and gets back.
    """

    name: str
    order: tuple
    streams: tuple
    inputs: tuple
    outputs: tuple


@dataclass
class Overlay:
    """A design: kernel instances and the streams between them.

    Build one in Python::

        ov = Overlay("pipeline")
        ov.add("fir0", "fir", taps=16)
        ov.add("crc0", "crc32", lanes=4)
        ov.connect("fir0.y", "crc0.data", depth=32, reinterpret=True)

    or read one from TOML with :func:`~hetflow.hw.overlay.load_overlay`.
    Each method checks what it is given and raises :class:`OverlayError`.
    """

    name: str = "overlay"
    instances: dict = field(default_factory=dict)
    streams: list = field(default_factory=list)

    @classmethod
    def single(cls, kernel, **params):
        """The trivial overlay: one instance of ``kernel`` named after it."""
        overlay = cls(get_kernel(kernel).name)
        overlay.add(overlay.name, kernel, **params)
        return overlay

    # ---- building ---------------------------------------------------------------------

    def add(self, name, kernel, **params):
        """Add an instance ``name`` of ``kernel`` (a registry name, module path or class)."""
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise OverlayError(f"instance name {name!r} is not a Python identifier; name "
                               f"instances like fir0 or crc_a")
        if name in RESERVED_NAMES or name.startswith("_"):
            raise OverlayError(f"instance name '{name}' is taken by the device API; choose "
                               f"another (reserved: {', '.join(sorted(RESERVED_NAMES))})")
        if name in self.instances:
            raise OverlayError(f"instance '{name}' is defined twice; give each instance its "
                               f"own name (fir0, fir1, ...)")
        try:
            kernel_cls = get_kernel(kernel)
            p = kernel_cls.bind(**params)
        except (KernelNotFound, ParamError) as exc:
            raise OverlayError(f"instance '{name}': {exc}") from None
        self.instances[name] = Instance(name, kernel_cls, p)
        return self.instances[name]

    def connect(self, source, sink, depth=DEFAULT_DEPTH, reinterpret=False):
        """Stream output ``"inst.port"`` into input ``"inst.port"`` on the fabric."""
        src = self._endpoint(source, "out", "from")
        dst = self._endpoint(sink, "in", "to")
        what = f"{source} -> {sink}"
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise _stream_error("depth", f"stream {what}: depth = {depth!r} must be a whole number of "
                               f"beats from 1 to {MAX_DEPTH}")
        if not isinstance(reinterpret, bool):
            raise _stream_error("reinterpret", f"stream {what}: reinterpret = {reinterpret!r} must be true or "
                               f"false")
        for stream in self.streams:
            if stream.source == src:
                raise _stream_error("from", f"stream {what}: output {source} is already connected "
                                   f"({stream}); an output feeds one input")
            if stream.sink == dst:
                raise _stream_error("to", f"stream {what}: input {sink} is already fed ({stream}); "
                                   f"an input takes one stream")
        out_port = self.instances[src[0]].port(src[1])[1]
        in_port = self.instances[dst[0]].port(dst[1])[1]
        if out_port.width != in_port.width:
            raise _stream_error(
                None, f"stream {what}: beats differ, {source} is {out_port.width} bits "
                f"({out_port.lanes} x {out_port.dtype}) and {sink} is {in_port.width} bits "
                f"({in_port.lanes} x {in_port.dtype}); choose parameters that make them equal")
        if out_port.dtype != in_port.dtype and not reinterpret:
            raise _stream_error(
                None, f"stream {what}: element types differ, {source} is {out_port.dtype} and "
                f"{sink} is {in_port.dtype}; add reinterpret = true to take the bytes of "
                f"{out_port.dtype} as {in_port.dtype}")
        stream = Stream(src, dst, depth, reinterpret)
        if self._reaches(dst[0], src[0], extra=stream):
            raise _stream_error(None, f"stream {what} closes a loop ({' -> '.join(self._path(dst[0], src[0]))}"
                               f" -> {dst[0]}); streams must not lead back to an instance")
        try:
            check_derivable(self, stream)
        except OverlayError as exc:
            raise _stream_error("to", str(exc)) from None
        self.streams.append(stream)
        return stream

    def _endpoint(self, text, direction, role):
        if not isinstance(text, str) or text.count(".") != 1:
            raise _stream_error(role, f"stream {role} = {text!r} must name a port as 'instance.port', "
                               f"e.g. 'fir0.y'")
        inst_name, port_name = text.split(".")
        if inst_name not in self.instances:
            known = ", ".join(self.instances) or "none yet"
            raise _stream_error(role, f"stream {role} = '{text}': no instance '{inst_name}'; "
                               f"instances are: {known}")
        inst = self.instances[inst_name]
        found = inst.port(port_name)
        ports = ", ".join(f"{p.name} ({'input' if d == 'in' else 'output'})"
                          for d in ("in", "out") for p in inst.ports(d))
        if found is None:
            raise _stream_error(role, f"stream {role} = '{text}': {inst.kernel} has no port "
                               f"'{port_name}'; its ports are: {ports}")
        if found[0] != direction:
            kind = "an input" if found[0] == "in" else "an output"
            raise _stream_error(role, f"stream {role} = '{text}': {text} is {kind}; a stream goes from "
                               f"an output to an input")
        return inst_name, port_name

    # ---- structure --------------------------------------------------------------------

    def _successors(self, name, extra=None):
        streams = self.streams + ([extra] if extra else [])
        return [s.sink[0] for s in streams if s.source[0] == name]

    def _reaches(self, start, goal, extra=None):
        return self._path(start, goal, extra) is not None

    def _path(self, start, goal, extra=None):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            if node in seen:
                continue
            seen.add(node)
            stack.extend((n, path + [n]) for n in self._successors(node, extra))
        return None

    def chained(self, name):
        """Whether instance ``name`` is linked to another by a stream."""
        return any(name in (s.source[0], s.sink[0]) for s in self.streams)

    @property
    def chains(self):
        """The :class:`Chain` of every group of instances linked by streams, by name.

        A chain is named after its instances in stream order, joined by ``_``
        (``fir0_crc0``).
        """
        groups, seen = [], set()
        for name in self.instances:
            if name in seen or not self.chained(name):
                continue
            group, todo = set(), [name]
            while todo:
                node = todo.pop()
                if node not in group:
                    group.add(node)
                    todo += [s.sink[0] for s in self.streams if s.source[0] == node]
                    todo += [s.source[0] for s in self.streams if s.sink[0] == node]
            seen |= group
            groups.append(group)
        return {chain.name: chain for chain in (self._chain(g) for g in groups)}

    def _chain(self, group):
        order, placed = [], set()
        while len(order) < len(group):      # instances in definition order, streams forward
            for name in self.instances:
                if name in group and name not in placed and all(
                        s.source[0] in placed for s in self.streams if s.sink[0] == name):
                    order.append(name)
                    placed.add(name)
                    break
        streams = tuple(s for s in self.streams if s.source[0] in group)
        fed = {s.sink for s in streams}
        read = {s.source for s in streams}
        inputs = tuple((n, p.name) for n in order for p in self.instances[n].ports("in")
                       if (n, p.name) not in fed)
        outputs = tuple((n, p.name) for n in order for p in self.instances[n].ports("out")
                        if (n, p.name) not in read)
        return Chain("_".join(order), tuple(order), streams, inputs, outputs)

    def check(self):
        """Whole-design checks: at least one instance, and no name taken twice."""
        if not self.instances:
            raise OverlayError(f"overlay '{self.name}' has no instances; add one (fir0 = "
                               f"{{ kernel = \"fir\" }} under [instances])")
        for name in self.chains:
            if name in self.instances or name in RESERVED_NAMES:
                raise OverlayError(f"chain '{name}' has the name of an instance; rename one "
                                   f"of its instances")
        return self

    def describe(self):
        """The overlay as JSON-able data (what a manifest carries)."""
        return {"name": self.name,
                "instances": [inst.describe() for inst in self.instances.values()],
                "streams": [s.describe() for s in self.streams],
                "chains": {name: list(c.order) for name, c in self.chains.items()}}
