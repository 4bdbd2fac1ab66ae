"""An overlay on the Zynq: one AXI IP per instance, DMAs for the unchained ports only.

Each instance of the overlay is its own IP in the block design (so that
PYNQ's ``ip_dict`` has one entry per instance, ``ol.fir0``, ``ol.crc0``),
named after the instance, with its own AXI-Lite register window: the
kernel's registers and an ``out_beats_<port>`` register per *unchained*
output.  A chained port carries no DMA: the producer's wrapper holds the
stream's FIFO (the overlay's depth) before its ``m_axis_<port>``, which the
block design connects straight to the consumer's ``s_axis_<port>``.  The
data between chained instances never reaches memory.

The AXI DMAs serve the *units* the host calls: a chain (its inputs no
stream feeds, its outputs no stream reads) or an instance alone, each with
:func:`hetflow.backends.pynq.dma_plan`'s assignment (engine ``i`` feeds
input ``i``, the outputs return on the last engines), engines numbered
``axi_dma_0``, ``axi_dma_1``, ... unit by unit in the overlay's order.  The
``pipeline`` overlay (FIR -> CRC-32 chained, GEMM alone) has three:
``axi_dma_0`` sends ``fir0.x`` and receives ``crc0.crc``; ``axi_dma_1``
sends ``gemm0.a``; ``axi_dma_2`` sends ``gemm0.b`` and receives ``gemm0.c``.
"""

from ...backends.pynq import dma_plan
from ...hw.overlay import Overlay
from ...hw.shell import Shell
from .hwh import DMA_BASE, DMA_RANGE, KERNEL_BASE, KERNEL_STRIDE, DmaCell, KernelCell
from .layout import AxiLayout

__all__ = ["OverlayLayout"]


class OverlayLayout:
    """The AXI wrappers of an overlay's instances and the DMAs of its units.

    Parameters
    ----------
    overlay : Overlay

    Attributes
    ----------
    name : str
        The block design's name, ``hetflow_<overlay>``.
    layouts : dict of str to AxiLayout
        Each instance's wrapper, by instance name, in the overlay's order.
    units : list of (str, list of (instance, port), list of (instance, port))
        Each chain or lone instance: its name, the inputs a DMA feeds, the
        outputs a DMA reads.
    dmas : list of (str, (instance, port) or None, (instance, port) or None)
        Each AXI DMA: name, MM2S stream, S2MM stream.
    """

    def __init__(self, overlay):
        if not isinstance(overlay, Overlay):
            raise TypeError(f"an Overlay is needed, not {type(overlay).__name__}")
        self.overlay = overlay.check()
        self.name = f"hetflow_{overlay.name}"
        chains = overlay.chains
        in_chain = {n: c for c in chains.values() for n in c.order}
        self.units, seen = [], set()
        for name, inst in overlay.instances.items():
            if name in in_chain:
                chain = in_chain[name]
                if chain.name not in seen:
                    seen.add(chain.name)
                    self.units.append((chain.name, list(chain.inputs), list(chain.outputs)))
            else:
                self.units.append((name, [(name, p.name) for p in inst.ports("in")],
                                   [(name, p.name) for p in inst.ports("out")]))
        self.dmas, assignment = [], {}
        for _, inputs, outputs in self.units:
            port = {key: overlay.instances[key[0]].port(key[1])[1] for key in inputs + outputs}
            by_port = {id(port[key]): key for key in port}
            for src, dst in dma_plan([port[k] for k in inputs], [port[k] for k in outputs]):
                dma = f"axi_dma_{len(self.dmas)}"
                mm2s = by_port[id(src)] if src is not None else None
                s2mm = by_port[id(dst)] if dst is not None else None
                self.dmas.append((dma, mm2s, s2mm))
                if mm2s:
                    assignment[mm2s] = (dma, "sendchannel")
                if s2mm:
                    assignment[s2mm] = (dma, "recvchannel")
        self.layouts = {}
        for name, inst in overlay.instances.items():
            chained = {s.source[1]: s.depth for s in overlay.streams if s.source[0] == name}
            chained.update({s.sink[1]: None for s in overlay.streams if s.sink[0] == name})
            dmas = {port: assignment[(inst_name, port)] for inst_name, port in assignment
                    if inst_name == name}
            self.layouts[name] = AxiLayout(
                inst.kernel_cls, inst.params, instance=name, design=self.name,
                top=f"hetflow_{overlay.name}_{name}_axi", chained=chained, dmas=dmas)

    def shells(self):
        """A fresh :class:`~hetflow.hw.Shell` per instance, by name."""
        return {name: Shell(inst.kernel_cls, **inst.params)
                for name, inst in self.overlay.instances.items()}

    def base(self, name):
        """Physical address of instance ``name``'s register window (the export's)."""
        return KERNEL_BASE + KERNEL_STRIDE * list(self.layouts).index(name)

    def stream_links(self):
        """Every AXI-Stream connection, ``((instance, interface), (instance, interface))``."""
        links = []
        for dma, mm2s, s2mm in self.dmas:
            if mm2s:
                links.append(((dma, "M_AXIS_MM2S"), (mm2s[0], f"s_axis_{mm2s[1]}")))
            if s2mm:
                links.append(((s2mm[0], f"m_axis_{s2mm[1]}"), (dma, "S_AXIS_S2MM")))
        for s in self.overlay.streams:
            links.append(((s.source[0], f"m_axis_{s.source[1]}"),
                          (s.sink[0], f"s_axis_{s.sink[1]}")))
        return links

    def cells(self, registers):
        """``(kernel cells, DMA cells)`` of the block design for :func:`~.hwh.handoff_xml`.

        ``registers(layout)`` gives an instance's PYNQ register descriptions.
        """
        kernels = [KernelCell(name, lay.vlnv, self.base(name), lay.window, lay.addr_width,
                              lay.ip_parameters(), registers(lay),
                              tuple((s.axis, s.direction, s.tdata_width) for s in lay.streams))
                   for name, lay in self.layouts.items()]
        dmas = []
        for i, (dma, mm2s, s2mm) in enumerate(self.dmas):
            widths = [self.layouts[key[0]].stream(key[1]).tdata_width if key else None
                      for key in (mm2s, s2mm)]
            dmas.append(DmaCell(dma, DMA_BASE + i * DMA_RANGE, *widths))
        return kernels, dmas
