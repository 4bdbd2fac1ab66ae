"""The PYNQ device: a hetflow kernel in a Zynq PL design, driven through PYNQ.

``hetflow.open("pynq", bitfile="design.bit")`` loads the design with
``pynq.Overlay`` (Vivado's ``design.hwh`` must sit next to the bitstream),
finds the hetflow kernel in it by its ``id`` register, and runs each job with
PYNQ's own drivers: buffers from ``pynq.allocate``, registers through
``pynq.MMIO``, streams through ``pynq.lib.dma.DMA`` (Xilinx AXI DMA, simple
mode).  The same code runs on the simulated Zynq of :mod:`hetflow.pynq_sim`,
which is how it is tested without a board::

    import hetflow, hetflow.pynq_sim
    with hetflow.open("pynq", overlay=hetflow.pynq_sim.overlay("saxpy")) as dev:
        z = dev.kernel("saxpy")(x, y, a=7)

The design contract (what ``hetflow.boards.zynq`` exports for Vivado)
    * one hetflow kernel in its AXI wrapper: the register window on an
      AXI-Lite port (the common block of :mod:`hetflow.hw.regmap`, so ``id``
      at 0x14), and above it one ``out_beats_<port>`` register per output
      (:func:`out_beats_offsets`): the beats the next job produces there,
      on the last of which the wrapper raises TLAST to end the S2MM
      transfer -- the device writes them before every job;
    * AXI DMA engines named ``axi_dma_0``, ``axi_dma_1``, ... in simple
      (direct register) mode, wired as :func:`dma_plan` says: engine ``i``
      feeds input port ``i`` (MM2S), and the outputs come back on the last
      engines (S2MM), so saxpy uses ``axi_dma_0`` for x and ``axi_dma_1``
      for y and z;
    * each stream is as wide as the kernel's beat rounded up to a power of
      two bytes (:func:`~hetflow.link.protocol.beat_stride`), payload
      in the low bytes, and the kernel's output marks its last beat with
      TLAST.

Every wait is bounded: PYNQ's ``DMA.wait()`` polls forever, so the device
polls the kernel's status and each channel's ``DMASR`` itself, against one
deadline per job (``timeout``, seconds), and raises :class:`TimeoutError`
naming the kernel and the time waited.  After a timeout or a DMA error the
engines are soft-reset before the next job; a kernel still busy then cannot
be reset from software (the shell has no reset register) and the next call
says so.
"""

import os
import re
import threading
import time

import numpy as np

from ..device import Device
from ..hw.errors import HetflowError
from ..hw.regmap import STATUS_BUSY, STATUS_DONE, COMMON_REGISTERS
from ..link.protocol import beat_stride
from .pynq_dma import poll, reset_engines, wait_channel

__all__ = ["PynqDevice", "dma_plan", "out_beats_offsets", "wrapper_window", "wait_channel",
           "pack_stream", "unpack_stream", "BITFILE_VARIABLE", "DMA_TYPE"]

#: Environment variable naming the bitstream when ``open("pynq")`` gets none.
BITFILE_VARIABLE = "HETFLOW_PYNQ_BITFILE"
#: VLNV prefix of the Xilinx AXI DMA.
DMA_TYPE = "xilinx.com:ip:axi_dma:"

_COMMON = {r.name: r.offset for r in COMMON_REGISTERS}
def dma_plan(inputs, outputs):
    """Which AXI DMA engine carries which stream.

    Parameters
    ----------
    inputs, outputs : sequence of Port
        The kernel's stream ports, in port order.

    Returns
    -------
    list of (Port or None, Port or None)
        Engine ``i``'s MM2S (memory to kernel) and S2MM (kernel to memory)
        port.  Engine ``i`` feeds input ``i``; output ``j`` returns on engine
        ``n - len(outputs) + j`` where ``n = max(len(inputs), len(outputs))``,
        so a one-output kernel's result comes back on the last engine.
    """
    n = max(len(inputs), len(outputs))
    plan = [[None, None] for _ in range(n)]
    for i, port in enumerate(inputs):
        plan[i][0] = port
    for j, port in enumerate(outputs):
        plan[n - len(outputs) + j][1] = port
    return [tuple(p) for p in plan]


def out_beats_offsets(regmap, outputs):
    """``{output port name: byte offset}`` of the AXI wrapper's ``out_beats_<port>`` registers.

    They follow the kernel's window: output ``j`` at ``regmap.size + 4 * j``
    (the wrapper's address map, :mod:`hetflow.boards.zynq`).
    """
    return {port.name: regmap.size + 4 * j for j, port in enumerate(outputs)}


