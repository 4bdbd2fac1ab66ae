"""The hardware handoff (``.hwh``) of the exported block design, in Vivado's XML form.

PYNQ's ``Overlay("design.bit")`` reads ``design.hwh`` beside the bitstream:
the XML Vivado writes for a block design (``EDKSYSTEM``: ``SYSTEMINFO``,
``MODULES`` with each cell's ``PARAMETERS``, ``ADDRESSBLOCKS`` and
``REGISTERS``, ``MEMORYMAP``, ``PORTS`` and ``BUSINTERFACES``).  The export
writes one for the design ``build_overlay.tcl`` builds, so that the design
loads on the simulated Zynq (:mod:`hetflow.pynq_sim`) before Vivado ever
ran; on a board Vivado's own ``.hwh`` (which the Tcl copies over this one)
takes its place.

What it holds, each as Vivado writes it and PYNQ's parser reads it:

* the Zynq PS7 (``processing_system7_0``) with the FCLK_CLK0 parameters
  (enable, IO PLL source, divisors, requested and achieved MHz), its
  ``M_AXI_GP0`` master and its memory map: one ``MEMRANGE`` per AXI-Lite
  slave (each kernel wrapper, each DMA), which is where PYNQ's ``ip_dict``
  gets ``phys_addr`` and ``addr_range``;
* each kernel wrapper: its VLNV, the ``HETFLOW_*`` parameters
  ``package_ip.tcl`` gives it, its register window as an address block
  with every register and field (which ``package_ip.tcl`` declares too),
  its AXI-Lite and AXI-Stream interfaces;
* each AXI DMA (``xilinx.com:ip:axi_dma:7.1``): its configuration, its
  ``S_AXI_LITE`` slave and the HP0 memory its masters reach;
* every AXI-Stream connection, as one ``BUSNAME`` on both ends and
  ``CONNECTIONS`` between their signals; FCLK_CLK0 to every clock pin.

What Vivado's own file has and this one does not: the interconnect,
SmartConnect and reset cells and the wires through them (an AXI-Lite
``BUSNAME`` here names the bus, with no cell at its other end), the PS7's
hundreds of other parameters, the DMA's register descriptions, external
DDR/MIO ports, and the addresses Vivado's ``assign_bd_address`` picks (here
:data:`KERNEL_BASE` onwards for the kernels and :data:`DMA_BASE` onwards
for the DMAs, the simulated Zynq's defaults).  No interrupt is wired (the
DMAs are polled), in the Tcl as here.
"""

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from .constants import DMA_LENGTH_WIDTH

__all__ = ["KernelCell", "DmaCell", "handoff_xml", "fclk_divisors", "pynq_registers", "KERNEL_BASE",
           "KERNEL_STRIDE", "DMA_BASE", "DMA_RANGE", "IO_PLL_MHZ"]

KERNEL_BASE = 0x4000_0000
#: Address step between two kernel wrappers' windows.
KERNEL_STRIDE = 0x1_0000
DMA_BASE = 0x4040_0000
DMA_RANGE = 0x1_0000
#: The PS7's IO PLL in the PYNQ boards' presets (PCW_IO_IO_PLL_FREQMHZ), FCLK_CLK0's source.
IO_PLL_MHZ = 1600.0
PS = "processing_system7_0"
#: PYNQ-Z1/Z2 DDR as the HP ports see it (512 MiB).
DDR_HIGH = 0x1FFF_FFFF
#: Register access as IP-XACT (and so the .hwh and PYNQ) spell it.
ACCESS = {"rw": "read-write", "ro": "read-only", "wo": "write-only"}

_AXI_LITE = [("AWADDR", "I", None), ("AWVALID", "I", 1), ("AWREADY", "O", 1),
             ("WDATA", "I", 32), ("WSTRB", "I", 4), ("WVALID", "I", 1), ("WREADY", "O", 1),
             ("BRESP", "O", 2), ("BVALID", "O", 1), ("BREADY", "I", 1),
             ("ARADDR", "I", None), ("ARVALID", "I", 1), ("ARREADY", "O", 1),
             ("RDATA", "O", 32), ("RRESP", "O", 2), ("RVALID", "O", 1), ("RREADY", "I", 1)]
