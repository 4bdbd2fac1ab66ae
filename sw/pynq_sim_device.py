"""The simulated Zynq as a PYNQ device: registers, DDR and the PL's one design.

:class:`SimulatedPynqDevice` is a ``pynq.Device`` (registered in PYNQ's
device registry by being defined) whose register space is the design's
address map (:mod:`hetflow.pynq_sim_design`): each kernel IP's AXI wrapper, the
AXI DMA engines (:mod:`hetflow.pynq_sim_dma`), the PS clock registers
(:mod:`hetflow.pynq_sim_clocks`) and the DDR buffers ``pynq.allocate`` gave
out (:mod:`hetflow.pynq_sim_ddr`), with the design's RTL (a kernel, or an
overlay of several) on the virtual board behind them.  See
:mod:`hetflow.pynq_sim` for how it is used and when the simulation runs.
"""

import ctypes
import threading
import weakref

import numpy as np
import pynq
from pynq.buffer import PynqBuffer
from pynq.lib.dma import DMA

from .hw.errors import HetflowError
from .hw.regmap import STATUS_DONE
from .pynq_sim_clocks import SLCR_BASE, SLCR_SIZE, Slcr
from .pynq_sim_ddr import DdrAllocator
from .pynq_sim_design import DDR_BASE, DMA_STRIDE, SimDesign, WindowError, ip_dict
from .pynq_sim_dma import AxiDma, DmaChannel
from .pynq_sim_handoff import HetflowIP, handoff_design, read_handoff

__all__ = ["SimulatedPynqDevice", "device", "replace_device", "PROBE_PRIORITY", "ZYNQ_ARCH"]

#: Probed after every real PYNQ device (Zynq 50, Versal 40, remote 100, XRT 200),
#: so it is the default device only where no board is found.
PROBE_PRIORITY = 1000
#: What ``pynq.Clocks`` checks to drive the clocks of a Zynq-7000 (``pynq.ps.ZYNQ_ARCH``).
ZYNQ_ARCH = "armv7l"


