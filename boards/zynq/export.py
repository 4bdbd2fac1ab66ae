"""The PYNQ IP export: checks, driver metadata, README, and the atomic write of the files."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from ...hw.registry import get_kernel
from ...hw.shell import Shell
from .constants import (DEFAULT_MHZ, DMA_LENGTH_WIDTH, DRIVER_FORMAT, DRIVER_VERSION, MHZ_RANGE,
                        VIVADO_NOTE, ZYNQ_BOARDS)
from .errors import ExportError
from .hwh import DMA_BASE, DMA_RANGE, KERNEL_BASE, DmaCell, KernelCell, handoff_xml
from .layout import AxiLayout
from .tcl import build_overlay_tcl, package_ip_tcl
from .wrapper import verilog_text


# ---- host driver metadata ------------------------------------------------------------------


def driver_metadata(layout, board, params, freq_mhz):
    """The ``hetflow_driver.json`` dict: what the ``pynq`` backend needs to drive the IP."""
    kernel_cls = layout.kernel_cls
    streams = []
    for s in layout.streams:
        entry = {"port": s.port.name, "direction": s.direction, "dtype": s.port.dtype,
                 "lanes": s.port.lanes, "payload_width": s.port.width,
                 "tdata_width": s.tdata_width, "beat_bytes": s.beat_bytes,
                 "interface": s.axis, "dma": s.dma, "channel": s.channel}
        if s.direction == "out":
            entry["out_beats_register"] = s.out_beats_register
            entry["out_beats_offset"] = s.out_beats_offset
        streams.append(entry)
    dmas = []
    for dma in layout.dmas:
        mm2s, s2mm = layout.dma_channels(dma)
        dmas.append({"name": dma, "mm2s": mm2s.port.name if mm2s else None,
                     "s2mm": s2mm.port.name if s2mm else None,
                     "length_width": DMA_LENGTH_WIDTH,
                     "max_transfer_bytes": (1 << DMA_LENGTH_WIDTH) - 1})
    return {
        "format": DRIVER_FORMAT,
        "version": DRIVER_VERSION,
        "kernel": layout.name,
        "params": dict(params),
        "scalars": list(kernel_cls.scalars),
        "board": board,
        "part": ZYNQ_BOARDS[board]["part"],
        "fclk0_mhz": freq_mhz,
        "overlay": {"bitfile": f"{layout.overlay}.bit", "hwh": f"{layout.overlay}.hwh"},
        "ip": {"vlnv": layout.vlnv, "instance": layout.instance, "top": layout.top,
               "control": "s_axi_control", "window": layout.window,
               "address": "from the .hwh (assigned by Vivado)"},
        "regmap": layout.regmap.to_dict(),
        "wrapper_registers": [
            {"name": s.out_beats_register, "offset": s.out_beats_offset, "access": "rw",
             "bits": 32, "port": s.port.name,
             "doc": f"beats the next job produces on '{s.port.name}'; TLAST marks the last "
                    f"(write before start; writing restarts the count)"}
            for s in layout.outputs],
        "streams": streams,
        "dmas": dmas,
        "job": [
            "write the job's registers (regmap offsets)",
            "write out_beats_<port> = output elements / lanes, rounded up, for every output",
            "start every recvchannel transfer (out_beats * beat_bytes bytes) and every "
            "sendchannel transfer (input beats * beat_bytes bytes; beats padded to "
            "beat_bytes with zeros)",
            "write 1 to ctrl, poll status bit 1 (done) with a timeout, wait for the DMAs",
        ],
        "vivado": {"ran": False, "note": VIVADO_NOTE},
    }


# ---- what PYNQ loads: the hardware handoff and the placeholder bitstream --------------------


def layout_registers(layout):
    """PYNQ register descriptions of a wrapper (:meth:`AxiLayout.register_descriptions`)."""
    return layout.register_descriptions()


def handoff_text(layout, board, freq_mhz):
    """The ``.hwh`` of the single-kernel block design ``build_overlay.tcl`` builds."""
    kernel = KernelCell(layout.instance, layout.vlnv, KERNEL_BASE, layout.window,
                        layout.addr_width, layout.ip_parameters(), layout_registers(layout),
                        tuple((s.axis, s.direction, s.tdata_width) for s in layout.streams))
    dmas, streams = [], []
    for i, dma in enumerate(layout.dmas):
        mm2s, s2mm = layout.dma_channels(dma)
        dmas.append(DmaCell(dma, DMA_BASE + i * DMA_RANGE, mm2s.tdata_width if mm2s else None,
                            s2mm.tdata_width if s2mm else None))
        if mm2s is not None:
            streams.append(((dma, "M_AXIS_MM2S"), (layout.instance, mm2s.axis)))
        if s2mm is not None:
            streams.append(((layout.instance, s2mm.axis), (dma, "S_AXIS_S2MM")))
    return handoff_xml(layout.overlay, ZYNQ_BOARDS[board]["part"], freq_mhz, [kernel], dmas,
                       streams)


#: Xilinx .bit header: the 9-byte field (length first), then the two bytes 0x0001.
_BIT_MAGIC = b"\x00\x09\x0f\xf0\x0f\xf0\x0f\xf0\x0f\xf0\x00\x00\x01"


def placeholder_bit(design, part):
    """A ``.bit`` with Xilinx's header and no configuration data.

    It stands where Vivado's bitstream goes, so that ``pynq.Overlay("design.bit")``
    finds a file and the ``.hwh`` beside it; the simulated Zynq reads only the
    ``.hwh``.  ``build_overlay.tcl`` replaces it with the real bitstream; a board
    cannot be configured from it (it holds no configuration frames).
    """
    def field(key, text):
        data = text.encode("ascii") + b"\0"
        return key + len(data).to_bytes(2, "big") + data

    return (_BIT_MAGIC
            + field(b"a", f"{design};hetflow placeholder: no configuration data, replaced "
                          f"by build_overlay.tcl;Version=none")
            + field(b"b", part.removeprefix("xc").split("-")[0])
            + field(b"c", "none") + field(b"d", "none")
            + b"e" + (0).to_bytes(4, "big"))


def _readme(layout, board, params, freq_mhz):
    ps = " ".join(f"{k}={v}" for k, v in params.items()) or "default parameters"
    flags = "".join(f" --param {k}={v}" for k, v in params.items())
    rows = "\n".join(
        f"| 0x{r.offset:03x} | {r.name} | {r.access} | {r.doc} |" for r in layout.regmap) + "\n"
    rows += "\n".join(f"| 0x{s.out_beats_offset:03x} | {s.out_beats_register} | rw | beats the "
                      f"next job produces on `{s.port.name}` (TLAST on the last) |"
                      for s in layout.outputs)
    streams = "\n".join(
        f"| `{s.axis}` | {s.direction} | {s.port.dtype} x {s.port.lanes} | {s.port.width} "
        f"| {s.tdata_width} | `{s.dma}.{s.channel}` |" for s in layout.streams)
    return f"""# hetflow kernel `{layout.name}` as a PYNQ IP ({board})

