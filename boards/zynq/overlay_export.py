"""The PYNQ export of an overlay: one AXI IP per instance, DMAs for the unchained ports.

``hetflow export --overlay FILE --format pynq-ip --board pynq-z2 --out DIR``
calls :func:`export_overlay_pynq_ip`, which writes what the single-kernel
export writes (:mod:`.export`), for every instance (see :mod:`.overlay` for
the design):

* ``hetflow_<overlay>_<instance>_axi.v`` per instance;
* ``package_ip.tcl`` (each IP into ``ip/<top>``) and ``build_overlay.tcl``
  (PS7, every instance's IP, the DMAs, the chained streams);
* ``hetflow_driver.json`` (per instance: register map, window, streams and
  their DMA channels or the instance they chain to) and ``README.md``;
* ``hetflow_<overlay>.hwh`` and the placeholder ``hetflow_<overlay>.bit``.
"""

import json

from ...hw.overlay import Overlay
from .constants import (DEFAULT_MHZ, DMA_LENGTH_WIDTH, DRIVER_FORMAT, DRIVER_VERSION, VIVADO_NOTE,
                        ZYNQ_BOARDS)
from .errors import ExportError
from .export import (_prepare_target, check_board, check_freq, layout_registers,
                     placeholder_bit, write_export)
from .hwh import handoff_xml
from .overlay import OverlayLayout
from .tcl import BlockDesign, build_overlay_tcl, package_ip_tcl
from .wrapper import verilog_text

__all__ = ["export_overlay_pynq_ip", "overlay_driver_metadata"]


def _stream_entry(name, s, overlay):
    entry = {"port": s.port.name, "direction": s.direction, "dtype": s.port.dtype,
             "lanes": s.port.lanes, "tdata_width": s.tdata_width, "beat_bytes": s.beat_bytes,
             "interface": s.axis}
    if s.chained:
        peer = next(st for st in overlay.streams
                    if (name, s.port.name) in (st.source, st.sink))
        other = peer.sink if peer.source == (name, s.port.name) else peer.source
        entry.update({"chained": ".".join(other), "fifo_depth": peer.depth})
    else:
        entry.update({"dma": s.dma, "channel": s.channel})
        if s.direction == "out":
            entry.update({"out_beats_register": s.out_beats_register,
                          "out_beats_offset": s.out_beats_offset})
    return entry


def overlay_driver_metadata(layout, board, freq_mhz):
    """The ``hetflow_driver.json`` dict of an overlay export."""
    overlay = layout.overlay
    instances = []
    for name, lay in layout.layouts.items():
        instances.append({
            "name": name, "kernel": lay.name, "params": dict(lay.params),
            "scalars": list(lay.kernel_cls.scalars),
            "ip": {"vlnv": lay.vlnv, "instance": name, "top": lay.top,
                   "control": "s_axi_control", "window": lay.window,
                   "address": f"0x{layout.base(name):08x} in the export's .hwh; on a board, "
                              f"from Vivado's .hwh"},
            "regmap": lay.regmap.to_dict(),
            "wrapper_registers": [
                {"name": s.out_beats_register, "offset": s.out_beats_offset, "access": "rw",
                 "bits": 32, "port": s.port.name} for s in lay.outputs],
            "streams": [_stream_entry(name, s, overlay) for s in lay.streams]})
    return {
        "format": DRIVER_FORMAT, "version": DRIVER_VERSION,
        "overlay": overlay.name, "board": board, "part": ZYNQ_BOARDS[board]["part"],
        "fclk0_mhz": freq_mhz,
        "files": {"bitfile": f"{layout.name}.bit", "hwh": f"{layout.name}.hwh"},
        "instances": instances,
        "streams": [s.describe() for s in overlay.streams],
        "chains": {name: list(c.order) for name, c in overlay.chains.items()},
        "dmas": [{"name": dma, "mm2s": ".".join(src) if src else None,
                  "s2mm": ".".join(dst) if dst else None, "length_width": DMA_LENGTH_WIDTH,
                  "max_transfer_bytes": (1 << DMA_LENGTH_WIDTH) - 1}
                 for dma, src, dst in layout.dmas],
        "job": [
            "a chain: write every instance's registers (hetflow.hw.overlay.derive_jobs); "
            "out_beats_<port> for the chain's outputs; start the receive, then the send "
            "transfers of the chain's inputs and outputs; write 1 to ctrl of every instance, "
            "the last of the chain first; poll every status bit 1 (done) with a timeout",
            "an instance alone: as the single-kernel export's job",
        ],
        "vivado": {"ran": False, "note": VIVADO_NOTE},
    }


