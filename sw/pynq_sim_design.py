"""What the simulated Zynq's PL holds: the address map, and PYNQ's description of it.

A :class:`SimDesign` is what the virtual board runs (one kernel, or an
overlay), its hetflow kernel IPs (:class:`KernelWindow`: an AXI wrapper's
window at a physical address, and where its registers sit on the board) and
the AXI DMA engines that feed them.  It comes from one of two places:

* :meth:`SimDesign.default` -- the layout ``hetflow.pynq_sim.overlay(kernel)``
  uses: the kernel at :data:`KERNEL_BASE`, engine ``i`` at
  ``DMA_BASE + i * DMA_STRIDE``, streams on the engines as
  :func:`hetflow.backends.pynq.dma_plan` says;
* :meth:`SimDesign.from_handoff` -- a hardware handoff (``design.hwh``) as
  PYNQ's own parser read it (its ``ip_dict``) plus the stream wiring read
  from the same file (:func:`~hetflow.boards.zynq.handoff.stream_wiring`): whatever addresses and DMA
  wiring the handoff says, which is how ``pynq.Overlay("design.bit")`` loads;
  several kernel IPs are an overlay's (:mod:`hetflow.boards.zynq.handoff`).

:func:`ip_dict` describes a design the way PYNQ's hwh parser does
(``type``, ``phys_addr``, ``addr_range``, ``parameters``, ``registers``, ...),
for :class:`~hetflow.pynq_sim.SimOverlay`.  Nothing here imports ``pynq``.
"""

from dataclasses import dataclass

from .backends.pynq import dma_plan, out_beats_offsets, wrapper_window
from .boards.zynq.hwh import pynq_registers
from .boards.zynq.layout import AxiLayout
from .hw.errors import HetflowError
from .hw.overlay import Overlay
from .hw.shell import Shell
from .pynq_sim_dma import REGISTER_SPACE
from .boards.zynq.handoff import KERNEL_PREFIX, KERNEL_SUFFIX, handoff_overlay, ip_kernel
from .link.boardmap import INSTANCE_STRIDE, BoardMap
from .link.protocol import beat_stride

__all__ = ["SimDesign", "Engine", "KernelWindow", "WindowError", "ip_dict", "pynq_registers",
           "DDR_BASE", "KERNEL_BASE", "DMA_BASE", "DMA_STRIDE", "DMA_TYPE", "KERNEL_TYPE"]

DDR_BASE = 0x1000_0000
KERNEL_BASE = 0x4000_0000
DMA_BASE = 0x4040_0000
DMA_STRIDE = REGISTER_SPACE
DMA_TYPE = "xilinx.com:ip:axi_dma:7.1"
#: VLNV of a kernel's AXI wrapper, as ``hetflow.boards.zynq`` packages it.
KERNEL_TYPE = "hetflow:hetflow:hetflow_{kernel}_axi:1.0"

class WindowError(HetflowError, ValueError):
    """A host access outside the simulated design's windows, or with no design loaded."""


@dataclass(frozen=True)
class Engine:
    """One AXI DMA engine: instance name, physical base, and the ``(unit, port)`` its MM2S
    feeds and its S2MM reads (or None); ``unit`` is the instance's name on the virtual board
    (:class:`~hetflow.link.boardmap.BoardMap`)."""

    name: str
    base: int
    mm2s: tuple = None
    s2mm: tuple = None


@dataclass(frozen=True)
class KernelWindow:
    """One hetflow kernel IP: its AXI-Lite window and where it sits on the virtual board.

    Attributes
    ----------
    ip : str
        Block-design instance name (``hetflow_saxpy_0``, or an overlay's ``fir0``).
    kernel : Shell or KernelView
        The kernel instance (name, parameters, register map, ports).
    unit : str
        Its instance name on the virtual board (the BoardMap's unit).
    base, window : int
        Physical address and bytes of the wrapper's register window.
    offset : int
        Board register offset of the kernel's register 0 (``k * INSTANCE_STRIDE``).
    outputs : tuple of str
        The outputs a DMA reads, each with an ``out_beats_<port>`` register.
    """

    ip: str
    kernel: object
    unit: str
    base: int
    window: int
    offset: int
    outputs: tuple

    def out_beats(self):
        """``{byte offset: output port name}`` of the wrapper's ``out_beats`` registers."""
        ports = [p for p in self.kernel.out_ports if p.name in self.outputs]
        return {offset: name for name, offset in out_beats_offsets(self.kernel.map,
                                                                   ports).items()}


