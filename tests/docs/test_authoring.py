"""Every code block of docs/authoring.md, run as a reader would run it.

Blocks, by their fence's info string:

``python write=FILE`` / ``python append=FILE``
    The block is written to (appended to) FILE in the reader's directory.
``console``
    ``$ command`` lines are run in order; the lines after a command are its
    expected output, matched line by line in order (``...`` stands for anything).
``python``
    Saved to a file and run with this environment's Python in the reader's
    directory (which is on ``PYTHONPATH``, as the page's commands say).
``text waveform=MODULE:CORE``
    Drawn anew from an ``amaranth.sim`` run of the core alone (one job of
    ``3, -1, 7, 2`` with the output stalled in cycle 4); must equal the block.

Any other block fails the test.
"""

import importlib
import os
import sys

import pytest
from amaranth.sim import Simulator

from ..conftest import ROOT
from .pages import Reader, blocks

GUIDE = ROOT / "docs" / "authoring.md"
SIGNALS = ("start", "busy", "x.valid", "x.ready", "x.payload", "y.valid", "y.ready",
           "y.payload", "finish")


def trace(core, samples, stalled, cycles):
    """Per-cycle values of :data:`SIGNALS` for one job; ``start`` in cycle 1."""
    ctl = core.ctl
    rows = {name: [] for name in SIGNALS}

    async def testbench(ctx):
        ctx.set(ctl.length, len(samples))
        queue = list(samples)
        for cycle in range(cycles):
            ctx.set(ctl.start, cycle == 1)
            ctx.set(core.x.valid, bool(queue) and cycle >= 2)
            if queue:
                ctx.set(core.x.payload, [queue[0]])
            ctx.set(core.y.ready, cycle not in stalled)
            now = {"start": ctx.get(ctl.start), "busy": ctx.get(ctl.busy),
                   "x.valid": ctx.get(core.x.valid), "x.ready": ctx.get(core.x.ready),
                   "y.valid": ctx.get(core.y.valid), "y.ready": ctx.get(core.y.ready),
                   "finish": ctx.get(ctl.finish)}
            now["x.payload"] = queue[0] if now["x.valid"] else None
            now["y.payload"] = ctx.get(core.y.payload)[0] if now["y.valid"] else None
            for name in SIGNALS:
                rows[name].append(now[name])
            await ctx.tick()
            if now["x.valid"] and now["x.ready"]:
                queue.pop(0)
            # The register bank's rule: busy rises after start and falls after finish.
            if now["start"]:
                ctx.set(ctl.busy, 1)
            elif now["busy"] and now["finish"]:
                ctx.set(ctl.busy, 0)

    sim = Simulator(core)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return rows


def render(rows, width=4):
    """A text waveform: ``‾‾‾``/``___`` for one-bit signals, values for payloads."""
    cycles = len(rows[SIGNALS[0]])
    lines = ["cycle".ljust(10) + "".join(f"{c:<{width}}" for c in range(cycles))]
    for name, values in rows.items():
        if name.endswith("payload"):
            cells = ["" if v is None else str(v) for v in values]
        else:
            cells = [("‾" if v else "_") * (width - 1) for v in values]
        lines.append(name.ljust(10) + "".join(f"{c:<{width}}" for c in cells))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def draw(spec, directory):
    module_name, _, core_name = spec.partition(":")
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module(module_name)
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop(module_name, None)
    core_cls = getattr(module, core_name)
    kernel_cls = next(v for v in vars(module).values()
                      if isinstance(v, type) and getattr(v, "core", None) is core_cls)
    return render(trace(core_cls(kernel_cls), [3, -1, 7, 2], stalled={4}, cycles=10))


def test_the_waveform_shows_a_stall():
    """The renderer itself: a stalled output is drawn as held, and cycles line up."""
    rows = {name: [0, 1] for name in SIGNALS}
    rows["x.payload"], rows["y.payload"] = [None, -1], [7, None]
    text = render(rows)
    assert text.splitlines()[0] == "cycle     0   1"
    assert "start     ___ ‾‾‾" in text and "x.payload     -1" in text
    assert "y.payload 7" in text


# Two Verilator builds (verify), the simulated board and a dry-run build: ~1-2 min.
def test_every_guide_block_runs(tmp_path):
    found = blocks(GUIDE.read_text())
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(work)
    reader = Reader(sys.executable, work, env)
    kinds = []
    for line, info, body in found:
        where = f"authoring.md:{line}"
        lang, marks = (info[0] if info else ""), dict(m.partition("=")[::2] for m in info[1:])
        if lang == "python" and ("write" in marks or "append" in marks):
            path = work / (marks.get("write") or marks["append"])
            with open(path, "w" if "write" in marks else "a") as f:
                f.write(body)
            kinds.append("file")
        elif lang == "console" and not marks:
            reader.console(body, where)
            kinds.append("console")
        elif lang == "python" and not marks:
            script = tmp_path / f"block_{line}.py"
            script.write_text(body)
            reader.run(f"python {script}", where)
            kinds.append("python")
        elif lang == "text" and "waveform" in marks:
            drawn = draw(marks["waveform"], work)
            assert drawn == body, f"{where}: the waveform differs from the simulation:\n{drawn}"
            kinds.append("waveform")
        else:
            pytest.fail(f"{where}: block ```{' '.join(info)} is neither run nor checked")
    print("\n".join(f"  {seconds:6.1f} s  {command}" for command, seconds in reader.times))
    assert kinds.count("waveform") == 1 and kinds.count("python") == 2
    commands = [command for command, _ in reader.times]
    for step in ("hetflow verify histogram:Histogram", "hetflow verify running_max:RunningMax",
                 "hetflow build histogram:Histogram"):
        assert any(step in c for c in commands), f"the guide no longer runs `{step}`"
