"""What the simulated Zynq's PL holds: the address map, and PYNQ's description of it.

A :class:`SimDesign` is one hetflow kernel in its AXI wrapper and the AXI DMA
engines that feed it, each at a physical address.  It comes from one of two
places:

* :meth:`SimDesign.default` -- the layout ``hetflow.pynq_sim.overlay(kernel)``
  uses: the kernel at :data:`KERNEL_BASE`, engine ``i`` at
  ``DMA_BASE + i * DMA_STRIDE``, streams on the engines as
  :func:`hetflow.backends.pynq.dma_plan` says;
* :meth:`SimDesign.from_handoff` -- a hardware handoff (``design.hwh``) as
  PYNQ's own parser read it (its ``ip_dict``) plus the stream wiring read
  from the same file (:func:`stream_wiring`): whatever addresses and DMA
  wiring the handoff says, which is how ``pynq.Overlay("design.bit")`` loads.

:func:`ip_dict` describes a design the way PYNQ's hwh parser does
(``type``, ``phys_addr``, ``addr_range``, ``parameters``, ``registers``, ...),
for :class:`~hetflow.pynq_sim.SimOverlay`.  Nothing here imports ``pynq``.
"""

from dataclasses import dataclass
from xml.etree import ElementTree

from .backends.pynq import dma_plan, out_beats_offsets, wrapper_window
from .boards.zynq.hwh import pynq_registers
from .boards.zynq.layout import AxiLayout
from .hw.errors import HetflowError
from .hw.registry import get_kernel
from .hw.shell import Shell
from .pynq_sim_dma import REGISTER_SPACE
from .sim.board.protocol import beat_stride

__all__ = ["SimDesign", "Engine", "WindowError", "ip_dict", "pynq_registers",
           "stream_wiring",
           "DDR_BASE", "KERNEL_BASE", "DMA_BASE", "DMA_STRIDE", "DMA_TYPE", "KERNEL_TYPE"]

DDR_BASE = 0x1000_0000
KERNEL_BASE = 0x4000_0000
DMA_BASE = 0x4040_0000
DMA_STRIDE = REGISTER_SPACE
DMA_TYPE = "xilinx.com:ip:axi_dma:7.1"
#: VLNV of a kernel's AXI wrapper, as ``hetflow.boards.zynq`` packages it.
KERNEL_TYPE = "hetflow:hetflow:hetflow_{kernel}_axi:1.0"
_KERNEL_PREFIX, _KERNEL_SUFFIX = "hetflow:hetflow:hetflow_", "_axi:"

class WindowError(HetflowError, ValueError):
    """A host access outside the simulated design's windows, or with no design loaded."""


@dataclass(frozen=True)
class Engine:
    """One AXI DMA engine: instance name, physical base, MM2S and S2MM port names (or None)."""

    name: str
    base: int
    mm2s: str = None
    s2mm: str = None