@dataclass(frozen=True)
class SimDesign:
    """What the PL holds: the virtual board's design, its kernel IPs and its DMA engines.

    Attributes
    ----------
    design : Shell or Overlay
        What the virtual board runs: one kernel, or an overlay of instances.
    windows : tuple of KernelWindow
        The kernel IPs, in the design's order.
    engines : tuple of Engine
    """

    design: object
    windows: tuple
    engines: tuple

    @property
    def kernel(self):
        """The single kernel's Shell, or None for an overlay."""
        return None if isinstance(self.design, Overlay) else self.design

    @classmethod
    def default(cls, kernel):
        """The layout of :func:`hetflow.pynq_sim.overlay` for ``kernel`` (a Shell)."""
        plan = dma_plan(kernel.in_ports, kernel.out_ports)
        engines = tuple(Engine(f"axi_dma_{i}", DMA_BASE + i * DMA_STRIDE,
                               (kernel.name, src.name) if src else None,
                               (kernel.name, dst.name) if dst else None)
                        for i, (src, dst) in enumerate(plan))
        outputs = tuple(p.name for p in kernel.out_ports)
        window = KernelWindow(f"hetflow_{kernel.name}_0", kernel, kernel.name, KERNEL_BASE,
                              wrapper_window(kernel.map, kernel.out_ports), 0, outputs)
        return cls(kernel, (window,), engines)

    @classmethod
    def from_handoff(cls, name, ips, wiring):
        """The design a hardware handoff describes (see :mod:`hetflow.pynq_sim_handoff`).

        One kernel IP exported alone (``hetflow_<kernel>_axi``) is that
        kernel; otherwise the IPs are an overlay's instances, rebuilt from
        their ``HETFLOW_*`` parameters and the streams wired IP to IP.

        Parameters
        ----------
        name : str
            The handoff's file name, for messages.
        ips : dict
            PYNQ's ``ip_dict`` of it (the hwh parser's).
        wiring : dict
            :func:`~hetflow.boards.zynq.handoff.stream_wiring` of it.

        Raises
        ------
        HetflowError
            No hetflow kernel, an IP without its parameters, a window too
            small, or a stream wired to something the simulated Zynq lacks.
        """
        kernels = {ip: desc for ip, desc in ips.items()
                   if (desc.get("type") or "").startswith(KERNEL_PREFIX)
                   and KERNEL_SUFFIX in desc["type"]}
        if not kernels:
            raise HetflowError(f"{name}: the simulated Zynq runs designs of hetflow kernel "
                               f"IPs; this one has none")
        if len(kernels) == 1:
            ip, desc = next(iter(kernels.items()))
            kernel_cls, params = ip_kernel(name, ip, desc)
            if desc["type"].rsplit(":", 1)[0] == \
                    KERNEL_TYPE.format(kernel=kernel_cls.name).rsplit(":", 1)[0]:
                kernel = Shell(kernel_cls, **params)
                return cls._of(name, kernel, {ip: (kernel.name, kernel)}, kernels, ips, wiring)
        overlay = handoff_overlay(name, kernels, wiring)
        board = BoardMap(overlay)
        units = {ip: (ip, board.units[ip].kernel) for ip in overlay.instances}
        return cls._of(name, overlay, units, kernels, ips, wiring)

    @classmethod
    def _of(cls, name, design, units, kernels, ips, wiring):
        """``units``: ``{ip: (unit name, kernel)}`` in the board's order."""
        chained = {key for key, peer in wiring.items() if key[0] in kernels
                   and peer[0] in kernels}
        windows = []
        for k, (ip, (unit, kernel)) in enumerate(units.items()):
            desc = kernels[ip]
            outputs = tuple(p.name for p in kernel.out_ports
                            if (ip, f"m_axis_{p.name}") not in chained)
            need = wrapper_window(kernel.map, [p for p in kernel.out_ports
                                               if p.name in outputs])
            if (desc.get("addr_range") or 0) < need:
                raise HetflowError(f"{name}: {ip} has a {desc.get('addr_range')}-byte window; "
                                   f"the AXI wrapper of {kernel.name} needs {need}")
            windows.append(KernelWindow(ip, kernel, unit, desc["phys_addr"], desc["addr_range"],
                                        k * INSTANCE_STRIDE, outputs))
        engines = []
        for dma, ddesc in ips.items():
            if not (ddesc.get("type") or "").startswith("xilinx.com:ip:axi_dma:"):
                continue
            ports = {}
            for busif, prefix in (("M_AXIS_MM2S", "s_axis_"), ("S_AXIS_S2MM", "m_axis_")):
                peer = wiring.get((dma, busif))
                if peer is None:
                    ports[busif] = None
                    continue
                if peer[0] not in units or not peer[1].startswith(prefix):
                    raise HetflowError(f"{name}: {dma}/{busif} is wired to "
                                       f"{peer[0]}/{peer[1]}; the simulated Zynq wires DMA "
                                       f"streams only to the {prefix}<port> interfaces of "
                                       f"{', '.join(units)}")
                ports[busif] = (units[peer[0]][0], peer[1][len(prefix):])
            engines.append(Engine(dma, ddesc["phys_addr"], ports["M_AXIS_MM2S"],
                                  ports["S_AXIS_S2MM"]))
        served = {e.mm2s for e in engines} | {e.s2mm for e in engines}
        for w in windows:
            inputs = [p.name for p in w.kernel.in_ports
                      if (w.ip, f"s_axis_{p.name}") not in chained]
            missing = [p for p in (*inputs, *w.outputs) if (w.unit, p) not in served]
            if missing:
                raise HetflowError(f"{name}: no AXI DMA serves {w.ip}'s stream(s) "
                                   f"{', '.join(missing)}")
        return cls(design, tuple(windows), tuple(engines))




