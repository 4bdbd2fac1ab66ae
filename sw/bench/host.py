"""``hetflow bench host``: what a small kernel call costs the host, per device.

Many small saxpy calls (1 and 1024 elements by default), timed in batches
with ``time.perf_counter``; each figure is the best batch's time per call
(the usual defence against a busy machine), and on the cpu the batches of
calls and of the NumPy work alternate so that both see the same machine.

cpu
    ``call_us`` is one blocking call on ``hetflow.open("cpu")``;
    ``work_us`` the golden model called directly on the same arrays (the NumPy
    work the call cannot avoid); ``overhead_us = call_us - work_us`` is what the
    runtime adds: binding the arguments, validating them as a board would
    (``Kernel.split`` / ``Kernel.prepare``), dispatch.
sim
    ``call_us`` is one blocking call on ``hetflow.open("sim")``; ``work_us`` the
    time of the call's kernel cycles at the raw Verilator speed (cycles divided
    by the cycles/s of the raw harness, measured here on a large job, see
    :mod:`hetflow.bench.sim`); ``overhead_us = call_us - work_us`` is everything
    else: the job's burst of requests (reset, memory writes, DMA set-up,
    register writes, run, read-back) in its one round trip to the board
    process, and Python.  ``sim_call_cpu_us`` is the CPU time the host process
    spends per call (``time.process_time``, timed as ``call_us`` is): on a busy
    machine the wall time also waits for the scheduler, the CPU time does not.
"""

import time
from dataclasses import dataclass

import numpy as np

from ..hw.errors import HetflowError
from ..hw.registry import get_kernel

__all__ = ["HostRow", "HostBench", "run_host_bench", "time_per_call", "DEFAULT_SIZES",
           "print_report"]

DEFAULT_SIZES = (1, 1024)
#: Batches each timing is split into; the best batch counts.
BATCHES = 10
#: Elements of the raw-Verilator job that gives the cycles/s for the sim rows.
RAW_ELEMENTS = 1_000_000


@dataclass
class HostRow:
    """Per-call figures of one device and call size (see the module doc)."""

    device: str
    elements: int
    calls: int
    call_us: float
    work_us: float
    cycles: int
    check: str
    #: The call's serial link count (:class:`~hetflow.boardtime.LinkCount`; sim rows).
    link: object = None
    #: CPU time of this process per call (sim rows; the board process's is not in it).
    call_cpu_us: float = None

    @property
    def overhead_us(self):
        return self.call_us - self.work_us


@dataclass
class HostBench:
    """Rows of :func:`run_host_bench` and the figures it is judged by."""

    rows: list
    raw_cycles_per_s: float

    def _rows(self, device):
        return [r for r in self.rows if r.device == device]

    @property
    def cpu_overhead_us(self):
        """The largest cpu overhead over the call sizes (it should not depend on size)."""
        return max(r.overhead_us for r in self._rows("cpu"))

    @property
    def sim_call_us(self):
        """Wall time of the smallest sim call."""
        return min(self._rows("sim"), key=lambda r: r.elements).call_us

    @property
    def sim_call_cpu_us(self):
        """Host CPU time of the smallest sim call: what the call costs the host process
        whatever else the machine runs (its wall time waits for the board process too)."""
        return min(self._rows("sim"), key=lambda r: r.elements).call_cpu_us

    @property
    def sim_overhead_us(self):
        """The part of the smallest sim call that is not kernel cycles."""
        return min(self._rows("sim"), key=lambda r: r.elements).overhead_us

    @property
    def ok(self):
        return all(r.check == "ok" for r in self.rows)


