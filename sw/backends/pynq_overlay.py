"""An overlay export on PYNQ: the design read from its handoff, its calls on PYNQ's drivers.

``hetflow export --overlay FILE --format pynq-ip`` makes one AXI IP per
instance, an AXI DMA per port no stream chains, and AXI-Streams between
chained instances (:mod:`hetflow.boards.zynq.overlay`).  Opened with
``hetflow.open("pynq", bitfile="hetflow_pipeline.bit")`` (or ``overlay=`` a
loaded ``pynq.Overlay``), :class:`PynqOverlayDevice` recognises such a design
from what Vivado's ``.hwh`` carries as well as the export's:

* the kernel IPs (VLNV ``hetflow:hetflow:hetflow_<overlay>_<instance>_axi``)
  in PYNQ's ``ip_dict``, each instance's kernel and parameters in its
  ``HETFLOW_KERNEL`` and ``HETFLOW_<PARAM>`` IP parameters;
* the AXI-Stream connections in the ``.hwh`` beside the bitstream: IP to IP
  is a stream (its FIFO depth the producer's ``HETFLOW_FIFO_<PORT>``), an AXI
  DMA's ``M_AXIS_MM2S`` to an IP's ``s_axis_<port>`` feeds that input, an IP's
  ``m_axis_<port>`` to a DMA's ``S_AXIS_S2MM`` returns that output.

The overlay is rebuilt as the simulated Zynq rebuilds it
(:func:`hetflow.boards.zynq.handoff.handoff_overlay`, which reads nothing but the
handoff), and the device offers the API every device running an overlay offers
(:mod:`hetflow.overlays`): ``dev.kernels``, ``dev.chains``,
``dev.<instance>(...)``, a chain as one call.  Calls are planned and gathered
by the :class:`~hetflow.backends.sim_overlay.OverlayRunner` the sim and serial
devices use; :class:`PynqDesign` runs its batches with
PYNQ's ``allocate``, ``MMIO`` and ``DMA``: every instance's registers and
``out_beats_<port>``, the S2MM then the MM2S transfers of its DMA'd ports,
the starts in the runner's order (a chain's last instance first), then one
bounded wait for every started instance's done bit and every channel.  A
chain's intermediate data goes from FIFO to kernel in the PL; calls started
on independent instances before the device gets to them run at the same
time.  A design of one kernel IP (``hetflow export KERNEL``) is run as
:class:`~hetflow.backends.pynq.PynqDevice` always ran it.
"""

import math
import time
from pathlib import Path

from ..hw.errors import HetflowError
from ..hw.regmap import STATUS_BUSY, STATUS_DONE
from ..link.protocol import beat_stride
from ..boards.zynq.handoff import KERNEL_PREFIX, KERNEL_SUFFIX, handoff_overlay, stream_wiring
from .pynq import DMA_TYPE, PynqDevice, out_beats_offsets, pack_stream, unpack_stream
from .pynq_dma import poll, reset_engines, wait_channel
from .sim_overlay import OverlayRunner, RunsOverlays

__all__ = ["PynqOverlayDevice", "PynqDesign", "is_overlay_export", "read_design"]


def _kernel_ips(ip_dict):
    return {ip: desc for ip, desc in ip_dict.items()
            if (desc.get("type") or "").startswith(KERNEL_PREFIX)
            and KERNEL_SUFFIX in desc["type"]}


def is_overlay_export(ip_dict):
    """Whether PYNQ's ``ip_dict`` holds an overlay export's kernel IPs.

    A kernel exported alone is ``hetflow_<kernel>_axi`` with ``HETFLOW_KERNEL``
    = ``<kernel>``; an overlay's instance IP is ``hetflow_<overlay>_<instance>_axi``.
    """
    for desc in _kernel_ips(ip_dict).values():
        name = desc["type"][len(KERNEL_PREFIX):].split(KERNEL_SUFFIX)[0]
        kernel = (desc.get("parameters") or {}).get("HETFLOW_KERNEL")
        if kernel is not None and name != kernel:
            return True
    return False


class _Unit:
    """One instance's IP: its register window and the DMA engines of its unchained ports."""

    def __init__(self, name, inst, mmio):
        self.name = name
        self.inst = inst
        self.mmio = mmio
        self.regmap = inst.kernel_cls.regmap(inst.params)
        self.status = self.regmap["status"].offset
        self.ctrl = self.regmap["ctrl"].offset
        #: ``[(port, engine name, DMA driver)]`` of the inputs and outputs a DMA serves.
        self.inputs, self.outputs = [], []
        self.out_beats = {}


class _UnitView:
    """An instance as fitting a call sees it: PYNQ allocates each buffer when a job needs
    it, so the device sets no memory bound and a call is not cut on the host."""

    memory_size = math.inf
    memory_hint = ""

    def __init__(self, unit, where):
        self.unit = unit
        self.where = where

    def memory_needed(self, lengths):
        return sum(beat_stride(p.width) * p.beats(lengths[p.name])
                   for p, _, _ in self.unit.inputs + self.unit.outputs)


