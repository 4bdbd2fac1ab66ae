"""``hetflow bench build``: build each kernel for each board and compare the results.

For every (kernel, board) :func:`run_build_bench` builds the kernel in its
board SoC (through :func:`hetflow.boards.build.build`, so unchanged builds
come from the cache) and prints one row:

* LUT % and DSP % of the part, Fmax (nextpnr's achieved maximum);
* the shell's logic cells (``shell_lc`` of the report: placed logic cells
  minus the kernel's, :mod:`hetflow.boards.components`);
* the kernel's throughput bound, ``elements per cycle x Fmax`` (the datapath
  without stalls: :func:`elements_per_cycle`);
* the SoC's DMA bound: the SoC memory does one 32-bit access per cycle, so a
  kernel that moves ``w`` memory words per element runs at most ``1/w``
  elements per cycle through the DMA (:func:`dma_words_per_element`);
* for ``gemm``, the part's DSP-bound peak (``DSP count x Fmax`` MAC/s, one MAC
  per multiplier per cycle) and the kernel's bound as a fraction of it.

``boards_extra`` builds a second gemm on boards with more multipliers than the
default tile uses, with ``rows x cols`` chosen to fill the part
(:func:`filling_gemm`).
"""

from ..boards.build import build
from ..boards.dma import channels
from ..boards.registry import get_board

__all__ = ["run_build_bench", "print_report", "shell_lc_lines", "elements_per_cycle",
           "dma_words_per_element", "filling_gemm", "DEFAULT_BOARDS", "DEFAULT_KERNELS"]

DEFAULT_BOARDS = ("icebreaker", "ulx3s-85f")
DEFAULT_KERNELS = ("saxpy", "dot", "fir", "gemm", "conv2d", "crc32")


def elements_per_cycle(kernel_cls, p):
    """``(units per cycle, unit)`` of a kernel's datapath (:meth:`Kernel.throughput`).

    The built-ins declare their documented steady-state rates (README table,
    measured by ``hetflow verify``); a kernel that declares none gives
    ``(None, unit)`` and its row has no throughput bound.
    """
    return kernel_cls.throughput(p)


def dma_words_per_element(kernel_cls, p):
    """Memory accesses the SoC's DMA makes per unit of :func:`elements_per_cycle`.

    Computed from the kernel's ports (one access per beat of up to 4 bytes,
    ``stride / 4`` for wider beats): every stream whose length grows with the
    job moves one element per unit (an output of one result per job, as
    ``dot``'s, does not count), except where the unit is not an element of the
    streams: ``gemm`` moves one beat of ``a`` and of ``b`` per ``rows x cols``
    MACs.  ``None`` when the kernel declares no throughput.
    """
    rate, unit = kernel_cls.throughput(p)
    if rate is None:
        return None
    chans = channels(kernel_cls, p)
    if unit == "MAC":
        return sum(ch.words for ch in chans if not ch.output) / rate
    grows = kernel_cls.output_length(p, 2048) > kernel_cls.output_length(p, 1024)
    return sum(ch.words / ch.port.lanes for ch in chans if grows or not ch.output)


def filling_gemm(dsp_total):
    """``{"rows", "cols"}`` of the largest gemm tile (each side 1..16) with at most
    ``dsp_total`` multipliers, as square as possible."""
    best = (0, 0, 0)
    for rows in range(1, 17):
        for cols in range(rows, 17):
            n = rows * cols
            if n <= dsp_total and (n, -(cols - rows)) > (best[0], -(best[2] - best[1])):
                best = (n, rows, cols)
    return {"rows": best[1], "cols": best[2]}


def _fmt_rate(value):
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.1f} {suffix}"
    return f"{value:.0f}"