Generated by `hetflow export {layout.name} --format pynq-ip --board {board}{flags}
--freq {freq_mhz:g}` ({ps}; FCLK_CLK0 = {freq_mhz:g} MHz).

**{VIVADO_NOTE}** What was tested instead: the AXI-wrapped kernel in cocotb with
cocotbext-axi (AXI-Lite reads/writes, AXI-Stream with TLAST and back-pressure) against
the golden model, and the Tcl's syntax and block-design names.

## Files

- `{layout.top}.v`: the kernel with an AXI4-Lite slave `s_axi_control` and AXI4-Stream ports;
  clock `ap_clk`, reset `ap_rst_n` (active low, synchronous).
- `package_ip.tcl`: packages it as IP `{layout.vlnv}` into `ip/`.
- `build_overlay.tcl`: Zynq PS7 + AXI DMA(s) + the IP, bitstream; copies
  `{layout.overlay}.bit` and `{layout.overlay}.hwh` here.
- `hetflow_driver.json`: register map, streams, DMA names for the host driver.
- `{layout.overlay}.hwh`: the block design's hardware handoff as PYNQ reads it, written by
  hetflow (addresses it chose, no interconnect cells); `{layout.overlay}.bit`: a placeholder,
  a `.bit` header with **no configuration data**. With them `pynq.Overlay("{layout.overlay}.bit")`
  loads on hetflow's simulated Zynq (`import hetflow.pynq_sim`); a board cannot be configured
  from them. `build_overlay.tcl` replaces both with Vivado's.

```sh
vivado -mode batch -source package_ip.tcl
vivado -mode batch -source build_overlay.tcl     # needs the {board} board files
```

## Registers (AXI-Lite, 32-bit, window {layout.window} bytes)

| offset | name | access | meaning |
|-------:|------|--------|---------|
{rows}

Any other address answers SLVERR; so does a write with a partial WSTRB (no byte writes).

## Streams

| interface | direction | elements | payload bits | TDATA bits | DMA channel |
|-----------|-----------|----------|-------------:|-----------:|-------------|
{streams}

## One job