def read_design(device):
    """The :class:`PynqDesign` of the overlay export ``device.overlay`` holds.

    Raises
    ------
    HetflowError
        No ``.hwh`` beside the bitstream, a design the overlay cannot be
        rebuilt from, or an unchained port no AXI DMA serves.
    """
    label = device.label
    hwh = Path(str(label)).with_suffix(".hwh")
    if not hwh.is_file():
        raise HetflowError(f"device 'pynq': {label} holds an overlay export; its streams are "
                           f"read from the hardware handoff {hwh}, which is not there (Vivado "
                           f"writes it beside the bitstream)")
    ip_dict = device.overlay.ip_dict
    kernels = _kernel_ips(ip_dict)
    wiring = stream_wiring(hwh.read_text())
    overlay = handoff_overlay(hwh.name, kernels, wiring, runner="device 'pynq'")
    units = {}
    for name, inst in overlay.instances.items():
        desc = kernels[name]
        mmio = device._pynq.MMIO(desc["phys_addr"], desc["addr_range"],
                                 device=device.pynq_device)
        units[name] = _Unit(name, inst, mmio)
    blocks = []
    for engine, desc in ip_dict.items():
        if not (desc.get("type") or "").startswith(DMA_TYPE):
            continue
        ends, params = [], desc.get("parameters") or {}
        for busif, prefix, side, width_key in (
                ("M_AXIS_MM2S", "s_axis_", "inputs", "c_m_axis_mm2s_tdata_width"),
                ("S_AXIS_S2MM", "m_axis_", "outputs", "c_s_axis_s2mm_tdata_width")):
            ip, peer = wiring.get((engine, busif), (None, ""))
            port = units[ip].inst.port(peer[len(prefix):]) if ip in units \
                and peer.startswith(prefix) else None
            if port is None:
                ends.append(None)       # unused, or another IP's stream: not the overlay's
                continue
            width, want = params.get(width_key), 8 * beat_stride(port[1].width)
            if width is not None and int(width) != want:
                raise HetflowError(f"{hwh.name}: {engine} carries {ip}.{port[1].name} in "
                                   f"{int(width)}-bit beats; the port needs {want}-bit beats "
                                   f"({width_key})")
            dma = getattr(device.overlay, engine)
            getattr(units[ip], side).append((port[1], engine, dma))
            ends.append(port[1])
        if any(end is not None for end in ends):
            blocks.append((engine, getattr(device.overlay, engine), *ends))
    chained = {s.source for s in overlay.streams} | {s.sink for s in overlay.streams}
    for unit in units.values():
        served = {p.name for p, _, _ in unit.inputs + unit.outputs}
        missing = [p.name for p in unit.inst.ports("in") + unit.inst.ports("out")
                   if (unit.name, p.name) not in chained and p.name not in served]
        if missing:
            raise HetflowError(f"{hwh.name}: no AXI DMA serves {unit.name}'s stream(s) "
                               f"{', '.join(missing)}; the design carries "
                               f"{', '.join(b[0] for b in blocks) or 'no DMA'} for the "
                               f"overlay {overlay.name}")
        # The wrapper's out_beats registers follow its unchained outputs in port order.
        unit.out_beats = out_beats_offsets(unit.regmap, [p for p in unit.inst.ports("out")
                                                         if p.name in served])
    return PynqDesign(device, overlay, units, blocks)