class SimulatedPynqDevice(pynq.Device):
    """A Zynq whose PL holds a hetflow design (a kernel or an overlay) on the virtual board.

    Registered with PYNQ at priority :data:`PROBE_PRIORITY` (probed last).
    :func:`overlay` or ``pynq.Overlay("design.bit")`` loads a design; until
    then register and buffer access raise :class:`WindowError`.

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
        self.arch = ZYNQ_ARCH
        self.memory_size = int(memory_size)
        self.board = None
        self.design = None
        self.kernel = None
        self.overlay = None
        self.timestamp = ""
        self.bitfile_name = None
        self._engines = []
        self._windows = []                      # a _Window per kernel IP
        self._started = set()                   # units started since the last completed job
        self._ddr = DdrAllocator(self.memory_size, WindowError)
        self._slcr = Slcr()
        self._lock = threading.RLock()
        #: Cycles the board ran for the last completed job.
        self.last_cycles = None

    def __repr__(self):
        what = self.board.boardmap.name if self.board is not None else "no overlay"
        return f"<SimulatedPynqDevice {self.tag}: {what}>"

    # ---- loading ------------------------------------------------------------------------

    def load(self, kernel, status=None):
        """Put ``kernel`` (a Kernel instance) in the PL at :func:`overlay`'s addresses.

        Returns the design's ``ip_dict``.  The previous design's board is
        closed; live buffers keep their addresses and contents (DDR survives
        reprogramming the PL).
        """
        self._install(SimDesign.default(kernel), status)
        self.timestamp = f"{kernel.name} {id(self.board):x}"
        self.bitfile_name = f"<hetflow simulated {kernel.name}>"
        return ip_dict(self.design, self, HetflowIP, DMA)

    def _install(self, design, status=None):
        from .sim.board.virtual import VirtualBoard
        board = VirtualBoard(design.design, memory_size=self.memory_size, status=status)
        with self._lock:
            old, self.board = self.board, board
            if old is not None:
                for alloc in self._ddr:
                    try:
                        board.mem_write(alloc.address, old.mem_read(alloc.address, alloc.size))
                    except HetflowError:
                        break          # the old board died: contents are lost, as on a crash
                old.close()
            self.design, self.kernel = design, design.kernel
            self._started = set()
            self._windows = [_Window(w) for w in design.windows]
            by_port = {(c.unit, c.port.name): c for c in board.channels}

            def channel(end, s2mm):
                if end is None:
                    return DmaChannel(None, 1, s2mm)
                return DmaChannel(by_port[end].index, by_port[end].stride, s2mm)
            self._engines = [AxiDma(e.name, e.base, channel(e.mm2s, False), channel(e.s2mm, True),
                                    DDR_BASE, self.memory_size) for e in design.engines]

    def get_bitfile_metadata(self, bitfile_name, partial=False):
        """PYNQ's parser of the ``.hwh`` beside ``bitfile_name`` (``pynq.Overlay`` asks)."""
        if partial:
            raise HetflowError(f"{bitfile_name}: the simulated Zynq has no partial "
                               f"reconfiguration; load a full design")
        return read_handoff(bitfile_name)

    def download(self, bitstream, parser=None):
        """Load the design the handoff describes (``pynq.Overlay.download`` calls this).

        The bitstream's bytes are not read: the virtual board runs the RTL of
        the kernel the handoff names, with the parameters it gives.
        """
        if parser is None:
            parser = self.get_bitfile_metadata(bitstream.bitfile_name)
        self._install(handoff_design(bitstream.bitfile_name, parser))
        self.post_download(bitstream, parser)
        self.overlay = bitstream

    def close(self):
        """Close the board (its process); buffers become unusable."""
        with self._lock:
            if self.board is not None:
                self.board.close()
            self.board = None
            self.kernel = None
            self.design = None
            self.overlay = None

    # ---- memory -------------------------------------------------------------------------

    def _need_board(self, what):
        if self.board is None:
            raise WindowError(f"{what}: no overlay is loaded on the simulated Zynq; "
                              f"call hetflow.pynq_sim.overlay(kernel) first")
        return self.board

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
        with self._lock:
            board = self._need_board("pynq.allocate")
            alloc = self._ddr.take(nbytes)
        try:
            board.mem_write(alloc.address, bytes(alloc.size))      # fresh buffers read as zero
        except BaseException:
            self._free(alloc)
            raise
        host = np.zeros(max(nbytes, 1), dtype=np.uint8)
        buf = PynqBuffer(shape, dtype, buffer=host, device=self, bo=alloc,
                         device_address=DDR_BASE + alloc.address, coherent=False)
        weakref.finalize(host, self._free, alloc)
        return buf

    def _free(self, alloc):
        with self._lock:
            self._ddr.free(alloc)

    def _check_bo(self, bo, offset, size, what):
        if not getattr(bo, "live", False) or bo not in list(self._ddr):
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

    def _address_map(self):
        out = [(w.ip, w.base, w.window) for w in self.design.windows]
        out += [(e.name, e.base, DMA_STRIDE) for e in self._engines]
        out += [("slcr", SLCR_BASE, SLCR_SIZE)]
        return out

    def _decode(self, address, length):
        """``(kind, target, offset)`` of an access; raises WindowError outside every window."""
        if address % 4 or length % 4 or length <= 0:
            raise WindowError(f"register access at 0x{address:08x} of {length} bytes: "
                              f"address and length must be multiples of 4")
        if Slcr.contains(address, length):
            return "slcr", None, address - SLCR_BASE
        self._need_board(f"register access at 0x{address:08x}")
        end = address + length
        for window in self._windows:
            base = window.spec.base
            if not (base <= address and end <= base + window.spec.window):
                continue
            for word in range((address - base) >> 2, (end - base) >> 2):
                if word not in window.words and 4 * word not in window.out_beats:
                    raise WindowError(
                        f"address 0x{base + 4 * word:08x} (offset 0x{4 * word:x} of "
                        f"{window.spec.ip}) is no register of the kernel's AXI wrapper, "
                        f"which answers SLVERR there; registers: "
                        f"{', '.join(window.register_names())}")
            return "kernel", window, address - base
        for engine in self._engines:
            if engine.base <= address and end <= engine.base + DMA_STRIDE:
                return "dma", engine, address - engine.base
        if self._ddr.find(address - DDR_BASE, length) is not None:
            return "ddr", None, address - DDR_BASE
        windows = ", ".join(f"{name} 0x{base:08x}+0x{size:x}" for name, base, size in
                            self._address_map())
        raise WindowError(f"address 0x{address:08x} ({length} bytes) is outside the simulated "
                          f"design's windows: {windows}, and DDR buffers from pynq.allocate "
                          f"in 0x{DDR_BASE:08x}+0x{self.memory_size:x}")

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

    def register_names(self, ip=None):
        """Names of the registers in kernel IP ``ip``'s window (default: the first), in
        address order."""
        window = next((w for w in self._windows if ip in (None, w.spec.ip)), None)
        return window.register_names() if window is not None else []

    def _read_word(self, kind, target, offset):
        if kind == "slcr":
            return self._slcr.read(offset)
        if kind == "dma":
            return target.read(offset, self._advance)
        if offset in target.out_beats:
            return target.out_beats[offset][1]
        if offset == target.status:
            self._advance()
        return self.board.reg_read(target.spec.offset + offset)

    def _write_word(self, kind, target, offset, value):
        if kind == "slcr":
            self._slcr.write(offset, value)
        elif kind == "dma":
            target.write(offset, value, self.board)
        elif offset in target.out_beats:
            target.out_beats[offset][1] = value
        else:
            self.board.reg_write(target.spec.offset + offset, value)
            if offset == target.ctrl and value & 1:
                self._started.add(target)

    def _advance(self):
        """Clock the board until every started kernel is done (see :mod:`hetflow.pynq_sim`)."""
        if not self._started:
            return
        active = [c for e in self._engines for c in e.channels if c.active]
        tlast = {(w.spec.unit, name): max(1, value)
                 for w in self._windows for name, value in w.out_beats.values()}
        for engine in self._engines:
            chan = engine.s2mm
            if chan.active and not chan.armed:
                # Armed only now, with the out_beats the host has set by the time it
                # waits; until then the kernel's output stalls, as behind an idle S2MM.
                ch = self.board.channels[chan.board_channel]
                chan.arm(self.board, min(chan.beats, tlast[(ch.unit, ch.port.name)]))
        # Every channel of every engine in the budget: a chain's intermediate beats are
        # as many as its DMA'd ones give or take a kernel's ratio, well inside 64 a beat.
        budget = 64 * sum(c.beats for c in active) + 100_000
        done, cycles = self.board.run(budget)
        self.last_cycles = cycles
        if not done:
            if not all(self.board.reg_read(w.spec.offset + w.status) & STATUS_DONE
                       for w in self._started):
                return                     # still busy: the next poll runs on
            # Every started kernel is done.  Transfers of kernels not started stay queued
            # (they run when the host starts them); those of the started ones that did
            # not complete (more was sent than the job takes, or out_beats exceeds what
            # it produces) are ended.
            units = {w.spec.unit for w in self._started}
            active = [c for c in active if self.board.channels[c.board_channel].unit in units]
            for c in active:
                self.board.dma_setup(c.board_channel, 0, 0)
        for c in active:
            c.complete()
        self._started = set()