def wrapper_window(regmap, outputs):
    """Bytes of the AXI wrapper's address window: a power of two, at least 4 KiB."""
    end = regmap.size + 4 * len(outputs)
    return 1 << max(12, (end - 1).bit_length())


def pack_stream(port, elements):
    """Bytes of a stream in memory: one beat per :func:`beat_stride` bytes, payload low."""
    stride = beat_stride(port.width)
    arr = np.asarray(elements, dtype=port.np_dtype).reshape(-1)
    arr = arr.astype(port.np_dtype.newbyteorder("<"), copy=False)
    beats = port.beats(len(arr))
    if not beats:
        return np.zeros(0, np.uint8)
    if beats * port.lanes != len(arr):
        arr = np.concatenate([arr, np.zeros(beats * port.lanes - len(arr), arr.dtype)])
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(beats, -1)
    if raw.shape[1] != stride:
        raw = np.pad(raw, ((0, 0), (0, stride - raw.shape[1])))
    return raw.reshape(-1)


def unpack_stream(port, raw, elements):
    """Inverse of :func:`pack_stream`: ``elements`` values of ``port.dtype`` from bytes."""
    stride = beat_stride(port.width)
    nbytes = port.lanes * port.np_dtype.itemsize
    arr = np.frombuffer(bytes(raw), dtype=np.uint8).reshape(-1, stride)[:, :nbytes]
    arr = np.ascontiguousarray(arr).view(port.np_dtype.newbyteorder("<")).reshape(-1)
    return arr.astype(port.np_dtype)[:elements]


