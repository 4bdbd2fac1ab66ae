"""A simulated Zynq for PYNQ: unmodified ``pynq`` host code on the virtual board.

Importing this module registers :class:`SimulatedPynqDevice` in PYNQ's own
device registry (``pynq.Device.devices``).  A design gets into its PL in one
of two ways, and from then on PYNQ's own classes do the work:
``pynq.allocate`` returns a real ``PynqBuffer``, ``pynq.MMIO`` reads and
writes registers through the device, and ``pynq.lib.dma.DMA`` drives the AXI
DMA model (:mod:`hetflow.pynq_sim_dma`).

* ``pynq.Overlay("hetflow_saxpy.bit")`` -- the first line of a board script,
  unchanged -- with the ``.hwh`` that ``hetflow export --format pynq-ip``
  writes beside the bitstream (or Vivado's own): PYNQ's own ``Overlay``
  class and hwh parser read it (:mod:`hetflow.pynq_sim_handoff`), and the
  device loads the kernel it names, at the addresses and with the DMA
  wiring it gives.  The ``.hwh`` of an overlay export (``hetflow export
  --overlay``: one IP per instance) loads the same way: the device rebuilds
  the overlay from it (:mod:`hetflow.boards.zynq.handoff`), each IP's window
  is its instance's registers on the virtual board, each DMA channel the
  board's channel of the port it is wired to.
* :func:`overlay` -- a kernel by name, no files::

    import numpy as np, pynq
    import hetflow.pynq_sim

    ol = hetflow.pynq_sim.overlay("saxpy")
    x = pynq.allocate(1000, np.int32); y = pynq.allocate(1000, np.int32)
    z = pynq.allocate(1000, np.int32)
    x[:] = np.arange(1000); y[:] = 1
    ol.hetflow_saxpy_0.register_map.len = 1000
    ol.hetflow_saxpy_0.register_map.a = 7
    ol.hetflow_saxpy_0.register_map.out_beats_z = 1000    # TLAST on z's last beat
    ol.axi_dma_0.sendchannel.transfer(x)          # x: axi_dma_0 MM2S
    ol.axi_dma_1.sendchannel.transfer(y)          # y: axi_dma_1 MM2S
    ol.axi_dma_1.recvchannel.transfer(z)          # z: axi_dma_1 S2MM
    ol.hetflow_saxpy_0.write(0x00, 1)                     # ctrl.start
    ol.axi_dma_1.recvchannel.wait()

The design (one kernel in its AXI wrapper, AXI DMA in simple mode)
    ========================= ================ ===================================
    window                    address          what
    ========================= ================ ===================================
    ``hetflow_<kernel>_0``    0x4000_0000      the kernel's AXI wrapper: its
                                               registers (:mod:`hetflow.hw.regmap`)
                                               and ``out_beats_<port>`` above
                                               them; 4 KiB for the built-ins
    ``axi_dma_<i>``           0x4040_0000      AXI DMA register block ``i`` at
                              + 0x1_0000 * i   (0x1_0000 bytes each)
    SLCR                      0xF800_0000      the PS clock registers
                                               (:mod:`hetflow.pynq_sim_clocks`)
    DDR                       0x1000_0000      board memory address 0 onwards;
                                               ``pynq.allocate`` buffers live here
    ========================= ================ ===================================

    These are :func:`overlay`'s addresses and those the export's ``.hwh``
    gives; a handoff from Vivado may give others, and they are used.  Engine
    ``i`` feeds input port ``i`` (MM2S); the outputs return on the last
    engines (S2MM) -- :func:`hetflow.backends.pynq.dma_plan`.  saxpy: x on
    ``axi_dma_0``, y and z on ``axi_dma_1``; crc32: data and crc on
    ``axi_dma_0``; gemm: a on 0, b and c on 1.  Host accesses outside the
    windows (and DDR outside the buffers ``pynq.allocate`` returned) raise
    :class:`WindowError`, and so do addresses in the kernel's window that
    are no register (where the wrapper answers SLVERR).

The kernel's AXI wrapper (what ``hetflow.boards.zynq`` exports for Vivado)
    The wrapper raises TLAST on beat ``out_beats_<port>`` of an output (0
    counts as 1), which ends the S2MM transfer.  Write it before every job,
    as ``hetflow.open("pynq")`` does: otherwise the transfer ends after one
    beat and the kernel stalls, here as on the board.

When the simulation runs
    Only while the host waits: a read of a busy channel's ``DMASR`` or of
    a kernel's ``status``, after the host started kernels (``ctrl`` bit 0),
    clocks the board (``VirtualBoard.run``, budget 64 cycles per beat of
    every active transfer + 100000) until every started kernel is done;
    every transfer of a started kernel then completes (``Idle`` and
    ``IOC_Irq`` set; those of kernels not started stay queued) and
    ``S2MM_LENGTH`` reads back the bytes received (up to TLAST).  A kernel
    never started never moves data, so PYNQ's ``wait()`` spins forever,
    exactly as on a board.  Unlike the
    board, no transfer completes before the kernel is done (the virtual
    board reports no progress per channel): an S2MM transfer ended early by
    TLAST, with the kernel stalled behind it, shows as a transfer that never
    finishes.
"""

