"""Calibration: run kernels over a range of sizes on a device and store their models.

``hetflow calibrate --device sim`` calls each kernel (any registered kernel,
with the random calls it describes: :meth:`Kernel.sample_call`) at every
size, once to warm up and then ``repeats`` times timed, and records each
timed run (seconds, and device cycles where the device counts them) in the
:class:`~hetflow.sched.perfmodel.PerfModels`.  On a device opened with an
overlay (``--overlay FILE``) the kernels are those of its units
(:func:`overlay_kernels`), each called through its instance.

A size is the kernel's unit of work: samples for ``fir``, elements for
``saxpy`` and ``dot``, bytes for ``crc32``, pixels for ``conv2d`` (images
``max_width`` wide, at most 64), multiply-accumulates for ``gemm`` (the
shape cycles through 1, 4 and 16 hardware tiles so that the per-tile cost
and the per-MAC cost can both be fitted).

A board that is not attached is calibrated from the simulated board and a build
(``timing``, a :class:`~hetflow.boardtime.BoardTiming`): each timed call is
also recorded under the board's device name (``board_device``) with its
*predicted* board time (cycles at the build's clock + serial link time), so a
plan can place tasks on that board before it is plugged in.
"""

import time

import numpy as np

from ..hw.errors import HetflowError
from ..hw.registry import get_kernel
from .work import kernel_key, kernel_work

__all__ = ["DEFAULT_KERNELS", "calibration_sizes", "overlay_kernels", "calibrate"]

#: Kernels and parameters calibrated by default (those of the demo and the benchmark).
DEFAULT_KERNELS = (("fir", {"taps": 16}), ("gemm", {}), ("crc32", {}))


def calibration_sizes(name):
    """The units of work a kernel is timed at by default (its ``calibration_sizes``)."""
    return tuple(get_kernel(name).calibration_sizes)


def overlay_kernels(overlay):
    """The ``(name, params)`` an overlay's units are calibrated with, one per model.

    The units are the instances no stream touches (a chain is not calibrated:
    it learns from its runs); instances of one kernel and parameters share a
    model and are listed once.

    Raises
    ------
    HetflowError
        If every instance is in a chain.
    """
    chained = {name for chain in overlay.chains.values() for name in chain.order}
    kernels = {}
    for name, inst in overlay.instances.items():
        if name not in chained:
            key = kernel_key(inst.kernel_cls.name, inst.params)
            kernels.setdefault(key, (inst.kernel_cls.name, dict(inst.params)))
    if not kernels:
        raise HetflowError(f"overlay '{overlay.name}' has no instance to calibrate: every "
                           f"instance is in a chain ({', '.join(overlay.chains)}), and a "
                           f"chain learns from its runs")
    return list(kernels.values())


def calibrate(device, models, kernels=None, sizes=None, repeats=3, seed=0,
              on_step=None, timing=None, board_device=None):
    """Time each kernel at each size on ``device`` and record the runs in ``models``.

    Parameters
    ----------
    device : Device
        An opened hetflow device.
    models : PerfModels
        Where the runs are recorded (not saved here: call ``models.save()``).
    kernels : sequence of (name, params), optional
        Default: the units of the device's overlay (:func:`overlay_kernels`),
        else :data:`DEFAULT_KERNELS`.  Their models are the device's, which
        the units share.
    sizes : sequence of int, optional
        Sizes for every kernel (default: each kernel's ``calibration_sizes``).
    repeats : int
        Timed calls per size (after one warm-up call).
    on_step : callable, optional
        ``on_step(kernel, n, done, total)`` after each size (progress bars).
    timing : BoardTiming, optional
        A build's time model: each timed call's predicted board time is
        recorded too, under ``board_device`` (needs a device that counts
        cycles and link bytes: ``sim``).
    board_device : str, optional
        Device name of the board's models (required with ``timing``).

    Returns
    -------
    list of dict
        One row per (kernel, size): ``key``, ``n``, ``unit``, ``seconds``
        (median of the timed calls), ``cycles``, and with ``timing``
        ``predicted`` (the board's predicted seconds).

    Raises
    ------
    HetflowError
        If ``repeats`` is below 1, ``timing`` comes without ``board_device``,
        or (without ``kernels``) the device's overlay has only chains.
    """
    if repeats < 1:
        raise HetflowError(f"repeats {repeats} is out of range; allowed 1 or more")
    if timing is not None and not board_device:
        raise HetflowError("calibrating a board from its build needs the board's device name")
    if kernels is None:
        kernels = overlay_kernels(device.design) if device.design is not None \
            else DEFAULT_KERNELS
    rng = np.random.default_rng(seed)
    plan = [(name, params, list(sizes or calibration_sizes(name))) for name, params in kernels]
    total = sum(len(s) for _, _, s in plan)
    rows = []
    for name, params, kernel_sizes in plan:
        cls = get_kernel(name)
        p = cls.bind(**params)
        key = kernel_key(cls.name, p)
        # An instance of the overlay outside its chains (device.kernel refuses a kernel
        # that two instances share); device.kernels is empty without an overlay.
        handle = next((h for h in device.kernels.values() if h.chain is None
                       and h.kernel_cls is cls and h.params == p), None) \
            or device.kernel(name, **p)
        for i, n in enumerate(kernel_sizes):
            # The kernel chooses its calls (a plug-in kernel is calibrated like a built-in).
            inputs, kwargs = cls.sample_call(p, rng, n, index=i)
            args = tuple(inputs[port.name] for port in cls.memo("inputs", p))
            work, unit, _ = kernel_work(cls, p, args, kwargs)
            handle(*args, **kwargs)                         # warm-up: caches, first-call costs
            times, predicted = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                handle(*args, **kwargs)
                seconds = time.perf_counter() - t0
                times.append(seconds)
                models.record(key, device.name, work, seconds, cycles=handle.last_cycles,
                              unit=unit)
                if timing is not None:
                    if handle.last_link is None or handle.last_cycles is None:
                        raise HetflowError(f"device {device.name} counts no cycles or link "
                                           f"bytes; calibrate a board from its build on sim")
                    board_s = timing.seconds(handle.last_cycles, handle.last_link)
                    predicted.append(board_s)
                    models.record(key, board_device, work, board_s,
                                  cycles=handle.last_cycles, unit=unit)
            rows.append({"key": key, "n": work.n, "tiles": work.tiles, "unit": unit,
                         "seconds": float(np.median(times)), "cycles": handle.last_cycles,
                         **({"predicted": float(np.median(predicted))} if predicted else {})})
            if on_step:
                on_step(key, work.n, len(rows), total)
    return rows
