"""A simulated Zynq for PYNQ: unmodified ``pynq`` host code on the virtual board.

Importing this module registers :class:`SimulatedPynqDevice` in PYNQ's own
device registry (``pynq.Device.devices``), and :func:`overlay` loads a
hetflow kernel onto it and makes it ``pynq.Device.active_device``.  From
then on PYNQ's own classes do the work: ``pynq.allocate`` returns a real
``PynqBuffer``, ``pynq.MMIO`` reads and writes registers through the device,
and ``pynq.lib.dma.DMA`` drives the AXI DMA model below::

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

Real ``pynq.Overlay("design.bit")`` needs the Vivado hardware handoff
(``design.hwh``) that describes the block design, which only a Vivado run
produces and Vivado does not run here; on the simulated Zynq it raises a
one-line error saying so.  :func:`overlay` builds instead the description
dictionaries (``ip_dict`` entries) that PYNQ's hwh parser would, from the
kernel's metadata, and binds PYNQ's own drivers to them.

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
    DDR                       0x1000_0000      board memory address 0 onwards;
                                               ``pynq.allocate`` buffers live here
    ========================= ================ ===================================

    Engine ``i`` feeds input port ``i`` (MM2S); the outputs return on the last
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

The AXI DMA model (PG021 direct register mode)
    ``DMACR`` RS=1 starts a channel (``DMASR.Halted`` clears), Reset=1 resets
    the whole engine.  Writing ``LENGTH`` starts a transfer from ``SA`` /
    to ``DA`` (a DMA channel of the virtual board); length 0 sets
    ``DMAIntErr``, an address outside DDR ``DMADecErr``, and both halt the
    channel, as the hardware does.  The simulation runs only while the host
    waits: a read of a busy channel's ``DMASR`` or of the kernel's
    ``status``, after the host started the kernel (``ctrl`` bit 0), clocks
    the board (``VirtualBoard.run``, budget 64 cycles per beat + 100000)
    until the kernel is done; every transfer then completes (``Idle`` and
    ``IOC_Irq`` set) and ``S2MM_LENGTH`` reads back the bytes received (up
    to TLAST).  A kernel never started never moves data, so PYNQ's ``wait()``
    spins forever, exactly as on a board.  Unlike the board, no transfer
    completes before the kernel is done (the virtual board reports no
    progress per channel): an S2MM transfer ended early by TLAST, with the
    kernel stalled behind it, shows as a transfer that never finishes.
"""

import ctypes
import threading
import weakref

import numpy as np
import pynq
from pynq.buffer import PynqBuffer
from pynq.lib.dma import DMA

from .backends.pynq import dma_plan, out_beats_offsets, wrapper_window
from .hw.errors import HetflowError
from .hw.registry import get_kernel
from .hw.regmap import STATUS_DONE
from .hw.shell import Shell

__all__ = ["SimulatedPynqDevice", "SimOverlay", "HetflowIP", "WindowError", "overlay",
           "pynq_registers", "device", "DDR_BASE", "KERNEL_BASE", "DMA_BASE", "DMA_STRIDE",
           "DMA_TYPE", "KERNEL_TYPE", "PROBE_PRIORITY"]

DDR_BASE = 0x1000_0000
KERNEL_BASE = 0x4000_0000
DMA_BASE = 0x4040_0000
DMA_STRIDE = 0x1_0000
DMA_TYPE = "xilinx.com:ip:axi_dma:7.1"
#: VLNV of a kernel's AXI wrapper, as ``hetflow.boards.zynq`` packages it.
KERNEL_TYPE = "hetflow:hetflow:hetflow_{kernel}_axi:1.0"
#: Probed after every real PYNQ device (Zynq 50, Versal 40, remote 100, XRT 200),
#: so it is the default device only where no board is found.
PROBE_PRIORITY = 1000
PAGE = 4096

# AXI DMA register offsets within a channel (MM2S at 0x00, S2MM at 0x30).
_DMACR, _DMASR, _ADDR, _ADDR_MSB, _LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
_S2MM = 0x30
_RS, _RESET = 0x1, 0x4
_HALTED, _IDLE, _INT_ERR, _DEC_ERR, _IOC_IRQ = 0x1, 0x2, 0x10, 0x40, 0x1000
_W1C = 0x7000