_AXIS = [("TDATA", None), ("TVALID", 1), ("TREADY", 1), ("TLAST", 1)]
_READ_MASTER = [("ARADDR", "O", 32), ("ARVALID", "O", 1), ("ARREADY", "I", 1),
                ("RDATA", "I", None), ("RLAST", "I", 1), ("RVALID", "I", 1), ("RREADY", "O", 1)]
_WRITE_MASTER = [("AWADDR", "O", 32), ("AWVALID", "O", 1), ("AWREADY", "I", 1),
                 ("WDATA", "O", None), ("WLAST", "O", 1), ("WVALID", "O", 1), ("WREADY", "I", 1),
                 ("BRESP", "I", 2), ("BVALID", "I", 1), ("BREADY", "O", 1)]


@dataclass(frozen=True)
class KernelCell:
    """A kernel wrapper in the block design.

    ``registers`` are PYNQ-style descriptions (name -> ``address_offset``,
    ``access``, ``description``, ``fields``); ``streams`` are
    ``(interface, "in" | "out", tdata bits)``.
    """

    instance: str
    vlnv: str
    base: int
    window: int
    addr_width: int
    params: dict
    registers: dict
    streams: tuple
    control: str = "s_axi_control"


@dataclass(frozen=True)
class DmaCell:
    """An AXI DMA in simple mode: ``mm2s`` / ``s2mm`` stream widths in bits, or None."""

    instance: str
    base: int
    mm2s: int = None
    s2mm: int = None
    params: dict = field(default_factory=dict)


def pynq_registers(regmap):
    """PYNQ's ``ip_dict[...]["registers"]`` for a hetflow register map.

    Parameters
    ----------
    regmap : dict
        ``RegisterMap.to_dict()`` (what ``hetflow export --format
        regmap-json`` writes).

    Returns
    -------
    dict
        ``{name: {"address_offset", "size", "access", "description",
        "fields"}}`` as PYNQ's hwh parser makes them, so that
        ``pynq.registers.RegisterMap.create_subclass`` (``register_map``)
        accepts it.  Array registers become ``name_0``, ``name_1``, ...
    """
    out = {}
    for reg in regmap["registers"]:
        names = [f"{reg['name']}_{i}" for i in range(reg["count"])] if reg["array"] \
            else [reg["name"]]
        for i, name in enumerate(names):
            out[name] = {
                "address_offset": reg["offset"] + 4 * i,
                "size": 32,
                "access": ACCESS[reg["access"]],
                "description": reg["doc"] + (f" ({'signed ' if reg['signed'] else ''}"
                                             f"{reg['bits']} bits)" if reg["bits"] < 32 else ""),
                "fields": {f["name"]: {"bit_offset": f["lsb"], "bit_width": f["width"],
                                       "access": ACCESS[reg["access"]], "description": ""}
                           for f in reg["fields"]},
            }
    return out