def time_per_call(fns, calls, batches=BATCHES, clock=time.perf_counter):
    """Seconds per call of each function in ``fns``: the best of ``batches`` batches.

    The functions take turns batch by batch, so a busy spell of the machine
    hits all of them alike; ``calls`` calls of each are timed in all.
    ``clock`` reads the time (wall time by default; ``time.process_time``
    for this process's CPU time).
    """
    per_batch = max(1, -(-calls // batches))
    best = [float("inf")] * len(fns)
    for _ in range(batches):
        for i, fn in enumerate(fns):
            t0 = clock()
            for _ in range(per_batch):
                fn()
            best[i] = min(best[i], (clock() - t0) / per_batch)
    return tuple(best)


def _same(got, want):
    return "ok" if got.dtype == want.dtype and np.array_equal(got, want) else "DIFFERS"


def _rows_for(device, kernel_cls, p, sizes, calls, seed, status, raw_cycles_per_s=None):
    """Rows of one device; ``raw_cycles_per_s`` given: work is cycles, else the NumPy call."""
    from .calls import make_call
    from ..device import open as open_device
    rows = []
    with open_device(device, **({"status": status} if device == "sim" else {})) as dev:
        handle = dev.kernel(kernel_cls, **p)
        for n in sizes:
            inputs, scalars = make_call(kernel_cls, p, n, seed)
            want = kernel_cls.golden(p, dict(inputs), dict(scalars))[handle.output_names[0]]
            if status:
                status(f"{device}: {calls} calls of {n} element(s)")
            args = [inputs[name] for name in handle.input_names]
            call = lambda: handle(*args, **scalars)      # noqa: E731
            for _ in range(min(calls, 50)):              # warm caches and code paths
                got = call()
            if raw_cycles_per_s is None:
                numpy = lambda: kernel_cls.golden(p, dict(inputs), dict(scalars))  # noqa: E731
                call_s, work_s = time_per_call((call, numpy), calls)
                cpu_s = None
            else:
                (call_s,) = time_per_call((call,), calls)
                (cpu_s,) = time_per_call((call,), calls, clock=time.process_time)
                work_s = handle.last_cycles / raw_cycles_per_s
            rows.append(HostRow(device, n, calls, call_s * 1e6, work_s * 1e6,
                                handle.last_cycles, _same(got, want), handle.last_link,
                                None if cpu_s is None else cpu_s * 1e6))
    return rows


def run_host_bench(calls=2000, sizes=DEFAULT_SIZES, kernel="saxpy", seed=1, status=None):
    """Measure per-call host overhead on the cpu and sim devices; returns a :class:`HostBench`.

    Parameters
    ----------
    calls : int
        Timed calls per size on the cpu; the sim, about a thousand times
        slower per call, gets ``max(20, calls // 10)``.
    sizes : tuple of int
        Elements per call.
    kernel : str
        A kernel of :data:`hetflow.bench.calls.STIMULI`, with default parameters.
    seed : int
        Seed of the data.
    status : callable, optional
        Called with one-line progress messages.
    """
    from .calls import make_call
    from .sim import measure_raw
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
        raise HetflowError(f"calls must be a positive integer, not {calls!r}")
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise HetflowError(f"sizes must be positive integers, not {sizes!r}")
    kernel_cls = get_kernel(kernel)
    p = kernel_cls.bind()

    rows = _rows_for("cpu", kernel_cls, p, sizes, calls, seed, status)

    inputs, scalars = make_call(kernel_cls, p, RAW_ELEMENTS, seed)
    expected = kernel_cls.golden(p, dict(inputs), dict(scalars))
    raw = measure_raw(kernel_cls, p, inputs, scalars, expected, status)
    if raw.mismatches:
        raise HetflowError(f"the raw Verilator harness of {kernel_cls.name} computed "
                           f"{raw.mismatches} wrong elements; its speed means nothing")
    rows += _rows_for("sim", kernel_cls, p, sizes, max(20, calls // 10), seed, status,
                      raw.cycles_per_s)
    return HostBench(rows, raw.cycles_per_s)


def print_report(result, console):
    """Print ``result``'s table, its notes and its figures as ``key=value`` lines."""
    from rich.table import Table

    table = Table(title="hetflow bench host: saxpy, per call")
    for col in ("device", "elements", "calls", "call", "work", "overhead", "check"):
        table.add_column(col, justify="left" if col in ("device", "check") else "right")
    for r in result.rows:
        table.add_row(r.device, f"{r.elements:,}", f"{r.calls:,}", f"{r.call_us:,.1f} µs",
                      f"{r.work_us:,.1f} µs", f"{r.overhead_us:,.1f} µs", r.check)
    console.print(table)
    print("call: wall time of one blocking call (best of 10 batches); sim_call_cpu_us: "
          "this process's CPU time per sim call (best of 10 more batches)")
    print("work: cpu: the golden model called directly on the same arrays; "
          "sim: the call's kernel cycles at the raw Verilator speed "
          f"({result.raw_cycles_per_s / 1e6:.2f} M cycles/s)")
    print("overhead: call - work (cpu_overhead_us: the largest over the sizes; "
          "sim_*: the smallest call)")
    print(f"cpu_overhead_us={result.cpu_overhead_us:.1f}")
    print(f"sim_call_us={result.sim_call_us:.1f}")
    print(f"sim_call_cpu_us={result.sim_call_cpu_us:.1f}")
    print(f"sim_overhead_us={result.sim_overhead_us:.1f}")