def _readme(layout, board, freq_mhz):
    ov = layout.overlay
    rows = []
    for name, lay in layout.layouts.items():
        for s in lay.streams:
            where = (f"chained, FIFO {s.fifo_depth} beats" if s.chained and s.fifo_depth
                     else "chained" if s.chained else f"`{s.dma}.{s.channel}`")
            rows.append(f"| `{name}` | `{s.axis}` | {s.direction} | {s.port.dtype} x "
                        f"{s.port.lanes} | {s.tdata_width} | {where} |")
    windows = "\n".join(f"| `{name}` | {lay.name} | `{lay.vlnv}` | 0x{layout.base(name):08x} | "
                        f"{lay.window} |" for name, lay in layout.layouts.items())
    return f"""# hetflow overlay `{ov.name}` as PYNQ IPs ({board})

Generated by `hetflow export --overlay ... --format pynq-ip --board {board} --freq
{freq_mhz:g}`. Instances: {", ".join(f"{n} ({i.kernel})" for n, i in ov.instances.items())};
chains: {", ".join(ov.chains) or "none"}.

**{VIVADO_NOTE}** What was tested instead: the instances' AXI IPs, chained as the block
design chains them, in cocotb with cocotbext-axi (AXI-Lite, AXI-Stream with TLAST and
back-pressure) against the composed golden models, and the Tcl against a model of Vivado's
commands.

## Files

- `hetflow_{ov.name}_<instance>_axi.v`: one IP per instance, AXI4-Lite `s_axi_control` and
  AXI4-Stream ports; a chained output holds the stream's FIFO.
- `package_ip.tcl`: packages each into `ip/<top>`; `build_overlay.tcl`: Zynq PS7, the IPs,
  AXI DMAs for the unchained streams, the chained streams IP to IP; `.bit` + `.hwh`.
- `hetflow_driver.json`: per instance its register map, window and streams.
- `{layout.name}.hwh`, `{layout.name}.bit`: the handoff hetflow writes and a placeholder
  bitstream without configuration data, for the simulated Zynq; Vivado's replace them.

## Register windows (AXI-Lite; addresses as the export's .hwh has them)

| instance | kernel | IP | address | bytes |
|---|---|---|---:|---:|
{windows}

## Streams

| instance | interface | direction | elements | TDATA bits | DMA channel |
|---|---|---|---|---:|---|
{chr(10).join(rows)}
"""


def export_overlay_pynq_ip(overlay, out, *, board, freq_mhz=DEFAULT_MHZ, force=False):
    """Write the PYNQ export of ``overlay`` (an :class:`~hetflow.hw.overlay.Overlay`) into ``out``.

    Checks and writes as :func:`~.export.export_pynq_ip` does (atomically:
    a failure leaves nothing half-written).  Returns the files written.
    """
    board = check_board(board)
    freq_mhz = check_freq(freq_mhz)
    if not isinstance(overlay, Overlay):
        raise ExportError(f"an overlay is needed, not {type(overlay).__name__}")
    parent = _prepare_target(out, force)
    layout = OverlayLayout(overlay)
    design = BlockDesign.of_overlay(layout)
    part = ZYNQ_BOARDS[board]["part"]
    files = {f"{lay.top}.v": verilog_text(shell, lay)
             for (name, shell), lay in zip(layout.shells().items(), layout.layouts.values())}
    files["package_ip.tcl"] = "\n".join(
        package_ip_tcl(lay, board, lay.params, ip_subdir=lay.top)
        for lay in layout.layouts.values())
    files["build_overlay.tcl"] = build_overlay_tcl(design, board, {}, freq_mhz)
    files["hetflow_driver.json"] = json.dumps(overlay_driver_metadata(layout, board, freq_mhz),
                                              indent=2) + "\n"
    files["README.md"] = _readme(layout, board, freq_mhz)
    kernels, dmas = layout.cells(layout_registers)
    files[f"{layout.name}.hwh"] = handoff_xml(layout.name, part, freq_mhz, kernels, dmas,
                                              layout.stream_links())
    files[f"{layout.name}.bit"] = placeholder_bit(layout.name, part)
    return write_export(out, parent, files)
