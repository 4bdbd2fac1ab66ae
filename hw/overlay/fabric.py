"""An overlay's instances on the fabric: their shells and the FIFOs that chain them.

:class:`OverlayFabric` is the part of a design that depends on the overlay
and on nothing of the board: one :class:`~hetflow.hw.Shell` per instance and
one :class:`StreamFIFO` per stream.  Its signature has one member per
instance, named after it, holding that instance's register bus ``csr`` and
its *unchained* stream ports; a chained port has no member, since its beats
go from FIFO to shell and never reach the host.  Whatever carries the host's
side (the board SoC's address decode and DMA, the virtual board, the Zynq
wrapper) connects to those members only::

    fabric = OverlayFabric(overlay)
    fabric.gemm0.csr        # In(CSRSignature): gemm0's register window
    fabric.fir0.x           # In(stream.Signature): fir0's input, fed by a DMA channel
    fabric.crc0.crc         # Out(stream.Signature): crc0's result, read by a DMA channel
"""

from amaranth.hdl import Module, Shape
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..shell import Shell

__all__ = ["OverlayFabric", "StreamFIFO"]


class StreamFIFO(wiring.Component):
    """A synchronous FIFO between two stream ports of equal width.

    The payload passes as its bits, so the two sides may have different
    layouts (``int32`` into ``uint8`` x 4): that is what a stream's
    ``reinterpret`` means on the wire.

    Parameters
    ----------
    source_layout, sink_layout : shape-castable
        Payload layouts of the writing and the reading side.
    depth : int
        Beats the FIFO holds.

    Members
    -------
    w : In(stream.Signature(source_layout))
    r : Out(stream.Signature(sink_layout))
    """

    def __new__(cls, source_layout, sink_layout, depth):
        # Checked before the object exists, so a refused FIFO leaves no unused elaboratable.
        widths = Shape.cast(source_layout).width, Shape.cast(sink_layout).width
        if widths[0] != widths[1]:
            raise ValueError(f"a StreamFIFO joins payloads of equal width, not {widths[0]} "
                             f"and {widths[1]} bits")
        return super().__new__(cls)

    def __init__(self, source_layout, sink_layout, depth):
        self.depth = depth
        self.width = Shape.cast(source_layout).width
        super().__init__({"w": In(stream.Signature(source_layout)),
                          "r": Out(stream.Signature(sink_layout))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buffer = fifo.SyncFIFOBuffered(width=self.width, depth=self.depth)
        m.d.comb += [
            buffer.w_data.eq(self.w.payload),
            buffer.w_en.eq(self.w.valid),
            self.w.ready.eq(buffer.w_rdy),
            self.r.payload.eq(buffer.r_data),
            self.r.valid.eq(buffer.r_rdy),
            buffer.r_en.eq(self.r.ready),
        ]
        return m


class OverlayFabric(wiring.Component):
    """The shells of an overlay's instances, chained by FIFOs (see the module doc).

    Parameters
    ----------
    overlay : Overlay

    Attributes
    ----------
    shells : dict of str to Shell
        Each instance's shell, by instance name.
    """

    def __init__(self, overlay):
        self.overlay = overlay.check()
        self.shells = {name: Shell(inst.kernel_cls, **inst.params)
                       for name, inst in overlay.instances.items()}
        chained = {s.source for s in overlay.streams} | {s.sink for s in overlay.streams}
        members = {}
        for name, shell in self.shells.items():
            own = {port: member for port, member in shell.signature.members.items()
                   if (name, port) not in chained}
            members[name] = Out(wiring.Signature(own))
        super().__init__(members)

    def host_ports(self, name):
        """``(inputs, outputs)``: the :class:`~hetflow.hw.spec.Port` tuples of instance
        ``name`` that the host feeds and reads (its unchained stream ports)."""
        shell = self.shells[name]
        own = self.signature.members[name].signature.members
        return (tuple(p for p in shell.in_ports if p.name in own),
                tuple(p for p in shell.out_ports if p.name in own))

    def elaborate(self, platform):
        m = Module()
        for name, shell in self.shells.items():
            m.submodules[name] = shell
            outer = getattr(self, name)
            for port in outer.signature.members:
                # The instance member is Out() of the shell's own directions: flip it back.
                wiring.connect(m, wiring.flipped(getattr(outer, port)), getattr(shell, port))
        for stream_ in self.overlay.streams:
            (src, out_port), (dst, in_port) = stream_.source, stream_.sink
            source = getattr(self.shells[src], out_port)
            sink = getattr(self.shells[dst], in_port)
            buffer = StreamFIFO(source.payload.shape(), sink.payload.shape(), stream_.depth)
            m.submodules[f"fifo_{src}_{out_port}"] = buffer
            wiring.connect(m, source, buffer.w)
            wiring.connect(m, buffer.r, sink)
        return m
