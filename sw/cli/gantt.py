"""Gantt charts of schedules (PNG, matplotlib with the Agg backend): ``--plot`` of
``hetflow schedule`` and ``hetflow bench schedule``."""

import os
import tempfile
from pathlib import Path

from ..hw.errors import HetflowError

__all__ = ["plot_gantt"]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from ..tools import install_command
        raise HetflowError(f"--plot needs matplotlib; install it with: "
                           f"{install_command('plot')}") from None
    matplotlib.use("Agg")           # files only: no display needed, safe in threads and CI
    import matplotlib.pyplot as plt
    return plt


def _scale(makespan):
    for unit, factor in (("s", 1.0), ("ms", 1e3), ("us", 1e6)):
        if makespan >= 1.0 / factor or unit == "us":
            return unit, factor
    return "s", 1.0


def plot_gantt(schedules, path, title=None):
    """Draw one or more schedules as Gantt charts (one panel each) into a PNG file.

    Parameters
    ----------
    schedules : Schedule or list of Schedule
        Each panel has a row per device and a bar per task, labelled with its name.
    path : path-like
        Output PNG; written atomically.
    title : str, optional
    """
    if not isinstance(schedules, (list, tuple)):
        schedules = [schedules]
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise HetflowError(f"cannot write {path}: directory {directory} does not exist")
    if path.suffix.lower() != ".png":
        raise HetflowError(f"--plot {path}: the chart is a PNG; give a file name ending in .png")
    plt = _pyplot()
    longest = max(s.makespan for s in schedules) or 1.0
    unit, factor = _scale(longest)
    rows = sum(len(s.graph.device_names) for s in schedules)
    fig, axes = plt.subplots(len(schedules), 1, squeeze=False, sharex=True,
                             figsize=(10, 1.2 + 0.55 * rows + 0.5 * len(schedules)))
    colors = plt.get_cmap("tab20").colors
    for ax, s in zip(axes[:, 0], schedules):
        devices = s.graph.device_names
        for row, device in enumerate(devices):
            for i, t in enumerate(s.order()[device]):
                start, width = s.start[t] * factor, (s.finish[t] - s.start[t]) * factor
                ax.barh(row, width, left=start, height=0.6, color=colors[s.graph.index(t) % 20],
                        edgecolor="black", linewidth=0.5)
                if width > 0.04 * longest * factor:
                    ax.text(start + width / 2, row, t, ha="center", va="center", fontsize=7,
                            clip_on=True)
        ax.set_yticks(range(len(devices)), devices)
        ax.invert_yaxis()
        ax.set_title(f"{s.policy}: makespan {s.makespan * factor:.3g} {unit}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel(f"time ({unit})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path
