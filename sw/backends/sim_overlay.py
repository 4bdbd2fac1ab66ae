"""An overlay on the simulated board: its calls as jobs of one virtual board.

The sim device runs an overlay's design on one
:class:`~hetflow.sim.board.virtual.VirtualBoard` (the overlay's fabric,
Verilated whole).  A call -- one instance, or a chain as one function -- is a
list of *steps*, each the jobs of some instances that run together
(:meth:`~hetflow.link.design_client.DesignClient.run_jobs`: one burst,
one ``RUN``).  Calls started on independent instances before the board gets
to them are *gathered*: their steps run side by side in the same bursts, so
the instances run on the board at the same time, as they would on the
fabric.  Every call's link count (``last_link``) is that of the bursts it took
part in (shared by the calls gathered with it), and a failure of a burst (a
kernel timeout, a dead simulator) is raised by every call gathered into it.
"""

import threading

import numpy as np

from ..fit import MemoryTooSmall, fit_call
from ..hw.overlay import derive_jobs

__all__ = ["OverlayCall", "OverlayRunner", "RunsOverlays"]


class OverlayCall:
    """One call on the overlay: its ``steps`` (``(jobs, start order)``), then ``finish``
    turns the steps' ``(outputs, cycles)`` into the call's result."""

    def __init__(self, handle, steps, finish):
        self.handle = handle
        self.steps = steps
        self.finish = finish
        self.units = {name for jobs, _ in steps for name in jobs}
        self.results = []
        self.done = False
        self.result = None
        self.error = None


class OverlayRunner:
    """Plans and runs the calls of an overlay on ``board``: a metered VirtualBoard, a
    serial board, or an overlay export on PYNQ (whose ``meter`` is None: no link to count)."""

    def __init__(self, board, max_cycles=None):
        self.board = board
        self.max_cycles = max_cycles
        self._waiting = []
        self._lock = threading.Lock()           # the waiting list (a start never waits for a run)
        self._board_lock = threading.Lock()     # one batch on the board at a time

    def plan_instance(self, handle, inputs, scalars):
        """The run function of an instance call (checked and cut to fit first)."""
        cls, p, name = handle.kernel_cls, handle.params, handle.instance
        tiles, merge = cls.split(p, inputs, scalars)
        jobs, merge = fit_call(cls, p, inputs, scalars, tiles, merge,
                               self.board.unit_view(name))

        def finish(results):
            handle.last_cycles = sum(cycles[name] for _, cycles in results) if jobs else None
            return merge([cls.collect(p, job, outputs[name])
                          for job, (outputs, _) in zip(jobs, results)])
        return self._register(OverlayCall(handle, [({name: job}, [name]) for job in jobs],
                                          finish))

    def plan_chain(self, handle, inputs, scalars):
        """The run function of a chain call: one step, its last instance started first."""
        overlay, chain = handle.overlay, handle.chain
        jobs = derive_jobs(overlay, chain, inputs, scalars)
        need = 0
        for name, job in jobs.items():
            lengths = {port: len(array) for port, array in job.streams.items()}
            need += self.board.unit_view(name).memory_needed({**lengths, **job.expect})
        if need > self.board.memory_size:
            raise MemoryTooSmall(f"{chain.name} on the {self.board.where}: the call needs {need} "
                                 f"bytes of board memory but the board has "
                                 f"{self.board.memory_size}, and a chain is not cut on the "
                                 f"host; make the call smaller or pass a larger memory_size")

        def finish(results):
            ((outputs, cycles),) = results
            handle.last_cycles = max(cycles.values())
            values = {}
            for name, job in jobs.items():
                if not outputs[name]:
                    continue
                inst = overlay.instances[name]
                # Chained outputs never reach the host: collect sees zeros in their place.
                streams = {port: outputs[name].get(port, np.zeros(count))
                           for port, count in job.expect.items()}
                for port, array in inst.kernel_cls.collect(inst.params, job, streams).items():
                    values[(name, port)] = array
            return {key: values[key] for key in chain.outputs}
        return self._register(OverlayCall(handle, [(jobs, list(reversed(chain.order)))],
                                          finish))

    def _register(self, call):
        with self._lock:
            self._waiting.append(call)
        return lambda: self.run(call)

    def run(self, call):
        """Run ``call`` (with every waiting call on other instances); return its result."""
        with self._board_lock:
            if not call.done:
                with self._lock:
                    batch, used = [], set()
                    for other in [call] + self._waiting:
                        if other not in batch and not other.done and not other.units & used:
                            batch.append(other)
                            used |= other.units
                    self._waiting = [c for c in self._waiting if c not in batch]
                self._run_batch(batch)
        if call.error is not None:
            raise call.error
        return call.result

    def _run_batch(self, batch):
        meter = self.board.meter          # None: a board with no link to count (PYNQ)
        start = meter.total if meter is not None else None
        try:
            for k in range(max((len(c.steps) for c in batch), default=0)):
                jobs, order, owners = {}, [], []
                for c in batch:
                    if k < len(c.steps):
                        step_jobs, step_order = c.steps[k]
                        jobs.update(step_jobs)
                        order += step_order
                        owners.append(c)
                outputs, cycles = self.board.run_jobs(jobs, order, max_cycles=self.max_cycles)
                for c in owners:
                    names = c.steps[k][0]
                    c.results.append(({n: outputs[n] for n in names},
                                      {n: cycles[n] for n in names}))
        except BaseException as exc:
            for c in batch:
                c.error, c.done = exc, True
            raise
        link = meter.total - start if meter is not None else None
        for c in batch:
            c.done = True
            try:
                c.result = c.finish(c.results)
            except Exception as exc:
                c.error = exc
            c.handle.last_link = link

    def close(self):
        with self._lock:
            self._waiting = []


class RunsOverlays:
    """What a board device needs to run an overlay through an :class:`OverlayRunner`.

    Mixed in before :class:`~hetflow.device.Device`: the device sets
    ``_overlay`` (the runner) when it loads a design; until then, its calls
    are single-kernel calls as before.
    """

    runs_overlays = True
    _overlay = None

    def _plan(self, handle, inputs, scalars):
        if self._overlay is None:
            return super()._plan(handle, inputs, scalars)
        return self._overlay.plan_instance(handle, inputs, scalars)

    def _plan_chain(self, handle, inputs, scalars):
        return self._overlay.plan_chain(handle, inputs, scalars)