class _Window:
    """A kernel IP's registers as the device keeps them: the kernel's words, and the
    wrapper's ``out_beats`` values (``{offset: [port, value]}``), which stay here."""

    def __init__(self, spec):
        self.spec = spec
        kernel = spec.kernel
        self.words = {(r.offset >> 2) + i for r in kernel.map for i in range(r.count)}
        self.out_beats = {offset: [name, 0] for offset, name in spec.out_beats().items()}
        self.status = kernel.map["status"].offset
        self.ctrl = kernel.map["ctrl"].offset

    def register_names(self):
        names = [r.name for r in self.spec.kernel.map]
        return names + [f"out_beats_{port}" for port, _ in self.out_beats.values()]


_DEVICE = None
_DEVICE_LOCK = threading.Lock()


def device():
    """The simulated Zynq (one per process, like the PL of a board)."""
    global _DEVICE
    with _DEVICE_LOCK:
        if _DEVICE is None:
            _DEVICE = SimulatedPynqDevice()
        return _DEVICE


def replace_device(memory_size):
    """Close the simulated Zynq and make a new one with ``memory_size`` bytes of DDR."""
    global _DEVICE
    with _DEVICE_LOCK:
        old = _DEVICE
        _DEVICE = new = SimulatedPynqDevice(memory_size=memory_size)
        if old is not None:
            old.close()
            probed = pynq.Device.__dict__.get("_devices")     # PYNQ caches its first probe
            if probed is not None and old in probed:
                probed[probed.index(old)] = new
        return new