_ACCESS = {"rw": "read-write", "ro": "read-only", "wo": "write-only"}


class WindowError(HetflowError, ValueError):
    """A host access outside the simulated design's windows, or with no design loaded."""


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
                "access": _ACCESS[reg["access"]],
                "description": reg["doc"] + (f" ({'signed ' if reg['signed'] else ''}"
                                             f"{reg['bits']} bits)" if reg["bits"] < 32 else ""),
                "fields": {f["name"]: {"bit_offset": f["lsb"], "bit_width": f["width"],
                                       "access": _ACCESS[reg["access"]], "description": ""}
                           for f in reg["fields"]},
            }
    return out


class _Allocation:
    """A DDR range handed out by ``allocate`` (board memory ``address``, ``size`` bytes)."""

    __slots__ = ("address", "size", "live", "__weakref__")

    def __init__(self, address, size):
        self.address = address
        self.size = size
        self.live = True


class _Channel:
    """One direction of an AXI DMA engine, mapped to one virtual-board DMA channel."""

    def __init__(self, board_channel, stride, s2mm):
        self.board_channel = board_channel     # None: not in this engine
        self.stride = stride
        self.s2mm = s2mm
        self.reset()

    def reset(self):
        self.dmacr = 0
        self.status = _HALTED
        self.addr = 0
        self.addr_msb = 0
        self.length = 0
        self.beats = 0
        self.address = 0
        self.active = False
        self.armed = False          # S2MM: board channel set up (at the first run)


class _Engine:
    """An AXI DMA register block: ``mm2s`` and ``s2mm`` channels."""

    def __init__(self, name, base, mm2s, s2mm):
        self.name = name
        self.base = base
        self.mm2s = mm2s
        self.s2mm = s2mm


