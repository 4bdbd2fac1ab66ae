"""The CPU device: runs the kernels' golden models. The reference and the fallback."""

from ..device import Device
from ..hw.overlay import compose, derive_jobs

__all__ = ["CPUDevice"]


class CPUDevice(Device):
    """Runs every call with the kernel's NumPy model, on the whole problem at once.

    Calls are validated exactly as on a board (:meth:`Kernel.split` and
    :meth:`Kernel.prepare` reject the same inputs); the model then runs on the
    untiled arrays, which is what makes the CPU fast.
    """

    name = "cpu"
    # The models are pure functions of their arguments: calls can run in any thread.
    inline_calls = True
    runs_overlays = True

    def _plan(self, handle, inputs, scalars):
        cls, p = handle.kernel_cls, handle.params
        tiles, _ = cls.split(p, inputs, scalars)
        # Every tile has the same dtypes; the first and last cover the shape edge cases
        # (one prepare when there is one tile: it is most of a small call's overhead).
        for t_in, t_sc in (tiles if len(tiles) < 2 else (tiles[0], tiles[-1])):
            cls.prepare(p, dict(t_in), dict(t_sc))

        def run():
            handle.last_cycles = None
            return cls.model(p, inputs, scalars)
        return run

    def _plan_chain(self, handle, inputs, scalars):
        overlay, chain = handle.overlay, handle.chain
        derive_jobs(overlay, chain, inputs, scalars)        # refuse bad input before running

        def run():
            handle.last_cycles = None
            return compose(overlay, chain, inputs, scalars)
        return run