def run_build_bench(boards=DEFAULT_BOARDS, kernels=DEFAULT_KERNELS, params=None,
                    fill_gemm=True, out_root="build/bench", toolchain="yowasp", seed=1,
                    status=None):
    """Build every kernel for every board; the rows of :func:`print_report`.

    Parameters
    ----------
    boards, kernels : sequence of str
    params : dict, optional
        ``{kernel: {param: value}}`` elaboration parameters (default: defaults).
    fill_gemm : bool
        Also build a gemm tile that fills the DSPs of boards with more than the
        default tile's multipliers.
    out_root : path
        Each build goes to ``out_root/<kernel>-<board>[-<params>]``.
    toolchain : str
    seed : int
    status : callable, optional
        Progress messages.

    Returns
    -------
    list of dict
        One row per build (``error`` set when that build failed; the others
        still run).
    """
    from ..hw.errors import HetflowError
    from ..hw.registry import get_kernel

    status = status or (lambda msg: None)
    params = params or {}
    plan = []
    for board_name in boards:
        board = get_board(board_name)
        for k in kernels:
            plan.append((k, board, dict(params.get(k, {}))))
        if fill_gemm and "gemm" in kernels:
            fill = filling_gemm(board.dsp)
            default = get_kernel("gemm").bind(**params.get("gemm", {}))
            if fill["rows"] * fill["cols"] > default["rows"] * default["cols"]:
                plan.append(("gemm", board, fill))

    rows = []
    for k, board, kparams in plan:
        kernel_cls = get_kernel(k)
        p = kernel_cls.bind(**kparams)
        tag = "-".join(f"{a}{b}" for a, b in kparams.items())
        out = f"{out_root}/{k}-{board.name}" + (f"-{tag}" if tag else "")
        status(f"bench build: {k} on {board.name}")
        row = {"kernel": k, "params": dict(p), "board": board.name}
        try:
            result = build(k, board, params=kparams, seed=seed, toolchain=toolchain,
                           out_dir=out, status=status)
        except HetflowError as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        r = result.report
        fmax = r["fmax_mhz"] * 1e6 if r["fmax_mhz"] else None
        epc, unit = elements_per_cycle(kernel_cls, p)
        words = dma_words_per_element(kernel_cls, p)
        row.update({
            "lut_used": r["lut_used"], "lut_total": r["lut_total"],
            "dsp_used": r["dsp_used"], "dsp_total": r["dsp_total"],
            "fmax_mhz": r["fmax_mhz"], "build_s": r["build_s"], "cached": result.cached,
            "shell_lc": r.get("shell_lc"),
            "unit": unit, "elements_per_cycle": epc,
            "throughput": epc * fmax if epc and fmax else None,
            "dma_bound": (min(epc, 1.0 / words) * fmax) if epc and words and fmax else None,
        })
        if k == "gemm" and fmax:
            row["peak_mac_s"] = r["dsp_total"] * fmax
            row["peak_ratio"] = row["throughput"] / row["peak_mac_s"]
        rows.append(row)
    return rows


def shell_lc_lines(rows):
    """``key=value`` lines of the shell's logic cells: per build, and the largest per board."""
    lines, largest = [], {}
    for row in rows:
        if row.get("shell_lc") is None:
            continue
        tag = "_".join([row["board"], row["kernel"]]
                       + [f"{k}{v}" for k, v in row["params"].items()])
        lines.append(f"shell_lc_{tag}={row['shell_lc']}")
        largest[row["board"]] = max(largest.get(row["board"], 0), row["shell_lc"])
    lines += [f"shell_lc_{board}={n}" for board, n in largest.items()]
    return lines


def print_report(rows, console):
    """Print the table of :func:`run_build_bench`'s rows, then :func:`shell_lc_lines`."""
    from rich.table import Table

    table = Table(title="hetflow bench build")
    for col in ("kernel", "board", "LUT %", "shell LC", "DSP %", "Fmax MHz", "bound /s",
                "DMA bound /s",
                "DSP peak MAC/s", "of peak", "build"):
        table.add_column(col, justify="left" if col in ("kernel", "board") else "right")
    for row in rows:
        label = row["kernel"] + "".join(f" {a}={b}" for a, b in row["params"].items())
        if "error" in row:
            table.add_row(label, row["board"], "-", "-", "-", "-", "-", "-", "-", "-",
                          f"failed: {row['error']}")
            continue
        lut = f"{100.0 * row['lut_used'] / row['lut_total']:.1f}"
        dsp = f"{100.0 * (row['dsp_used'] or 0) / row['dsp_total']:.1f} " \
              f"({row['dsp_used'] or 0}/{row['dsp_total']})"
        unit = row["unit"]
        table.add_row(
            label, row["board"], lut, "-" if row["shell_lc"] is None else str(row["shell_lc"]),
            dsp, f"{row['fmax_mhz']:.1f}",
            f"{_fmt_rate(row['throughput'])} {unit}", f"{_fmt_rate(row['dma_bound'])} {unit}",
            _fmt_rate(row.get("peak_mac_s")) if "peak_mac_s" in row else "-",
            f"{100.0 * row['peak_ratio']:.1f}%" if "peak_ratio" in row else "-",
            "cached" if row["cached"] else f"{row['build_s']:.0f} s")
    console.print(table)
    for line in shell_lc_lines(rows):
        print(line)