class SimulatedPynqDevice(pynq.Device):
    """A Zynq whose PL holds one hetflow kernel on the virtual board.

    Registered with PYNQ at priority :data:`PROBE_PRIORITY` (probed last).
    :func:`overlay` loads a kernel; until then register and buffer access
    raise :class:`WindowError`.

    Parameters
    ----------
    memory_size : int
        Bytes of DDR (board memory) the buffers come from.
    """

    _probe_priority_ = PROBE_PRIORITY

    @classmethod
    def _probe_(cls):
        return [device()]

    def __init__(self, memory_size=16 << 20, tag="hetflow_sim0"):
        super().__init__(tag)
        self.name = "hetflow simulated Zynq"
        self.capabilities = {"REGISTER_RW": True}
        self.memory_size = int(memory_size)
        self.board = None
        self.kernel = None
        self.overlay = None
        self.timestamp = ""
        self.bitfile_name = None
        self._engines = []
        self._window = 0
        self._words = set()                     # word offsets of the kernel's registers
        self._out_beats = {}                    # wrapper offset -> [port name, value]
        self._started = False
        self._allocations = {}                  # board address -> _Allocation
        self._lock = threading.RLock()
        #: Cycles the board ran for the last completed job.
        self.last_cycles = None

    def __repr__(self):
        what = f"{self.kernel.name}" if self.kernel is not None else "no overlay"
        return f"<SimulatedPynqDevice {self.tag}: {what}>"

    # ---- loading ------------------------------------------------------------------------

    def load(self, kernel, status=None):
        """Put ``kernel`` (a Kernel instance) in the PL; returns the ``ip_dict``.

        The previous kernel's board is closed; live buffers keep their
        addresses and contents (DDR survives reprogramming the PL).
        """
        from .sim.board.virtual import VirtualBoard
        board = VirtualBoard(kernel, memory_size=self.memory_size, status=status)
        with self._lock:
            old, self.board = self.board, board
            if old is not None:
                for alloc in list(self._allocations.values()):
                    try:
                        board.mem_write(alloc.address, old.mem_read(alloc.address, alloc.size))
                    except HetflowError:
                        break          # the old board died: contents are lost, as on a crash
                old.close()
            self.kernel = kernel
            self._started = False
            self._window = wrapper_window(kernel.map, kernel.out_ports)
            self._words = {(r.offset >> 2) + i for r in kernel.map for i in range(r.count)}
            self._out_beats = {offset: [name, 0] for name, offset in
                               out_beats_offsets(kernel.map, kernel.out_ports).items()}
            channels = board.channels
            ins = [c for c in channels if not c.output]
            outs = [c for c in channels if c.output]
            by_port = {c.port.name: c for c in channels}
            self._engines = []
            for i, (src, dst) in enumerate(dma_plan([c.port for c in ins],
                                                    [c.port for c in outs])):
                mm2s = by_port[src.name] if src is not None else None
                s2mm = by_port[dst.name] if dst is not None else None
                self._engines.append(_Engine(
                    f"axi_dma_{i}", DMA_BASE + i * DMA_STRIDE,
                    _Channel(mm2s.index if mm2s else None, mm2s.stride if mm2s else 1, False),
                    _Channel(s2mm.index if s2mm else None, s2mm.stride if s2mm else 1, True)))
            self.timestamp = f"{kernel.name} {id(board):x}"
            self.bitfile_name = f"<hetflow simulated {kernel.name}>"
            return self._ip_dict()

    def _ip_dict(self):
        kernel = self.kernel
        name = f"hetflow_{kernel.name}_0"
        params = {"HETFLOW_KERNEL": kernel.name, "HETFLOW_ID": f"0x{kernel.map.kernel_id:08x}"}
        params.update({f"HETFLOW_{k.upper()}": str(v) for k, v in kernel.p.items()})
        registers = pynq_registers(kernel.map.to_dict())
        for offset, (port, _) in self._out_beats.items():
            registers[f"out_beats_{port}"] = {
                "address_offset": offset, "size": 32, "access": "read-write", "fields": {},
                "description": f"beats the next job produces on '{port}'; TLAST marks the "
                               f"last (AXI wrapper)"}
        ip = {name: {
            "type": KERNEL_TYPE.format(kernel=kernel.name), "fullpath": name,
            "mem_id": "s_axi_control", "memtype": "REGISTER", "phys_addr": KERNEL_BASE,
            "addr_range": self._window, "gpio": {}, "interrupts": {}, "parameters": params,
            "registers": registers,
            "state": None, "bdtype": None, "device": self, "driver": HetflowIP,
        }}
        ports = {p.name: p for p in (*kernel.in_ports, *kernel.out_ports)}
        by_index = {c.index: c.port.name for c in self.board.channels}
        for engine in self._engines:
            p = {"C_INCLUDE_SG": "0", "c_include_sg": "0", "c_micro_dma": "0",
                 "c_sg_length_width": "26", "C_BASEADDR": f"0x{engine.base:08X}",
                 "C_HIGHADDR": f"0x{engine.base + DMA_STRIDE - 1:08X}"}
            for key, chan in (("mm2s", engine.mm2s), ("s2mm", engine.s2mm)):
                present = chan.board_channel is not None
                p[f"c_include_{key}"] = "1" if present else "0"
                p[f"c_include_{key}_dre"] = "0"
                width = 8 * chan.stride
                # Memory-side width sets the alignment PYNQ checks; AXI DMA's minimum is 32.
                p[f"c_m_axi_{key}_data_width"] = str(max(32, width))
                stream_key = "c_m_axis_mm2s_tdata_width" if key == "mm2s" \
                    else "c_s_axis_s2mm_tdata_width"
                p[stream_key] = str(width)
                if present:
                    p[f"HETFLOW_{key.upper()}_PORT"] = ports[by_index[chan.board_channel]].name
            ip[engine.name] = {
                "type": DMA_TYPE, "fullpath": engine.name, "mem_id": "S_AXI_LITE",
                "memtype": "REGISTER", "phys_addr": engine.base, "addr_range": DMA_STRIDE,
                "gpio": {}, "interrupts": {}, "parameters": p, "registers": {},
                "state": None, "bdtype": None, "device": self, "driver": DMA,
            }
        return ip

    def close(self):
        """Close the board (its process); buffers become unusable."""
        with self._lock:
            if self.board is not None:
                self.board.close()
            self.board = None
            self.kernel = None
            self.overlay = None

    def get_bitfile_metadata(self, bitfile_name, partial=False):
        """``pynq.Overlay(bitfile)`` asks for the design's metadata here: refuse, clearly."""
        raise HetflowError(f"pynq.Overlay('{bitfile_name}') needs the Vivado hardware handoff "
                           f"(.hwh) of a real design, which hetflow cannot produce; load the "
                           f"kernel with hetflow.pynq_sim.overlay(kernel) instead")

    # ---- memory -------------------------------------------------------------------------

    def _need_board(self, what):
        if self.board is None:
            raise WindowError(f"{what}: no overlay is loaded on the simulated Zynq; "
                              f"call hetflow.pynq_sim.overlay(kernel) first")
        return self.board

    def _take(self, size):
        """First fit in DDR for ``size`` bytes (a multiple of the page)."""
        address = 0
        for start in sorted(self._allocations):
            if start - address >= size:
                break
            address = max(address, start + self._allocations[start].size)
        if address + size > self.memory_size:
            used = sum(a.size for a in self._allocations.values())
            raise WindowError(f"pynq.allocate of {size} bytes does not fit in the simulated "
                              f"DDR ({used} of {self.memory_size} bytes in use); free buffers "
                              f"or pass a larger memory_size to hetflow.pynq_sim.overlay")
        return address

    def _free(self, alloc):
        with self._lock:
            if alloc.live and self._allocations.get(alloc.address) is alloc:
                del self._allocations[alloc.address]
            alloc.live = False

    def allocate(self, shape, dtype, **kwargs):
        """A ``pynq.buffer.PynqBuffer`` in DDR (board memory), not coherent.

        The host array is ordinary memory: ``flush()`` copies it to board
        memory, ``invalidate()`` back.  The DDR range is returned when the
        last view of the buffer goes away.  ``kwargs`` (``cacheable``, ...)
        are accepted and ignored.
        """
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in np.atleast_1d(shape)) if np.ndim(shape) else (int(shape),)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        with self._lock:
            board = self._need_board("pynq.allocate")
            address = self._take(size)
            alloc = _Allocation(address, size)
            self._allocations[address] = alloc
        try:
            board.mem_write(address, bytes(size))       # fresh buffers read as zero
        except BaseException:
            self._free(alloc)
            raise
        host = np.zeros(max(nbytes, 1), dtype=np.uint8)
        buf = PynqBuffer(shape, dtype, buffer=host, device=self, bo=alloc,
                         device_address=DDR_BASE + address, coherent=False)
        weakref.finalize(host, self._free, alloc)
        return buf

    def _check_bo(self, bo, offset, size, what):
        if not isinstance(bo, _Allocation) or not bo.live:
            raise WindowError(f"{what}: the buffer was not allocated by the simulated Zynq "
                              f"or has been freed")
        if offset < 0 or offset + size > bo.size:
            raise WindowError(f"{what}: bytes {offset}..{offset + size} are outside the "
                              f"buffer ({bo.size} bytes)")
        return self._need_board(what)

    def flush(self, bo, offset, ptr, size):
        """Host memory ``ptr[:size]`` to DDR (PynqBuffer.flush)."""
        if size:
            board = self._check_bo(bo, offset, size, "flush")
            board.mem_write(bo.address + offset, ctypes.string_at(ptr, size))

    def invalidate(self, bo, offset, ptr, size):
        """DDR to host memory ``ptr[:size]`` (PynqBuffer.invalidate)."""
        if size:
            board = self._check_bo(bo, offset, size, "invalidate")
            data = board.mem_read(bo.address + offset, size)
            ctypes.memmove(ptr, data, size)

    # ---- register access (pynq.MMIO with REGISTER_RW) -----------------------------------

    def _windows(self):
        kernel = self.kernel
        out = [(f"hetflow_{kernel.name}_0", KERNEL_BASE, self._window)]
        out += [(e.name, e.base, DMA_STRIDE) for e in self._engines]
        return out

    def _outside(self, address, length):
        windows = ", ".join(f"{name} 0x{base:08x}+0x{size:x}" for name, base, size in
                            self._windows())
        return WindowError(f"address 0x{address:08x} ({length} bytes) is outside the simulated "
                           f"design's windows: {windows}, and DDR buffers from pynq.allocate "
                           f"in 0x{DDR_BASE:08x}+0x{self.memory_size:x}")

    def _decode(self, address, length):
        """``(kind, target, offset)`` of an access; raises WindowError outside every window."""
        self._need_board(f"register access at 0x{address:08x}")
        if address % 4 or length % 4 or length <= 0:
            raise WindowError(f"register access at 0x{address:08x} of {length} bytes: "
                              f"address and length must be multiples of 4")
        end = address + length
        if KERNEL_BASE <= address and end <= KERNEL_BASE + self._window:
            for word in range((address - KERNEL_BASE) >> 2, (end - KERNEL_BASE) >> 2):
                if word not in self._words and 4 * word not in self._out_beats:
                    raise WindowError(
                        f"address 0x{KERNEL_BASE + 4 * word:08x} (offset 0x{4 * word:x} of "
                        f"hetflow_{self.kernel.name}_0) is no register of the kernel's AXI wrapper, "
                        f"which answers SLVERR there; registers: "
                        f"{', '.join(self.register_names())}")
            return "kernel", None, address - KERNEL_BASE
        for engine in self._engines:
            if engine.base <= address and end <= engine.base + DMA_STRIDE:
                return "dma", engine, address - engine.base
        for alloc in self._allocations.values():
            base = DDR_BASE + alloc.address
            if base <= address and end <= base + alloc.size:
                return "ddr", None, alloc.address + address - base
        raise self._outside(address, length)

    def read_registers(self, address, length):
        with self._lock:
            kind, engine, offset = self._decode(address, length)
            if kind == "ddr":
                return self.board.mem_read(offset, length)
            words = [self._read_word(kind, engine, offset + 4 * i) for i in range(length // 4)]
            return b"".join(int(w).to_bytes(4, "little") for w in words)

    def write_registers(self, address, data):
        data = bytes(data)
        with self._lock:
            kind, engine, offset = self._decode(address, len(data))
            if kind == "ddr":
                self.board.mem_write(offset, data)
                return
            for i in range(0, len(data), 4):
                value = int.from_bytes(data[i:i + 4], "little")
                self._write_word(kind, engine, offset + i, value)

    def register_names(self):
        """Names of the registers in the kernel's window, in address order."""
        names = [r.name for r in self.kernel.map]
        return names + [f"out_beats_{port}" for port, _ in self._out_beats.values()]

    def _read_word(self, kind, engine, offset):
        if kind == "kernel":
            if offset in self._out_beats:
                return self._out_beats[offset][1]
            if offset == self.kernel.map["status"].offset:
                self._advance()
            return self.board.reg_read(offset)
        chan, reg = (engine.s2mm, offset - _S2MM) if offset >= _S2MM else (engine.mm2s, offset)
        if chan.board_channel is None or reg > _LENGTH:
            return 0                       # absent channel or unmodelled register: reads 0
        if reg == _DMACR:
            return chan.dmacr
        if reg == _DMASR:
            if chan.active:
                self._advance()
            return chan.status
        if reg == _ADDR:
            return chan.addr
        if reg == _ADDR_MSB:
            return chan.addr_msb
        if reg == _LENGTH:
            return chan.length
        return 0

    def _write_word(self, kind, engine, offset, value):
        if kind == "kernel":
            if offset in self._out_beats:
                self._out_beats[offset][1] = value
                return
            self.board.reg_write(offset, value)
            if offset == self.kernel.map["ctrl"].offset and value & 1:
                self._started = True
            return
        chan, reg = (engine.s2mm, offset - _S2MM) if offset >= _S2MM else (engine.mm2s, offset)
        if chan.board_channel is None:
            return
        if reg == _DMACR and value & _RESET:    # resets the whole engine, both directions
            for c in (engine.mm2s, engine.s2mm):
                if c.board_channel is not None:
                    if c.active:
                        self.board.dma_setup(c.board_channel, 0, 0)
                    c.reset()
            return
        if reg == _DMACR:
            chan.dmacr = value & ~_RESET
            if value & _RS:
                chan.status &= ~_HALTED
            else:
                if chan.active:
                    self.board.dma_setup(chan.board_channel, 0, 0)
                    chan.active = False
                chan.status = (chan.status | _HALTED) & ~_IDLE
        elif reg == _DMASR:
            chan.status &= ~(value & _W1C)
        elif reg == _ADDR:
            chan.addr = value
        elif reg == _ADDR_MSB:
            chan.addr_msb = value
        elif reg == _LENGTH:
            self._start_transfer(chan, value)

    def _halt(self, chan, error):
        chan.status = (chan.status | _HALTED | error) & ~_IDLE
        chan.dmacr &= ~_RS
        chan.active = False

    def _start_transfer(self, chan, length):
        if chan.status & _HALTED:
            return                         # PG021: LENGTH writes while halted do nothing
        chan.length = length & 0x03FFFFFF
        if chan.length == 0:
            self._halt(chan, _INT_ERR)
            return
        address = ((chan.addr_msb << 32) | chan.addr) - DDR_BASE
        beats = -(-chan.length // chan.stride)
        if address < 0 or address + beats * chan.stride > self.memory_size:
            self._halt(chan, _DEC_ERR)
            return
        chan.address = address
        chan.beats = beats
        chan.active = True
        chan.armed = False
        chan.status &= ~(_IDLE | _IOC_IRQ)
        if not chan.s2mm:
            self._arm(chan, beats)

    def _advance(self):
        """Clock the board until the started kernel is done (see the module doc)."""
        if not self._started:
            return
        active = [c for e in self._engines for c in (e.mm2s, e.s2mm) if c.active]
        tlast = {name: max(1, value) for name, value in self._out_beats.values()}
        for engine in self._engines:
            chan = engine.s2mm
            if chan.active and not chan.armed:
                # Armed only now, with the out_beats the host has set by the time it
                # waits; until then the kernel's output stalls, as behind an idle S2MM.
                port = self.board.channels[chan.board_channel].port.name
                self._arm(chan, min(chan.beats, tlast[port]))
        budget = 64 * sum(c.beats for c in active) + 100_000
        done, cycles = self.board.run(budget)
        self.last_cycles = cycles
        if not done:
            if not self.board.reg_read(self.kernel.map["status"].offset) & STATUS_DONE:
                return                     # still busy: the next poll runs on
            # Done with transfers not complete (more was sent than the job takes, or
            # out_beats exceeds what it produces): end them.
            for c in active:
                self.board.dma_setup(c.board_channel, 0, 0)
        for c in active:
            c.active = False
            c.status |= _IDLE | _IOC_IRQ
        self._started = False

    def _arm(self, chan, beats):
        self.board.dma_setup(chan.board_channel, chan.address, beats)
        chan.armed = True
        if chan.s2mm:
            # S2MM_LENGTH reads back the bytes received: up to TLAST.
            chan.length = min(chan.length, beats * chan.stride)


_DEVICE = None
_DEVICE_LOCK = threading.Lock()


def device():
    """The simulated Zynq (one per process, like the PL of a board)."""
    global _DEVICE
    with _DEVICE_LOCK:
        if _DEVICE is None:
            _DEVICE = SimulatedPynqDevice()
        return _DEVICE


class HetflowIP(pynq.DefaultIP):
    """PYNQ driver of a hetflow kernel: ``DefaultIP`` plus the shell's start/status.

    ``register_map`` comes from the description's ``registers`` (see
    :func:`pynq_registers`); ``read``/``write`` are ``DefaultIP``'s.
    """

    def start(self):
        """Start a job (``ctrl`` bit 0)."""
        self.write(0x00, 1)

    @property
    def done(self):
        """The ``status`` register's done bit."""
        return bool(self.read(0x04) & STATUS_DONE)

    @property
    def kernel_id(self):
        """The ``id`` register (CRC-32 of the kernel name)."""
        return self.read(0x14)


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
    global _DEVICE
    cls = get_kernel(kernel)
    instance = Shell(cls, **params)
    dev = device()
    if memory_size is not None and int(memory_size) != dev.memory_size:
        with _DEVICE_LOCK:
            old = dev
            old.close()
            _DEVICE = dev = SimulatedPynqDevice(memory_size=memory_size)
            probed = pynq.Device.__dict__.get("_devices")     # PYNQ caches its first probe
            if probed is not None and old in probed:
                probed[probed.index(old)] = dev
    ip_dict = dev.load(instance, status=status)
    ol = SimOverlay(dev, instance, ip_dict)
    dev.overlay = ol
    pynq.Device.active_device = dev
    return ol
