"""The AXI wrapper of one kernel instance as seen from outside: streams, address map, DMA plan."""

from dataclasses import dataclass

from .constants import DMA_STREAM_WIDTHS, IP_LIBRARY, IP_VENDOR, IP_VERSION, MIN_ADDR_WIDTH
from .errors import ExportError
from .hwh import pynq_registers


def fifo_parameter(port):
    """Name of the IP parameter holding the FIFO depth of chained output ``port``."""
    return f"HETFLOW_FIFO_{port.upper()}"


def tdata_width(bits):
    """Width of the TDATA that carries a ``bits``-wide payload.

    Padded to whole bytes (AXI4-Stream) and further to a width the AXI DMA
    supports (a power of two, 8..1024), so that a DMA connects without a
    width converter; the padding bits of a beat are zero (out) or ignored (in).
    """
    for w in DMA_STREAM_WIDTHS:
        if bits <= w:
            return w
    raise ExportError(f"a {bits}-bit stream is wider than the AXI DMA allows "
                      f"({DMA_STREAM_WIDTHS[-1]} bits); use fewer lanes")


@dataclass(frozen=True)
class Stream:
    """One kernel stream as an AXI4-Stream interface and the DMA channel that serves it.

    Attributes
    ----------
    port : Port
        The kernel's port description.
    direction : str
        ``"in"`` (host memory -> kernel, DMA MM2S) or ``"out"`` (kernel -> memory, S2MM).
    axis : str
        Interface name: ``s_axis_<port>`` or ``m_axis_<port>``.
    tdata_width : int
        TDATA bits (payload ``port.width`` bits, zero-padded).
    dma : str
        Block-design instance name of the AXI DMA.
    channel : str
        PYNQ's name for the DMA channel: ``"sendchannel"`` or ``"recvchannel"``.
    out_beats_offset : int or None
        Byte offset of the ``out_beats_<port>`` register (unchained outputs only).
    fifo_depth : int or None
        Chained outputs: beats of the stream's FIFO inside the wrapper.
    """

    port: object
    direction: str
    axis: str
    tdata_width: int
    dma: str
    channel: str
    out_beats_offset: int = None
    fifo_depth: int = None

    @property
    def chained(self):
        """Fed or read by another instance on the fabric, not by a DMA."""
        return self.dma is None

    @property
    def beat_bytes(self):
        return self.tdata_width // 8

    @property
    def out_beats_register(self):
        return f"out_beats_{self.port.name}" if self.out_beats_offset is not None else None