@dataclass(frozen=True)
class SimDesign:
    """One kernel (a :class:`~hetflow.hw.Shell`) in its AXI wrapper, and its DMA engines.

    Attributes
    ----------
    kernel : Shell
    ip : str
        Block-design instance name of the kernel's wrapper (``hetflow_saxpy_0``).
    base : int
        Physical address of the wrapper's register window.
    window : int
        Bytes of that window.
    engines : tuple of Engine
    """

    kernel: object
    ip: str
    base: int
    window: int
    engines: tuple

    @classmethod
    def default(cls, kernel):
        """The layout of :func:`hetflow.pynq_sim.overlay` for ``kernel`` (a Shell)."""
        plan = dma_plan(kernel.in_ports, kernel.out_ports)
        engines = tuple(Engine(f"axi_dma_{i}", DMA_BASE + i * DMA_STRIDE,
                               src.name if src else None, dst.name if dst else None)
                        for i, (src, dst) in enumerate(plan))
        return cls(kernel, f"hetflow_{kernel.name}_0", KERNEL_BASE,
                   wrapper_window(kernel.map, kernel.out_ports), engines)

    @classmethod
    def from_handoff(cls, name, ips, wiring):
        """The design a hardware handoff describes.

        Parameters
        ----------
        name : str
            The handoff's file name, for messages.
        ips : dict
            PYNQ's ``ip_dict`` of it (the hwh parser's).
        wiring : dict
            :func:`stream_wiring` of it.

        Raises
        ------
        HetflowError
            No hetflow kernel, more than one, or a DMA stream wired to
            something the simulated Zynq does not have.
        """
        kernels = {ip: desc for ip, desc in ips.items()
                   if (desc.get("type") or "").startswith(_KERNEL_PREFIX)
                   and _KERNEL_SUFFIX in desc["type"]}
        if len(kernels) != 1:
            found = ", ".join(kernels) or "none"
            raise HetflowError(f"{name}: the simulated Zynq runs a design with one hetflow "
                               f"kernel IP (its virtual board runs one kernel); this one has "
                               f"{len(kernels)} ({found})")
        ip, desc = next(iter(kernels.items()))
        # HETFLOW_KERNEL names the kernel (an overlay's IPs are named after the instance).
        kernel_name = desc.get("parameters", {}).get("HETFLOW_KERNEL") or \
            desc["type"][len(_KERNEL_PREFIX):].split(_KERNEL_SUFFIX)[0]
        kernel_cls = get_kernel(kernel_name)
        params = {p.name: desc.get("parameters", {}).get(f"HETFLOW_{p.name.upper()}")
                  for p in kernel_cls.params}
        params = {k: int(v) for k, v in params.items() if v is not None}
        kernel = Shell(kernel_cls, **params)
        need = wrapper_window(kernel.map, kernel.out_ports)
        if (desc.get("addr_range") or 0) < need:
            raise HetflowError(f"{name}: {ip} has a {desc.get('addr_range')}-byte window; "
                               f"the AXI wrapper of {kernel.name} needs {need}")
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
                if peer[0] != ip or not peer[1].startswith(prefix):
                    raise HetflowError(f"{name}: {dma}/{busif} is wired to "
                                       f"{peer[0]}/{peer[1]}; the simulated Zynq wires DMA "
                                       f"streams only to {ip}'s AXI-Stream ports")
                ports[busif] = peer[1][len(prefix):]
            engines.append(Engine(dma, ddesc["phys_addr"], ports["M_AXIS_MM2S"],
                                  ports["S_AXIS_S2MM"]))
        served = [e.mm2s for e in engines if e.mm2s] + [e.s2mm for e in engines if e.s2mm]
        missing = [p.name for p in (*kernel.in_ports, *kernel.out_ports) if p.name not in served]
        if missing:
            raise HetflowError(f"{name}: no AXI DMA serves {ip}'s stream(s) "
                               f"{', '.join(missing)}")
        return cls(kernel, ip, desc["phys_addr"], desc["addr_range"], tuple(engines))

    def out_beats(self):
        """``{byte offset: output port name}`` of the wrapper's ``out_beats`` registers."""
        return {offset: name for name, offset in
                out_beats_offsets(self.kernel.map, self.kernel.out_ports).items()}


def stream_wiring(hwh_text):
    """``{(instance, bus interface): (instance, bus interface)}`` of a handoff's AXI-Streams.

    Vivado names each connection between two bus interfaces with one
    ``BUSNAME``; both ends carry it.  Only ``axis`` interfaces are listed.
    """
    ends = {}
    root = ElementTree.fromstring(hwh_text)
    for module in root.iter("MODULE"):
        for busif in module.iter("BUSINTERFACE"):
            if ":axis:" in (busif.get("VLNV") or "") and busif.get("BUSNAME"):
                ends.setdefault(busif.get("BUSNAME"), []).append(
                    (module.get("INSTANCE"), busif.get("NAME")))
    out = {}
    for pair in ends.values():
        if len(pair) == 2:
            out[pair[0]] = pair[1]
            out[pair[1]] = pair[0]
    return out


def ip_dict(design, device, kernel_driver, dma_driver):
    """PYNQ's ``ip_dict`` of ``design`` on ``device``, with the drivers to bind."""
    kernel = design.kernel
    params = {"HETFLOW_KERNEL": kernel.name, "HETFLOW_ID": f"0x{kernel.map.kernel_id:08x}"}
    params.update({f"HETFLOW_{k.upper()}": str(v) for k, v in kernel.p.items()})
    # The wrapper's registers exactly as the export describes them (and its .hwh carries).
    registers = AxiLayout(kernel.kernel_cls, kernel.p).register_descriptions()
    out = {design.ip: {
        "type": KERNEL_TYPE.format(kernel=kernel.name), "fullpath": design.ip,
        "mem_id": "s_axi_control", "memtype": "REGISTER", "phys_addr": design.base,
        "addr_range": design.window, "gpio": {}, "interrupts": {}, "parameters": params,
        "registers": registers, "state": None, "bdtype": None, "device": device,
        "driver": kernel_driver,
    }}
    ports = {p.name: p for p in (*kernel.in_ports, *kernel.out_ports)}
    for engine in design.engines:
        p = {"C_INCLUDE_SG": "0", "c_include_sg": "0", "c_micro_dma": "0",
             "c_sg_length_width": "26", "C_BASEADDR": f"0x{engine.base:08X}",
             "C_HIGHADDR": f"0x{engine.base + DMA_STRIDE - 1:08X}"}
        for key, port in (("mm2s", engine.mm2s), ("s2mm", engine.s2mm)):
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