class PynqDesign:
    """An overlay export's instances on PYNQ's drivers, as the
    :class:`~hetflow.backends.sim_overlay.OverlayRunner` runs a board's."""

    #: There is no board link to count (``last_link`` stays None).
    meter = None
    #: PYNQ allocates each buffer when a job needs it: no bound, a call is not cut.
    memory_size = math.inf

    def __init__(self, device, overlay, units, blocks):
        self.device = device
        self.overlay = overlay
        self.units = units
        self.blocks = blocks
        self.where = f"PYNQ design {device.label}"
        self._buffers = {}

    def unit_view(self, name):
        return _UnitView(self.units[name], self.where)

    def _buffer(self, key, nbytes):
        """A DMA buffer of at least ``nbytes`` bytes for ``key``, reused across jobs."""
        buf = self._buffers.get(key)
        if buf is None or buf.nbytes < nbytes:
            size = 4096            # contiguous memory is scarce: grow in powers of two
            while size < nbytes:
                size *= 2
            buf = self.device._pynq.allocate((size,), dtype="u1",
                                             target=self.device.pynq_device)
            self._buffers[key] = buf
        return buf

    def run_jobs(self, jobs, order=None, max_cycles=None):
        """Run the jobs of several instances together; ``({instance: {port: array}},
        {instance: cycles})`` as :meth:`~hetflow.link.design_client.DesignClient.run_jobs`.

        ``max_cycles`` is accepted for the runner and unused: a PL design is bounded by
        the device's ``timeout`` (seconds), as every PYNQ job is.
        """
        device = self.device
        with device._job_lock:
            generation = device._generation
            return self._run(jobs, list(jobs) if order is None else list(order),
                             lambda: device._generation != generation)

    def _run(self, jobs, order, cancelled):
        device = self.device
        start = time.monotonic()
        deadline = start + device.timeout
        units = [self.units[name] for name in jobs]
        if device._dirty:
            reset_engines(self.blocks, f"overlay '{self.overlay.name}'")
            device._dirty = False
        for unit in units:
            if unit.mmio.read(unit.status) & STATUS_BUSY:
                raise HetflowError(f"{unit.name} on pynq is still busy from an earlier call "
                                   f"that timed out; reload the overlay to reset the PL")
        device._dirty = True            # until these jobs complete cleanly
        waits, outs = [], []
        for unit in units:
            job = jobs[unit.name]
            for word, value in unit.regmap.word_writes(job.registers):
                unit.mmio.write(4 * word, value)
            for port, engine, dma in unit.outputs:
                n = job.expect[port.name]
                # TLAST on the job's last beat ends the S2MM transfer.
                unit.mmio.write(unit.out_beats[port.name], port.beats(n))
                nbytes = port.beats(n) * beat_stride(port.width)
                if nbytes:
                    view = self._buffer((unit.name, port.name), nbytes)[:nbytes]
                    dma.recvchannel.transfer(view)
                    waits.append((dma.recvchannel, unit.name, f"{engine} S2MM ('{port.name}')"))
                outs.append((unit, port, n, nbytes))
        for unit in units:
            for port, engine, dma in unit.inputs:
                data = pack_stream(port, jobs[unit.name].streams[port.name])
                if len(data):
                    view = self._buffer((unit.name, port.name), len(data))[:len(data)]
                    view[:] = data
                    dma.sendchannel.transfer(view)       # flushes the view first
                    waits.append((dma.sendchannel, unit.name, f"{engine} MM2S ('{port.name}')"))
        for name in order:
            self.units[name].mmio.write(self.units[name].ctrl, 1)
        state = {}

        def done():
            state.update((u.name, u.mmio.read(u.status)) for u in units
                         if not state.get(u.name, 0) & STATUS_DONE)
            return all(s & STATUS_DONE for s in state.values())

        if not poll(done, deadline, cancelled):
            status = ", ".join(f"{name} status=0x{s:x}" for name, s in state.items())
            raise TimeoutError(f"{' and '.join(jobs)} on pynq did not finish within "
                               f"{device.timeout:g} s (waited {time.monotonic() - start:.2f} s; "
                               f"{status})")
        for chan, name, what in waits:
            wait_channel(chan, max(0.001, deadline - time.monotonic()), name, what, cancelled)
        results = {name: {} for name in jobs}
        for unit, port, n, nbytes in outs:
            raw = self._buffers[(unit.name, port.name)][:nbytes].tobytes() if nbytes else b""
            results[unit.name][port.name] = unpack_stream(port, raw, n)
        cycles = {u.name: u.mmio.read(u.regmap["cycles_lo"].offset)
                  | u.mmio.read(u.regmap["cycles_hi"].offset) << 32 for u in units}
        device._dirty = False
        return results, cycles

    def close(self):
        self._buffers.clear()


class PynqOverlayDevice(RunsOverlays, PynqDevice):
    """The PYNQ device (:class:`~hetflow.backends.pynq.PynqDevice`), which also runs
    an overlay export (see the module doc).

    Opened on an overlay export, its ``kernels`` and ``chains`` are the design's,
    with no ``overlay=`` needed; ``overlay=`` (a hetflow Overlay or its TOML file)
    checks that the PL carries that design.  On a kernel's export, it is the
    single-kernel device, unchanged.
    """

    def __init__(self, bitfile=None, **options):
        self._design = None
        super().__init__(bitfile, **options)
        if is_overlay_export(self.overlay.ip_dict):
            from ..overlays import attach
            try:
                self._design = read_design(self)
                attach(self, self._design.overlay)
            except BaseException:
                self.close()
                raise

    def _load_design(self, overlay):
        carried = self._design.overlay if self._design is not None else None
        if carried is None or carried.describe() != overlay.describe():
            what = (f"the overlay {carried.name} ({', '.join(carried.instances)})" if carried
                    else f"the kernel IP(s) {', '.join(self._kernel_ips.values()) or 'none'}")
            raise HetflowError(f"device 'pynq': {self.label} carries {what}, not the overlay "
                               f"{overlay.name} ({', '.join(overlay.instances)}); open it "
                               f"without overlay= to use what the design carries")
        if self._overlay is None:
            self._overlay = OverlayRunner(self._design)

    def _abandon(self, run):
        if self._overlay is not None:
            self._overlay.close()
        super()._abandon(run)

    def _close(self):
        if self._design is not None:
            self._design.close()
        super()._close()