class AxiLayout:
    """Address map and interfaces of the AXI wrapper of one kernel instance.

    Parameters
    ----------
    kernel_cls : Kernel subclass
    params : Params
        Bound elaboration parameters (``kernel_cls.bind(...)``).
    instance : str, optional
        Block-design instance name; default ``hetflow_<kernel>_0``.
    top : str, optional
        Verilog module and IP name; default ``hetflow_<kernel>_axi``.
    design : str, optional
        The block design's name; default ``hetflow_<kernel>``.
    chained : dict, optional
        Ports fed or read by another instance of an overlay, not by a DMA:
        ``{port name: FIFO depth}`` for a chained output (the wrapper puts the
        stream's FIFO before ``m_axis_<port>``, and it has no ``out_beats``
        register nor TLAST), ``{port name: None}`` for a chained input.
    dmas : dict, optional
        ``{port name: (DMA instance, channel)}`` of the unchained ports; by
        default :func:`hetflow.backends.pynq.dma_plan`'s assignment to
        ``axi_dma_0``, ``axi_dma_1``, ...
    """

    def __init__(self, kernel_cls, params, *, instance=None, top=None, design=None,
                 chained=None, dmas=None):
        self.kernel_cls = kernel_cls
        self.params = params
        self.name = kernel_cls.name
        self.regmap = kernel_cls.regmap(params)
        self.top = top or f"hetflow_{self.name}_axi"
        self.instance = instance or f"hetflow_{self.name}_0"
        self.overlay = design or f"hetflow_{self.name}"
        self.vlnv = f"{IP_VENDOR}:{IP_LIBRARY}:{self.top}:{IP_VERSION}"
        self.chained = dict(chained or {})
        ins, outs = kernel_cls.inputs(params), kernel_cls.outputs(params)
        if dmas is None:
            # The engine assignment of the pynq backend (hetflow.backends.pynq.dma_plan):
            # engine i feeds input i; the outputs return on the last engines.
            n = max(len(ins), len(outs))
            dmas = {port.name: (f"axi_dma_{i}", "sendchannel") for i, port in enumerate(ins)}
            dmas.update({port.name: (f"axi_dma_{n - len(outs) + j}", "recvchannel")
                         for j, port in enumerate(outs)})
        streams = []
        for port in ins:
            dma, channel = (None, None) if port.name in self.chained else dmas[port.name]
            streams.append(Stream(port, "in", f"s_axis_{port.name}", tdata_width(port.width),
                                  dma, channel))
        base = self.regmap.size
        counted = [port for port in outs if port.name not in self.chained]
        for port in outs:
            if port.name in self.chained:
                streams.append(Stream(port, "out", f"m_axis_{port.name}",
                                      tdata_width(port.width), None, None, None,
                                      self.chained[port.name]))
            else:
                dma, channel = dmas[port.name]
                streams.append(Stream(port, "out", f"m_axis_{port.name}",
                                      tdata_width(port.width), dma, channel,
                                      base + 4 * counted.index(port)))
        self.streams = tuple(streams)
        self.dmas = sorted({s.dma for s in streams if s.dma},
                           key=lambda d: int(d.rsplit("_", 1)[1]))
        end = base + 4 * len(counted)
        self.addr_width = max(MIN_ADDR_WIDTH, (end - 1).bit_length())
        self.window = 1 << self.addr_width

    def ip_parameters(self):
        """The wrapper's IP parameters, ``{name: value string}``.

        ``package_ip.tcl`` gives the IP these (fixed), so they reach the
        ``.hwh``: ``HETFLOW_KERNEL`` (the kernel's name), ``HETFLOW_ID`` (its
        ``id`` register) and ``HETFLOW_<PARAM>`` per elaboration parameter,
        which the ``pynq`` backend checks against the kernel a script asks for;
        and ``HETFLOW_FIFO_<PORT>`` per chained output, the depth of the stream's
        FIFO inside the wrapper, so that a handoff describes the whole overlay.
        """
        params = {"HETFLOW_KERNEL": self.name, "HETFLOW_ID": f"0x{self.regmap.kernel_id:08x}"}
        params.update({f"HETFLOW_{k.upper()}": str(v) for k, v in self.params.items()})
        params.update({fifo_parameter(s.port.name): str(s.fifo_depth) for s in self.streams
                       if s.chained and s.fifo_depth is not None})
        return params

    @property
    def inputs(self):
        """Input streams a DMA feeds (the unchained ones)."""
        return tuple(s for s in self.streams if s.direction == "in" and not s.chained)

    @property
    def outputs(self):
        """Output streams a DMA reads (the unchained ones), each with an ``out_beats`` register."""
        return tuple(s for s in self.streams if s.direction == "out" and not s.chained)

    def register_descriptions(self):
        """Every register of the wrapper as PYNQ describes it (name -> ``address_offset``,
        ``size``, ``access``, ``description``, ``fields``): the kernel's and the
        ``out_beats`` ones.  ``package_ip.tcl`` declares them, so they reach the ``.hwh``."""
        registers = pynq_registers(self.regmap.to_dict())
        for s in self.outputs:
            registers[s.out_beats_register] = {
                "address_offset": s.out_beats_offset, "size": 32, "access": "read-write",
                "fields": {}, "description": f"beats the next job produces on "
                                             f"'{s.port.name}'; TLAST marks the last"}
        return registers

    def stream(self, port):
        """The :class:`Stream` of port ``port``."""
        return next(s for s in self.streams if s.port.name == port)

    def kernel_words(self):
        """Word addresses of every register of the kernel's own map."""
        return sorted((r.offset >> 2) + i for r in self.regmap for i in range(r.count))

    def dma_channels(self, dma):
        """``(mm2s stream or None, s2mm stream or None)`` of DMA instance ``dma``."""
        mm2s = next((s for s in self.inputs if s.dma == dma), None)
        s2mm = next((s for s in self.outputs if s.dma == dma), None)
        return mm2s, s2mm