import pynq

from .hw.registry import get_kernel
from .hw.shell import Shell
from .pynq_sim_design import (DDR_BASE, DMA_BASE, DMA_STRIDE, DMA_TYPE, KERNEL_BASE, KERNEL_TYPE,
                              WindowError, pynq_registers)
from .pynq_sim_device import PROBE_PRIORITY, SimulatedPynqDevice, device, replace_device
from .pynq_sim_handoff import HetflowIP

__all__ = ["SimulatedPynqDevice", "SimOverlay", "HetflowIP", "WindowError", "overlay",
           "pynq_registers", "device", "DDR_BASE", "KERNEL_BASE", "DMA_BASE", "DMA_STRIDE",
           "DMA_TYPE", "KERNEL_TYPE", "PROBE_PRIORITY"]


class SimOverlay:
    """What :func:`overlay` returns: PYNQ's ``Overlay`` surface for the simulated design.

    Attributes
    ----------
    ip_dict : dict
        PYNQ-style IP descriptions (``type``, ``phys_addr``, ``addr_range``,
        ``parameters``, ``registers``, ``driver``, ``device``).
    device : SimulatedPynqDevice
    kernel : Kernel
        The kernel instance in the PL.

    IP drivers are attributes, built on first use from their description
    like ``pynq.Overlay`` does: ``axi_dma_<i>`` are ``pynq.lib.dma.DMA``,
    ``hetflow_<kernel>_0`` is :class:`HetflowIP`.
    """

    def __init__(self, device, kernel, ip_dict):
        self.device = device
        self.kernel = kernel
        self.ip_dict = ip_dict
        self.bitfile_name = device.bitfile_name
        self.timestamp = device.timestamp
        self._drivers = {}

    def is_loaded(self):
        """True while this design is the one in the simulated PL."""
        return self.device.overlay is self and self.device.timestamp == self.timestamp

    def __getattr__(self, key):
        if key.startswith("_") or key not in self.__dict__.get("ip_dict", {}):
            raise AttributeError(f"Could not find IP or hierarchy {key} in overlay")
        if not self.is_loaded():
            raise RuntimeError("Overlay not currently loaded")
        if key not in self._drivers:
            desc = self.ip_dict[key]
            self._drivers[key] = desc["driver"](desc)
        return self._drivers[key]

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.ip_dict))

    def __repr__(self):
        return f"<SimOverlay {self.kernel.name}: {', '.join(self.ip_dict)}>"


def overlay(kernel, *, memory_size=None, status=None, **params):
    """Load a hetflow kernel into the simulated Zynq; returns a :class:`SimOverlay`.

    Also makes the simulated Zynq ``pynq.Device.active_device``, so
    ``pynq.allocate`` and ``pynq.MMIO`` without ``target``/``device`` use it.

    Parameters
    ----------
    kernel : str or Kernel subclass
        Registry name (``"saxpy"``), ``"module:Class"``, or the class.
    memory_size : int, optional
        Bytes of simulated DDR; changing it replaces the device (and frees
        every buffer).  Default: keep the current device (16 MiB).
    status : callable, optional
        Progress messages (the first Verilator build of a kernel takes a while).
    **params
        The kernel's elaboration parameters (``lanes=4``).
    """
    cls = get_kernel(kernel)
    instance = Shell(cls, **params)
    dev = device()
    if memory_size is not None and int(memory_size) != dev.memory_size:
        dev = replace_device(int(memory_size))
    ip_dict_ = dev.load(instance, status=status)
    ol = SimOverlay(dev, instance, ip_dict_)
    dev.overlay = ol
    pynq.Device.active_device = dev
    return ol