def fclk_divisors(mhz):
    """``(divisor0, divisor1, achieved MHz)`` of FCLK from the IO PLL, as close as the PS7 makes it.

    The product of the two 6-bit divisors closest to the request; of its
    factorings the most balanced (100 MHz: 4 x 4, as Vivado's PYNQ presets
    have it).
    """
    product = min(range(1, 63 * 63 + 1), key=lambda q: (abs(IO_PLL_MHZ / q - mhz), q))
    while not any(product % d1 == 0 and product // d1 < 64 for d1 in range(1, 64)):
        product += 1                  # a prime above 63 is no product of two divisors
    d1 = max(d for d in range(1, 64) if product % d == 0 and d * d <= product
             and product // d < 64)
    return product // d1, d1, IO_PLL_MHZ / product


def _module(parent, instance, vlnv, modtype, extra=()):
    vendor, library, name, version = vlnv.split(":")
    attrs = {"FULLNAME": f"/{instance}", "HWVERSION": version, "INSTANCE": instance,
             "IPTYPE": "PERIPHERAL", "IS_ENABLE": "1", "MODCLASS": "PERIPHERAL",
             "MODTYPE": modtype, "VLNV": vlnv, **dict(extra)}
    return ET.SubElement(parent, "MODULE", attrs)


def _parameters(module, params):
    node = ET.SubElement(module, "PARAMETERS")
    for name, value in params.items():
        ET.SubElement(node, "PARAMETER", NAME=name, VALUE=str(value))


def _port(ports, name, direction, width, sigis="undef", connections=(), clk_hz=None):
    attrs = {"DIR": direction, "NAME": name, "SIGIS": sigis}
    if width and width > 1:
        attrs.update(LEFT=str(width - 1), RIGHT="0")
    if clk_hz:
        attrs["CLKFREQUENCY"] = str(int(clk_hz))
    port = ET.SubElement(ports, "PORT", attrs)
    if connections:
        node = ET.SubElement(port, "CONNECTIONS")
        for instance, peer in connections:
            ET.SubElement(node, "CONNECTION", INSTANCE=instance, PORT=peer)


def _busif(busifs, name, busname, kind, vlnv, signals):
    """A bus interface; ``signals`` are ``(logical, physical)``."""
    node = ET.SubElement(busifs, "BUSINTERFACE", BUSNAME=busname, NAME=name, TYPE=kind,
                         VLNV=vlnv)
    maps = ET.SubElement(node, "PORTMAPS")
    for logical, physical in signals:
        ET.SubElement(maps, "PORTMAP", LOGICAL=logical, PHYSICAL=physical)


def _registers(module, interface, window, registers):
    blocks = ET.SubElement(module, "ADDRESSBLOCKS")
    block = ET.SubElement(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE=interface,
                          NAME="reg0", RANGE=str(window), USAGE="register")
    regs = ET.SubElement(block, "REGISTERS")
    for name, reg in registers.items():
        node = ET.SubElement(regs, "REGISTER", NAME=name)
        for key, value in (("DESCRIPTION", reg["description"]),
                           ("ADDRESS_OFFSET", hex(reg["address_offset"])),
                           ("SIZE", str(reg["size"])), ("ACCESS", reg["access"]),
                           ("IS_ENABLED", "true"), ("RESET_VALUE", "0x0")):
            ET.SubElement(node, "PROPERTY", NAME=key, VALUE=value)
        fields = ET.SubElement(node, "FIELDS")
        for fname, f in reg["fields"].items():
            fnode = ET.SubElement(fields, "FIELD", NAME=fname)
            for key, value in (("DESCRIPTION", f["description"]),
                               ("ACCESS", f["access"]), ("BIT_OFFSET", str(f["bit_offset"])),
                               ("BIT_WIDTH", str(f["bit_width"]))):
                ET.SubElement(fnode, "PROPERTY", NAME=key, VALUE=value)


def _ps7(modules, fclk_mhz, slaves):
    d0, d1, actual = fclk_divisors(fclk_mhz)
    module = _module(modules, PS, "xilinx.com:ip:processing_system7:5.5", "processing_system7",
                     {"CONFIGURABLE": "TRUE", "IS_PL": "FALSE"})
    params = {"Component_Name": f"{PS}", "EDK_IPTYPE": "PERIPHERAL",
              "PCW_USE_M_AXI_GP0": "1", "PCW_USE_S_AXI_HP0": "1",
              "PCW_S_AXI_HP0_DATA_WIDTH": "64"}
    for i in range(4):
        on = i == 0
        params.update({
            f"PCW_FPGA_FCLK{i}_ENABLE": "1" if on else "0",
            f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": "IO PLL",
            f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": str(d0 if on else 1),
            f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": str(d1 if on else 1),
            f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ": f"{fclk_mhz:g}" if on else "50",
            f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ": f"{actual if on else 10.0:.6f}"})
    _parameters(module, params)
    ports = ET.SubElement(module, "PORTS")
    _port(ports, "FCLK_CLK0", "O", 1, "clk", clk_hz=actual * 1e6)
    _port(ports, "FCLK_RESET0_N", "O", 1, "rst")
    gp0 = [(n, "M_AXI_GP0_" + n) for n, _, _ in _AXI_LITE]
    for logical, direction, width in _AXI_LITE:
        _port(ports, "M_AXI_GP0_" + logical, "O" if direction == "I" else "I",
              width or 32)
    hp0 = [(n, "S_AXI_HP0_" + n) for n, _, _ in _READ_MASTER + _WRITE_MASTER]
    for logical, direction, width in _READ_MASTER + _WRITE_MASTER:
        _port(ports, "S_AXI_HP0_" + logical, "I" if direction == "O" else "O", width or 64)
    busifs = ET.SubElement(module, "BUSINTERFACES")
    _busif(busifs, "M_AXI_GP0", f"{PS}_M_AXI_GP0", "MASTER",
           "xilinx.com:interface:aximm:1.0", gp0)
    _busif(busifs, "S_AXI_HP0", "mem_smartconnect_M00_AXI", "SLAVE",
           "xilinx.com:interface:aximm:1.0", hp0)
    memmap = ET.SubElement(module, "MEMORYMAP")
    for instance, interface, block, base, size in slaves:
        ET.SubElement(memmap, "MEMRANGE", ADDRESSBLOCK=block, BASENAME="C_BASEADDR",
                      BASEVALUE=f"0x{base:08X}", HIGHNAME="C_HIGHADDR",
                      HIGHVALUE=f"0x{base + size - 1:08X}", INSTANCE=instance,
                      IS_DATA="TRUE", IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE="M_AXI_GP0",
                      MEMTYPE="REGISTER", SLAVEBUSINTERFACE=interface)
    return actual


def _kernel(modules, cell, clk_hz, links):
    module = _module(modules, cell.instance, cell.vlnv, cell.vlnv.split(":")[2])
    _registers(module, cell.control, cell.window, cell.registers)
    _parameters(module, {"Component_Name": f"{cell.instance}", "EDK_IPTYPE": "PERIPHERAL",
                         **cell.params})
    ports = ET.SubElement(module, "PORTS")
    _port(ports, "ap_clk", "I", 1, "clk", [(PS, "FCLK_CLK0")], clk_hz)
    _port(ports, "ap_rst_n", "I", 1, "rst")
    for logical, direction, width in _AXI_LITE:
        _port(ports, f"{cell.control}_{logical.lower()}", direction, width or cell.addr_width)
    busifs = ET.SubElement(module, "BUSINTERFACES")
    _busif(busifs, cell.control, f"ctrl_interconnect_{cell.instance}", "SLAVE",
           "xilinx.com:interface:aximm:1.0",
           [(n, f"{cell.control}_{n.lower()}") for n, _, _ in _AXI_LITE])
    _streams(ports, busifs, cell.instance,
             [(name, direction == "in", width, name) for name, direction, width in cell.streams],
             links)


def _streams(ports, busifs, instance, streams, links):
    """Stream interfaces ``(interface, sink?, bits, physical prefix)`` and their wires."""
    for name, sink, width, prefix in streams:
        peer = links.get((instance, name))
        for logical, w in _AXIS:
            driven = (logical == "TREADY") == sink
            wires = []
            if peer is not None:
                wires = [(peer[0], f"{peer[2]}_{logical.lower()}")]
            _port(ports, f"{prefix}_{logical.lower()}", "O" if driven else "I", w or width,
                  connections=wires)
        busname = links.get(("bus", instance, name)) or f"{instance}_{name}"
        _busif(busifs, name, busname, "TARGET" if sink else "INITIATOR",
               "xilinx.com:interface:axis:1.0",
               [(n, f"{prefix}_{n.lower()}") for n, _ in _AXIS])


def _dma(modules, cell, clk_hz, links):
    module = _module(modules, cell.instance, "xilinx.com:ip:axi_dma:7.1", "axi_dma")
    params = {"Component_Name": cell.instance, "EDK_IPTYPE": "PERIPHERAL",
              "C_BASEADDR": f"0x{cell.base:08X}",
              "C_HIGHADDR": f"0x{cell.base + DMA_RANGE - 1:08X}",
              "c_include_sg": "0", "c_sg_length_width": str(DMA_LENGTH_WIDTH),
              "c_micro_dma": "0", "c_include_mm2s": "1" if cell.mm2s else "0",
              "c_include_s2mm": "1" if cell.s2mm else "0",
              "c_include_mm2s_dre": "0", "c_include_s2mm_dre": "0"}
    for key, width in (("mm2s", cell.mm2s), ("s2mm", cell.s2mm)):
        bits = width or 32
        params[f"c_m_axi_{key}_data_width"] = str(max(32, bits))
        params["c_m_axis_mm2s_tdata_width" if key == "mm2s" else "c_s_axis_s2mm_tdata_width"] = \
            str(bits)
    params.update(cell.params)
    _parameters(module, params)
    ports = ET.SubElement(module, "PORTS")
    clocks = ["s_axi_lite_aclk"] + [f"m_axi_{k}_aclk" for k, w in
                                    (("mm2s", cell.mm2s), ("s2mm", cell.s2mm)) if w]
    for clock in clocks:
        _port(ports, clock, "I", 1, "clk", [(PS, "FCLK_CLK0")], clk_hz)
    _port(ports, "axi_resetn", "I", 1, "rst")
    for logical, direction, width in _AXI_LITE:
        _port(ports, f"s_axi_lite_{logical.lower()}", direction, width or 10)
    busifs = ET.SubElement(module, "BUSINTERFACES")
    _busif(busifs, "S_AXI_LITE", f"ctrl_interconnect_{cell.instance}", "SLAVE",
           "xilinx.com:interface:aximm:1.0",
           [(n, f"s_axi_lite_{n.lower()}") for n, _, _ in _AXI_LITE])
    memmap = ET.SubElement(module, "MEMORYMAP")
    streams = []
    for key, width, signals, stream in (("mm2s", cell.mm2s, _READ_MASTER, "M_AXIS_MM2S"),
                                        ("s2mm", cell.s2mm, _WRITE_MASTER, "S_AXIS_S2MM")):
        if not width:
            continue
        master = f"M_AXI_{key.upper()}"
        for logical, direction, w in signals:
            _port(ports, f"m_axi_{key}_{logical.lower()}", direction, w or max(32, width))
        _busif(busifs, master, f"{cell.instance}_{master}", "MASTER",
               "xilinx.com:interface:aximm:1.0",
               [(n, f"m_axi_{key}_{n.lower()}") for n, _, _ in signals])
        ET.SubElement(memmap, "MEMRANGE", ADDRESSBLOCK="HP0_DDR_LOWOCM", BASENAME="C_BASEADDR",
                      BASEVALUE="0x00000000", HIGHNAME="C_HIGHADDR",
                      HIGHVALUE=f"0x{DDR_HIGH:08X}", INSTANCE=PS, IS_DATA="TRUE",
                      IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=master, MEMTYPE="MEMORY",
                      SLAVEBUSINTERFACE="S_AXI_HP0")
        streams.append((stream, key == "s2mm", width,
                        "m_axis_mm2s" if key == "mm2s" else "s_axis_s2mm"))
    _streams(ports, busifs, cell.instance, streams, links)


def handoff_xml(name, part, fclk_mhz, kernels, dmas, streams):
    """The ``.hwh`` text of a block design.

    Parameters
    ----------
    name : str
        The block design's name (``hetflow_saxpy``).
    part : str
        The FPGA part (``xc7z020clg400-1``).
    fclk_mhz : float
        FCLK_CLK0 as requested; the achieved rate is computed as the PS7 does.
    kernels : sequence of KernelCell
    dmas : sequence of DmaCell
    streams : sequence of ((instance, interface), (instance, interface))
        AXI-Stream connections, source first.
    """
    device = part.split("clg")[0].removeprefix("xc")
    package = "clg" + part.split("clg")[1].split("-")[0]
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", TIMESTAMP="hetflow export",
                      VIVADOVERSION="none (written by hetflow, not Vivado)")
    ET.SubElement(root, "SYSTEMINFO", ARCH="zynq", DEVICE=device, NAME=name, PACKAGE=package,
                  SPEEDGRADE="-" + part.rsplit("-", 1)[1])
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")
    slaves = [(k.instance, k.control, "reg0", k.base, k.window) for k in kernels]
    slaves += [(d.instance, "S_AXI_LITE", "Reg", d.base, DMA_RANGE) for d in dmas]
    physical = {}
    for k in kernels:
        for iface, _, _ in k.streams:
            physical[(k.instance, iface)] = iface
    for d in dmas:
        physical[(d.instance, "M_AXIS_MM2S")] = "m_axis_mm2s"
        physical[(d.instance, "S_AXIS_S2MM")] = "s_axis_s2mm"
    links = {}
    for src, dst in streams:
        busname = f"{src[0]}_{src[1]}"
        links[src] = (dst[0], dst[1], physical[dst])
        links[dst] = (src[0], src[1], physical[src])
        links[("bus",) + src] = links[("bus",) + dst] = busname
    actual = _ps7(modules, fclk_mhz, slaves)
    for cell in kernels:
        _kernel(modules, cell, actual * 1e6, links)
    for cell in dmas:
        _dma(modules, cell, actual * 1e6, links)
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