def ip_dict(design, device, kernel_driver, dma_driver):
    """PYNQ's ``ip_dict`` of ``design`` on ``device``, with the drivers to bind."""
    window = design.windows[0]
    kernel = window.kernel
    params = {"HETFLOW_KERNEL": kernel.name, "HETFLOW_ID": f"0x{kernel.map.kernel_id:08x}"}
    params.update({f"HETFLOW_{k.upper()}": str(v) for k, v in kernel.p.items()})
    # The wrapper's registers exactly as the export describes them (and its .hwh carries).
    registers = AxiLayout(kernel.kernel_cls, kernel.p).register_descriptions()
    out = {window.ip: {
        "type": KERNEL_TYPE.format(kernel=kernel.name), "fullpath": window.ip,
        "mem_id": "s_axi_control", "memtype": "REGISTER", "phys_addr": window.base,
        "addr_range": window.window, "gpio": {}, "interrupts": {}, "parameters": params,
        "registers": registers, "state": None, "bdtype": None, "device": device,
        "driver": kernel_driver,
    }}
    ports = {p.name: p for p in (*kernel.in_ports, *kernel.out_ports)}
    for engine in design.engines:
        p = {"C_INCLUDE_SG": "0", "c_include_sg": "0", "c_micro_dma": "0",
             "c_sg_length_width": "26", "C_BASEADDR": f"0x{engine.base:08X}",
             "C_HIGHADDR": f"0x{engine.base + DMA_STRIDE - 1:08X}"}
        for key, end in (("mm2s", engine.mm2s), ("s2mm", engine.s2mm)):
            port = end[1] if end else None
            width = 8 * (beat_stride(ports[port].width) if port else 1)
            p[f"c_include_{key}"] = "1" if port else "0"
            p[f"c_include_{key}_dre"] = "0"
            # Memory-side width sets the alignment PYNQ checks; AXI DMA's minimum is 32.
            p[f"c_m_axi_{key}_data_width"] = str(max(32, width))
            stream_key = "c_m_axis_mm2s_tdata_width" if key == "mm2s" \
                else "c_s_axis_s2mm_tdata_width"
            p[stream_key] = str(width)
            if port:
                p[f"HETFLOW_{key.upper()}_PORT"] = port
        out[engine.name] = {
            "type": DMA_TYPE, "fullpath": engine.name, "mem_id": "S_AXI_LITE",
            "memtype": "REGISTER", "phys_addr": engine.base, "addr_range": DMA_STRIDE,
            "gpio": {}, "interrupts": {}, "parameters": p, "registers": {},
            "state": None, "bdtype": None, "device": device, "driver": dma_driver,
        }
    return out