1. Write the job's registers. 2. Write `out_beats_<port>` for each output (its element
count divided by the lanes, rounded up): the wrapper raises TLAST on that beat, which ends
the DMA's S2MM transfer. 3. Start the receive transfers, then the send transfers (each beat
padded to whole TDATA bytes with zeros). 4. Write 1 to `ctrl`, poll `status` bit 1 (done)
with a timeout, and wait for the DMA channels (PYNQ's `wait()` has no timeout of its own).
"""


# ---- the export ----------------------------------------------------------------------------


def check_board(board):
    if board not in ZYNQ_BOARDS:
        raise ExportError(f"unknown Zynq board {board!r}; choose one of: "
                          f"{', '.join(ZYNQ_BOARDS)}")
    return board


def check_freq(freq_mhz):
    lo, hi = MHZ_RANGE
    try:
        value = float(freq_mhz)
    except (TypeError, ValueError):
        raise ExportError(f"--freq {freq_mhz!r} is not a number; allowed {lo:g}..{hi:g} MHz") \
            from None
    if not lo <= value <= hi:
        raise ExportError(f"--freq {freq_mhz} MHz is out of range; allowed {lo:g}..{hi:g} MHz "
                          f"(the PS7's FCLK_CLK0)")
    return value


def _prepare_target(out, force):
    """Check ``out`` may be (re)placed; return its parent directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"cannot write {out}: it exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ExportError(f"cannot write {out}: directory is not empty "
                              f"(use --force to replace a previous export)")
        if not (out / "hetflow_driver.json").exists():
            raise ExportError(f"cannot replace {out}: it is not a hetflow export "
                              f"(no hetflow_driver.json); refusing to delete it")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise ExportError(f"cannot write {out}: directory {parent} does not exist")
    return parent


def export_pynq_ip(kernel, params, out, *, board, freq_mhz=DEFAULT_MHZ, force=False):
    """Write the PYNQ IP export of ``kernel`` into directory ``out``.

    Parameters
    ----------
    kernel : str or Kernel subclass
        Registry name, ``module:Class`` path or the class.
    params : dict
        Elaboration parameters (strings are parsed).
    out : path-like
        Output directory; must not exist, be empty, or (with ``force``) be a
        previous export.  Its parent must exist.
    board : {"pynq-z1", "pynq-z2"}
    freq_mhz : float
        FCLK_CLK0, the kernel's clock (10..250 MHz).
    force : bool
        Replace a previous export in ``out``.

    Returns
    -------
    list of Path
        The files written (inside ``out``).

    Notes
    -----
    Everything is written to a temporary directory beside ``out`` and renamed
    into place, so a failure leaves nothing half-written.
    """
    board = check_board(board)
    freq_mhz = check_freq(freq_mhz)
    kernel_cls = get_kernel(kernel)
    p = kernel_cls.bind(**(params or {}))
    parent = _prepare_target(out, force)
    layout = AxiLayout(kernel_cls, p)
    files = {
        f"{layout.top}.v": verilog_text(Shell(kernel_cls, **p)),
        "package_ip.tcl": package_ip_tcl(layout, board, p),
        "build_overlay.tcl": build_overlay_tcl(layout, board, p, freq_mhz),
        "hetflow_driver.json": json.dumps(driver_metadata(layout, board, p, freq_mhz),
                                          indent=2) + "\n",
        "README.md": _readme(layout, board, p, freq_mhz),
        f"{layout.overlay}.hwh": handoff_text(layout, board, freq_mhz),
        f"{layout.overlay}.bit": placeholder_bit(layout.overlay, ZYNQ_BOARDS[board]["part"]),
    }
    return write_export(out, parent, files)


def write_export(out, parent, files):
    """Write ``files`` (name -> text or bytes) as directory ``out``, atomically.

    Everything is written to a temporary directory in ``parent`` and renamed
    into place; a previous export in ``out`` is kept until the new one is
    there, and put back if anything fails.  Returns the paths written.
    """
    out = Path(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    except OSError as exc:
        raise ExportError(f"cannot write {out}: directory {parent} is not writable "
                          f"({exc.strerror})") from None
    old = None
    try:
        for name, content in files.items():
            if isinstance(content, bytes):
                (tmp / name).write_bytes(content)
            else:
                (tmp / name).write_text(content)
        # mkdtemp makes the directory private (0700); an export gets the usual mode.
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            # Keep the previous export until the new one is in place.
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=parent))
            os.rename(out, old / "export")
        os.rename(tmp, out)
    except BaseException as exc:
        # Interrupted or failed: no half-written export, and the previous one back.
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "export").exists() and not out.exists():
            os.rename(old / "export", out)
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write {out}: {exc.strerror}") from None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return [out / name for name in files]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
