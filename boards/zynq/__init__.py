"""Zynq / PYNQ export: a kernel as an AXI IP, the Vivado scripts, the host driver metadata.

``hetflow export KERNEL --format pynq-ip --board pynq-z2 --out DIR`` calls
:func:`export_pynq_ip`, which writes into ``DIR``:

``hetflow_<kernel>_axi.v``
    The kernel inside :class:`AxiKernel`: an AXI4-Lite slave ``s_axi_control``
    for its registers and one AXI4-Stream port per kernel stream
    (``s_axis_<port>`` in, ``m_axis_<port>`` out), clock ``ap_clk``, reset
    ``ap_rst_n`` (active low, synchronous) -- the names Vivado's IP packager
    infers interfaces from.
``package_ip.tcl``
    Vivado: packages the Verilog as IP ``hetflow:hetflow:hetflow_<kernel>_axi:1.0``.
``build_overlay.tcl``
    Vivado: a block design with the Zynq PS7, one AXI DMA (simple mode) per
    pair of kernel streams, the kernel IP, an AXI interconnect for control and
    a SmartConnect to the PS's HP0 port; synthesis, implementation, bitstream;
    copies ``hetflow_<kernel>.bit`` and ``.hwh`` next to the script.
``hetflow_driver.json``
    What the ``pynq`` host backend needs: register map, AXI-Lite window,
    stream -> DMA channel, widths, the ``out_beats`` registers.
``README.md``
    How to run the scripts, and the job protocol.
``hetflow_<kernel>.hwh``
    The block design's hardware handoff in Vivado's XML form, as PYNQ's
    parser reads it (:mod:`.hwh`): written by hetflow, so that
    ``pynq.Overlay("hetflow_<kernel>.bit")`` loads on the simulated Zynq
    (:mod:`hetflow.pynq_sim`) before Vivado ran.
``hetflow_<kernel>.bit``
    A placeholder: Xilinx's ``.bit`` header with no configuration data, where
    Vivado's bitstream goes.  ``build_overlay.tcl`` replaces both files with
    Vivado's.

Vivado is proprietary and does not run where hetflow is developed and
tested.  Everything up to Vivado is tested here: the AXI wrapper is verified
in cocotb with cocotbext-axi against the golden models (:func:`verify_axi`,
driving ``hetflow.sim.axi_bench``), and the generated Tcl is checked for
syntax and for names; the Tcl itself has never been run by Vivado.

The wrapper's address map
-------------------------
The kernel's own registers (:class:`~hetflow.hw.regmap.RegisterMap`) keep
their byte offsets.  Above the kernel window (at ``regmap.size``) the
wrapper adds one register per output stream, ``out_beats_<port>`` (rw): the
number of beats the next job produces on that stream.  The wrapper counts
output beats and raises TLAST on the last one, which is what ends an AXI DMA
S2MM transfer.  The host writes it before starting each job (the kernel's
``output_length`` for the call, in beats); writing it also restarts the
count, so a host can resynchronise after an abandoned job.  0 and 1 both
mean that every beat is the last of its packet.

Any other address in the window answers SLVERR (reads return 0, writes have
no effect), as does a write whose WSTRB is not all ones: the kernel's
register bus has no byte enables, and a silent full-word write of a partial
update would corrupt the other bytes.  A write with WSTRB = 0 is a no-op
answered OKAY.  Writes to read-only registers and reads of write-only ones
are OKAY and follow the shell (ignored, read as 0); so are writes while the
kernel is busy, which the shell ignores.

The package
-----------
:mod:`.constants`
    The boards, the clock range, AXI response codes, DMA limits, IP identity.
:mod:`.layout`
    :class:`AxiLayout`, :class:`Stream`, :func:`tdata_width`: the wrapper's
    interfaces, address map and DMA plan.
:mod:`.wrapper`
    :class:`AxiKernel` (the wrapper RTL) and :func:`verilog_text`.
:mod:`.tcl`
    :func:`package_ip_tcl` and :func:`build_overlay_tcl`.
:mod:`.hwh`
    :func:`~.hwh.handoff_xml`: the ``.hwh`` of a block design.
:mod:`.export`
    :func:`export_pynq_ip`, :func:`driver_metadata`, the README,
    :func:`check_board` and :func:`check_freq`; :class:`ExportError` lives in
    :mod:`.errors` because the layout raises it too.
:mod:`.verify`
    :func:`verify_axi`, :class:`AxiVerifyResult`, :class:`AxiSimulationError`.
:mod:`.overlay`, :mod:`.overlay_export`, :mod:`.overlay_verify`, :mod:`.overlay_bench`
    An overlay: one IP per instance, DMAs for the unchained ports
    (:class:`~.overlay.OverlayLayout`), its export
    (:func:`~.overlay_export.export_overlay_pynq_ip`, ``hetflow export --overlay``)
    and its verification in cocotb (:func:`~.overlay_verify.verify_overlay_axi`).
"""

from ...hw.errors import HetflowError
from .constants import (AXI_OKAY, AXI_SLVERR, DEFAULT_MHZ, DMA_LENGTH_WIDTH, DMA_STREAM_WIDTHS,
                        DRIVER_FORMAT, DRIVER_VERSION, IP_LIBRARY, IP_VENDOR, IP_VERSION,
                        MHZ_RANGE, MIN_ADDR_WIDTH, VIVADO_NOTE, ZYNQ_BOARDS)
from .errors import ExportError
from .export import check_board, check_freq, driver_metadata, export_pynq_ip
from .layout import AxiLayout, Stream, tdata_width
from .tcl import build_overlay_tcl, package_ip_tcl
from .verify import AxiSimulationError, AxiVerifyResult, verify_axi
from .wrapper import AxiKernel, verilog_text

__all__ = ["AxiKernel", "AxiLayout", "Stream", "ZYNQ_BOARDS", "ExportError", "export_pynq_ip",
           "verilog_text", "package_ip_tcl", "build_overlay_tcl", "driver_metadata",
           "verify_axi", "AxiVerifyResult", "AxiSimulationError", "AXI_OKAY", "AXI_SLVERR",
           "VIVADO_NOTE"]

# Importable from here as before the split, though not in __all__.
_REEXPORTED = (HetflowError, DEFAULT_MHZ, DMA_LENGTH_WIDTH, DMA_STREAM_WIDTHS, DRIVER_FORMAT,
               DRIVER_VERSION, IP_LIBRARY, IP_VENDOR, IP_VERSION, MHZ_RANGE, MIN_ADDR_WIDTH,
               check_board, check_freq, tdata_width)