def _check_timeout(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise HetflowError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


class _Loaded:
    """A kernel found in the overlay: its IP, register window and DMA engines."""

    def __init__(self, ip, mmio, regmap, blocks, out_beats):
        self.ip = ip
        #: {output port name: offset of its out_beats register}
        self.out_beats = out_beats
        self.mmio = mmio
        self.regmap = regmap
        #: [(engine name, DMA driver, MM2S port or None, S2MM port or None)]
        self.blocks = blocks
        self.buffers = {}


class PynqDevice(Device):
    """A hetflow kernel in a Zynq PL design, driven through PYNQ.

    Parameters
    ----------
    bitfile : str, optional
        The bitstream (``design.hwh`` next to it); default
        ``$HETFLOW_PYNQ_BITFILE``.  Loaded with ``pynq.Overlay(bitfile)``.
    overlay : object, optional
        An overlay already loaded, instead of ``bitfile``: a
        ``pynq.Overlay`` or :func:`hetflow.pynq_sim.overlay`; anything with
        PYNQ's ``ip_dict``, a ``device`` and drivers as attributes.
    timeout : float
        Seconds one job (one tile of a call) may take, DMA included.
    download : bool
        Passed to ``pynq.Overlay``: program the PL (default) or only read
        the metadata of a design already loaded.
    """

    name = "pynq"

    def __init__(self, bitfile=None, *, overlay=None, timeout=10.0, download=True):
        try:
            import pynq
        except ImportError as exc:
            from ..tools import install_command
            raise HetflowError(f"device 'pynq' needs the pynq package ({exc}); install it "
                               f"with: {install_command('pynq')}") from None
        self.timeout = _check_timeout(timeout)
        if overlay is None:
            bitfile = bitfile or os.environ.get(BITFILE_VARIABLE)
            if not bitfile:
                raise HetflowError(f"device 'pynq' needs a bitstream: "
                                   f"hetflow.open('pynq', bitfile='design.bit') (design.hwh "
                                   f"next to it) or ${BITFILE_VARIABLE}")
            try:
                overlay = pynq.Overlay(str(bitfile), download=download)
            except HetflowError:
                raise
            except (OSError, RuntimeError, ValueError, TypeError) as exc:
                raise HetflowError(f"device 'pynq': pynq.Overlay('{bitfile}') failed: "
                                   f"{exc}") from None
        elif bitfile is not None:
            raise HetflowError("device 'pynq': pass bitfile or overlay, not both")
        self._pynq = pynq
        self.overlay = overlay
        self.pynq_device = getattr(overlay, "device", None) or pynq.Device.active_device
        self.label = getattr(overlay, "bitfile_name", None) or repr(overlay)
        self._kernel_ips, self._dma_names = self._discover()
        self._loaded = {}
        self._job_lock = threading.Lock()
        self._generation = 0
        # The engines' state is unknown until they are reset (a script may have left a
        # transfer pending): reset them before the first job.
        self._dirty = True
        super().__init__()

    # ---- discovery ----------------------------------------------------------------------

    def _discover(self):
        """``({kernel id: IP name}, [DMA engine names in index order])`` of the overlay."""
        kernels, dmas = {}, []
        for name, desc in self.overlay.ip_dict.items():
            vlnv = desc.get("type") or ""
            if vlnv.startswith(DMA_TYPE):
                dmas.append(name)
            elif vlnv.startswith("xilinx.com:"):
                # Xilinx IP is never a hetflow kernel; reading its 0x14 could have side effects.
                continue
            elif desc.get("phys_addr") is not None \
                    and (desc.get("addr_range") or 0) > _COMMON["id"]:
                mmio = self._pynq.MMIO(desc["phys_addr"], desc["addr_range"],
                                       device=self.pynq_device)
                kernels.setdefault(mmio.read(_COMMON["id"]), name)

        def index(name):
            m = re.search(r"(\d+)$", name)
            return (int(m.group(1)) if m else 1 << 30, name)
        return kernels, sorted(dmas, key=index)

    def _load(self, kernel_cls, p):
        key = (kernel_cls, p)
        if key in self._loaded:
            return
        regmap = kernel_cls.regmap(p)
        ip = self._kernel_ips.get(regmap.kernel_id)
        if ip is None:
            found = ", ".join(f"0x{k:08x} at {v}" for k, v in self._kernel_ips.items()) or "none"
            raise HetflowError(f"kernel '{kernel_cls.name}' (id 0x{regmap.kernel_id:08x}) is not "
                               f"in the overlay {self.label}; ids found there: {found}")
        desc = self.overlay.ip_dict[ip]
        outs = kernel_cls.outputs(p)
        need = regmap.size + 4 * len(outs)
        if (desc.get("addr_range") or 0) < need:
            raise HetflowError(f"kernel '{kernel_cls.name}' at {ip} has a {desc.get('addr_range')}"
                               f"-byte window; its AXI wrapper needs {need} (registers and "
                               f"out_beats); was it exported with hetflow export --format "
                               f"pynq-ip?")
        params = desc.get("parameters") or {}
        for k, v in p.items():
            have = params.get(f"HETFLOW_{k.upper()}")
            if have is not None and int(have) != v:
                raise HetflowError(f"kernel '{kernel_cls.name}' in the overlay was built with "
                                   f"{k}={int(have)}, not {k}={v}; ask for {k}={int(have)}")
        plan = dma_plan(kernel_cls.inputs(p), outs)
        if len(plan) > len(self._dma_names):
            have = ", ".join(self._dma_names) or "none"
            raise HetflowError(f"kernel '{kernel_cls.name}' needs {len(plan)} AXI DMA engine(s) "
                               f"(axi_dma_0..axi_dma_{len(plan) - 1}); the overlay has: {have}")
        blocks = []
        for name, (src, dst) in zip(self._dma_names, plan):
            dma = getattr(self.overlay, name)
            dparams = self.overlay.ip_dict[name].get("parameters") or {}
            for port, chan, width_key in ((src, "sendchannel", "c_m_axis_mm2s_tdata_width"),
                                          (dst, "recvchannel", "c_s_axis_s2mm_tdata_width")):
                if port is None:
                    continue
                if getattr(dma, chan, None) is None:
                    raise HetflowError(f"kernel '{kernel_cls.name}': {name} has no "
                                       f"{'MM2S' if chan == 'sendchannel' else 'S2MM'} channel "
                                       f"for stream '{port.name}'")
                width = dparams.get(width_key)
                want = 8 * beat_stride(port.width)
                if width is not None and int(width) != want:
                    raise HetflowError(f"kernel '{kernel_cls.name}': {name} carries stream "
                                       f"'{port.name}' in {int(width)}-bit beats; the kernel "
                                       f"needs {want}-bit beats")
            blocks.append((name, dma, src, dst))
        mmio = self._pynq.MMIO(desc["phys_addr"], desc["addr_range"], device=self.pynq_device)
        self._loaded[key] = _Loaded(ip, mmio, regmap, blocks, out_beats_offsets(regmap, outs))

    # ---- jobs ---------------------------------------------------------------------------

    def _buffer(self, loaded, port, nbytes):
        """A DMA buffer of at least ``nbytes`` bytes for ``port``, reused across jobs."""
        buf = loaded.buffers.get(port.name)
        if buf is None or buf.nbytes < nbytes:
            # Contiguous memory is scarce and slow to allocate: grow in powers of two.
            size = 4096
            while size < nbytes:
                size *= 2
            buf = self._pynq.allocate((size,), dtype=np.uint8, target=self.pynq_device)
            loaded.buffers[port.name] = buf
        return buf

    def _recover(self, loaded, kernel):
        """Soft-reset every DMA engine of the kernel and restart its channels."""
        reset_engines(loaded.blocks, f"kernel '{kernel}'")

    def _execute(self, handle, job):
        with self._job_lock:
            generation = self._generation
            return self._run_job(handle, job, lambda: self._generation != generation)

    def _run_job(self, handle, job, cancelled):
        cls, p, kernel = handle.kernel_cls, handle.params, handle.name
        loaded = self._loaded[(cls, p)]
        mmio, regmap = loaded.mmio, loaded.regmap
        start = time.monotonic()
        deadline = start + self.timeout
        if self._dirty:
            self._recover(loaded, kernel)
            self._dirty = False
        status = mmio.read(regmap["status"].offset)
        if status & STATUS_BUSY:
            raise HetflowError(f"kernel '{kernel}' on pynq is still busy from an earlier call "
                               f"that timed out; reload the overlay to reset the PL")
        self._dirty = True           # until this job completes cleanly
        for name, value in job.registers.items():
            reg = regmap[name]
            values = list(np.asarray(value).reshape(-1)) if reg.array or np.ndim(value) \
                else [value]
            if len(values) > reg.count:
                raise HetflowError(f"{kernel}: register '{name}' has {reg.count} word(s) but "
                                   f"the job gives {len(values)} values")
            for i, v in enumerate(values):
                mmio.write(reg.offset + 4 * i, int(v) & 0xFFFFFFFF)
        sends, recvs, outs = [], [], {}
        for name, dma, src, dst in loaded.blocks:
            if dst is not None:
                n = job.expect[dst.name]
                # TLAST on the job's last beat ends the S2MM transfer.
                mmio.write(loaded.out_beats[dst.name], dst.beats(n))
                nbytes = dst.beats(n) * beat_stride(dst.width)
                if nbytes:
                    # A view of just the job's bytes: transfer()/wait() flush and
                    # invalidate the array they are given, not the whole buffer.
                    view = self._buffer(loaded, dst, nbytes)[:nbytes]
                    dma.recvchannel.transfer(view)
                    recvs.append((dma.recvchannel, f"{name} S2MM ('{dst.name}')"))
                outs[dst.name] = (dst, n, nbytes)
        for name, dma, src, dst in loaded.blocks:
            if src is not None:
                data = pack_stream(src, job.streams[src.name])
                if len(data):
                    view = self._buffer(loaded, src, len(data))[:len(data)]
                    view[:] = data
                    dma.sendchannel.transfer(view)       # flushes the view first
                    sends.append((dma.sendchannel, f"{name} MM2S ('{src.name}')"))
        mmio.write(regmap["ctrl"].offset, 1)

        state = {}

        def done():
            state["status"] = mmio.read(regmap["status"].offset)
            return bool(state["status"] & STATUS_DONE)

        if not poll(done, deadline, cancelled):
            s = state.get("status", 0)
            raise TimeoutError(f"kernel '{kernel}' on pynq did not finish within "
                               f"{self.timeout:g} s (waited {time.monotonic() - start:.2f} s; "
                               f"status=0x{s:x}{', busy' if s & STATUS_BUSY else ''})")
        # The kernel is done once its last output beat is taken; the S2MM engines may
        # still be writing memory, so wait for every channel, on what is left of the deadline.
        for chan, what in sends + recvs:
            wait_channel(chan, max(0.001, deadline - time.monotonic()), kernel, what, cancelled)
        outputs = {}
        for name, (port, n, nbytes) in outs.items():
            raw = np.asarray(loaded.buffers[port.name][:nbytes]).tobytes() if nbytes else b""
            outputs[name] = unpack_stream(port, raw, n)
        lo = mmio.read(regmap["cycles_lo"].offset)
        hi = mmio.read(regmap["cycles_hi"].offset)
        self._dirty = False
        return outputs, (hi << 32) | lo

    def _abandon(self, run):
        future = run._future
        if future.done() and not future.cancelled() \
                and isinstance(future.exception(), TimeoutError):
            # Not abandoned: the job itself timed out (our bounded waits).  Run.wait
            # takes any TimeoutError from the future for its own (in Python 3.11
            # concurrent.futures.TimeoutError is TimeoutError) and would report its own
            # timeout instead; raise the job's error, which names what was waited for.
            self._dirty = True
            raise future.exception()
        # The worker notices the new generation at its next poll and gives up; the
        # engines are reset before the next job.
        self._generation += 1
        self._dirty = True
        super()._abandon(run)

    def _close(self):
        for loaded in self._loaded.values():
            loaded.buffers.clear()
