"""The Device: one host API over the CPU, the simulated board and real boards.

``hetflow.open("cpu" | "sim")`` returns a :class:`Device`; the host script is
the same for each::

    with hetflow.open("sim") as dev:
        fir = dev.kernel("fir", taps=16)
        y = fir(x, h=coeffs)                       # blocking call
        run = fir.start(x, h=coeffs)               # or start ...
        y = run.wait(timeout=5.0)                  # ... and wait, always with a timeout

A backend implements :meth:`Device._execute` (run one tile-sized call and
return its outputs and cycles) and may override :meth:`Device._model` (the
whole call at once, which the CPU does with the golden model).  A kernel on a
device is a :class:`~hetflow.handle.KernelHandle` (:mod:`hetflow.handle`: calls,
runs, inlining, repeat calls).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from .buffer import Buffer
from .handle import HICCUP_SECONDS, INLINE_SECONDS, REPEAT_SHAPES, KernelHandle, Run
from .hw.errors import HetflowError
from .hw.registry import get_kernel

__all__ = ["Device", "KernelHandle", "JobsPlan", "Run", "open", "BACKENDS",
           "INLINE_SECONDS", "HICCUP_SECONDS", "REPEAT_SHAPES"]


@cache
def _fit_call():
    """:func:`hetflow.fit.fit_call` (it needs the board client: imported when first used)."""
    from .fit import fit_call
    return fit_call


class JobsPlan:
    """A checked call (:meth:`Device._plan`): calling it executes its ``jobs`` in order
    on the device and returns their outputs merged (``merge``)."""

    def __init__(self, device, handle, jobs, merge):
        self.device, self.handle, self.jobs, self.merge = device, handle, jobs, merge

    def __call__(self):
        device, handle, jobs = self.device, self.handle, self.jobs
        cls, p = handle.kernel_cls, handle.params
        outputs, cycles = [], 0
        meter = device._link_meter(handle)
        start = meter.mark() if meter is not None else None
        for job in jobs:
            streams, job_cycles = device._execute(handle, job)
            outputs.append(cls.collect(p, job, streams))
            cycles += job_cycles or 0
        handle.last_cycles = cycles if jobs else None
        handle.last_link = meter.since(start) if meter is not None and jobs else None
        return self.merge(outputs)


class Device:
    """Base of every backend.  Use :func:`open` to get one."""

    name = "device"
    #: Whether blocking calls may run in the caller's thread (see KernelHandle.__call__);
    #: only for devices whose calls touch no shared device state, or hold it for a whole
    #: job (so that a call in the caller's thread and one in the worker cannot interleave).
    inline_calls = False
    #: Whether the device runs overlays (several instances, chains; :mod:`hetflow.overlays`).
    runs_overlays = False
    #: Whether the device has repeat calls (see :meth:`_repeat_call`).
    repeats_calls = False
    #: The design the device runs (``hetflow.open(..., overlay=...)``), a
    #: :class:`~hetflow.hw.overlay.Overlay`, else None.
    design = None

    def __init__(self):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"hetflow-{self.name}")
        self._lock = threading.Lock()
        #: Calls handed to the worker and not finished yet (own lock: a future cancelled
        #: under ``_lock`` runs its done callback at once).
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._kernels = {}
        #: The overlay's instances and chains by name (empty without an overlay).
        self.kernels = {}
        self.chains = {}
        self.closed = False

    def __getattr__(self, name):
        # dev.fir0 / dev.fir0_crc0: an overlay's instances and chains as attributes.
        for table in ("kernels", "chains"):
            found = self.__dict__.get(table, {}).get(name)
            if found is not None:
                return found
        if self.__dict__.get("kernels") or self.__dict__.get("chains"):
            names = ", ".join([*self.__dict__["kernels"], *self.__dict__["chains"]])
            raise AttributeError(f"device {self.name} has no instance or chain '{name}'; "
                                 f"its overlay has: {names}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- user API -----------------------------------------------------------------------

    def kernel(self, name, **params):
        """Load kernel ``name`` with elaboration parameters; returns a :class:`KernelHandle`.

        On a device running an overlay, the instance of that kernel and those
        parameters (there must be exactly one).
        """
        self._check_open()
        kernel_cls = get_kernel(name)
        p = kernel_cls.bind(**params)
        if self.design is not None:
            return self._instance_of(kernel_cls, p)
        # Params hash by value, so equal configurations share one handle.
        key = (kernel_cls, p)
        if key not in self._kernels:
            self._load(kernel_cls, p)
            self._kernels[key] = KernelHandle(self, kernel_cls, p)
        return self._kernels[key]

    def _instance_of(self, kernel_cls, p):
        found = [h for h in self.kernels.values() if h.kernel_cls is kernel_cls and h.params == p]
        if len(found) != 1:
            params = ", ".join(f"{k}={v}" for k, v in p.items())
            what = "no instance" if not found else f"{len(found)} instances"
            raise HetflowError(f"overlay '{self.design.name}' has {what} of "
                               f"{kernel_cls.name}({params}); call an instance by name: "
                               f"{', '.join(f'dev.{n}' for n in self.kernels)}")
        return found[0]

    def allocate(self, shape, dtype=np.int32):
        """A zero-filled :class:`~hetflow.buffer.Buffer` usable by this device."""
        self._check_open()
        return Buffer(shape, dtype, device=self)

    def close(self):
        if not self.closed:
            self.closed = True
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<hetflow device {self.name}{' (closed)' if self.closed else ''}>"

    # ---- backend interface -------------------------------------------------------------

    def _check_open(self):
        if self.closed:
            raise HetflowError(f"device {self.name} is closed")

    def _load(self, kernel_cls, p):
        """Prepare the device to run this kernel (build, program…)."""

    def _load_design(self, overlay):
        """Prepare the device to run ``overlay`` (a checked Overlay): build, program..."""

    def _plan(self, handle, inputs, scalars):
        """Validate a call and return a function that runs it and returns its outputs.

        The default splits the call into tiles the kernel accepts
        (:meth:`Kernel.split`), cuts them further where they would not fit the
        board's memory (:mod:`hetflow.fit`), prepares every job up front (so
        bad input fails before anything runs), and returns a :class:`JobsPlan`
        that executes them in order and merges the results.
        """
        cls, p = handle.kernel_cls, handle.params
        tiles, merge = cls.split(p, inputs, scalars)
        board = self._memory(handle)
        if board is None:
            jobs = [cls.prepare(p, dict(t_in), dict(t_sc)) for t_in, t_sc in tiles]
        else:
            jobs, merge = _fit_call()(cls, p, inputs, scalars, tiles, merge, board)
        return JobsPlan(self, handle, jobs, merge)

    def _repeat_call(self, handle, args, kwargs, plan):
        """What runs the next calls of the shape of a call that passed the checks
        (``args``, ``kwargs``, and the ``plan`` it ran), or None.  Only on a device with
        :attr:`repeats_calls`; it has ``match(args, kwargs)`` (the register values of a
        call of its shape, False for one of its shape that the full checks must take,
        None for one of another shape), ``run(args, values)`` (the call's outputs) and
        ``nbytes`` (the input bytes of a call)."""
        return None

    def _plan_chain(self, handle, inputs, scalars):
        """Validate a chain call; return a function that runs it and returns
        ``{(instance, port): array}`` of the chain's outputs."""
        raise NotImplementedError

    def _execute(self, handle, job):
        """Run one job; return ``({output: elements}, cycles or None)``."""
        raise NotImplementedError

    def _memory(self, handle):
        """The board client whose memory a job of ``handle`` must fit, or None (no limit)."""
        return None

    def _link_meter(self, handle):
        """What counts the board link of ``handle``'s jobs (a
        :class:`~hetflow.boardtime.LinkMeter`), or None."""
        return None

    def _submit(self, fn):
        self._check_open()
        with self._pending_lock:
            self._pending += 1
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future):
        with self._pending_lock:
            self._pending -= 1

    def _abandon(self, run):
        """A wait timed out: make the device usable again.

        The abandoned call keeps its worker until it returns; later calls get a
        fresh worker instead of queueing behind it.  Backends with state on the
        device (a simulator process, a board) extend this to reset it.
        """
        with self._lock:
            run._future.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=f"hetflow-{self.name}")

    def _close(self):
        pass


BACKENDS = ("cpu", "sim", "pynq", "serial:PORT")


DEFAULT_DEVICE_VARIABLE = "HETFLOW_DEVICE"
#: The build directory a ``serial:`` device takes its baud rate and kernel from when opened
#: with neither ``board=`` nor ``baudrate=`` (``hetflow run --board`` sets it).
BOARD_VARIABLE = "HETFLOW_BOARD"


def open(spec=None, **options):
    """Open a device: ``"cpu"``, ``"sim"``, ``"pynq"`` or ``"serial:/dev/ttyUSB1"``.

    Without ``spec``, the device named by ``$HETFLOW_DEVICE`` (which
    ``hetflow run --device`` sets), else the simulated board.  ``serial:PORT``
    takes ``board=`` (the build directory: its ``report.json`` gives the baud
    rate, kernel and parameters; default ``$HETFLOW_BOARD`` unless
    ``baudrate=`` is given), ``kernel=``, ``params=``, ``baudrate=``,
    ``timeout=`` and ``retries=``; without a build the kernel is found from
    the board's id register and ``params`` must be the bitstream's (see
    :mod:`hetflow.backends.serial`).
    ``sim`` and ``serial:PORT`` take ``max_cycles=``: the cycle budget of one
    job, after which it raises :class:`~hetflow.link.client.KernelTimeout`
    (a ``TimeoutError``); default 64 cycles per beat moved plus 100000.
    ``overlay=`` (an :class:`~hetflow.hw.overlay.Overlay` or the path of its
    TOML file) runs a design of several instances and chains; see
    :mod:`hetflow.overlays`.  For ``pynq``, ``overlay=`` may instead be a
    loaded ``pynq.Overlay`` (or :func:`hetflow.pynq_sim.overlay`), which the
    PYNQ backend drives; an overlay export there is read from its handoff, so
    ``overlay=`` a design only checks that the PL carries it
    (:mod:`hetflow.backends.pynq_overlay`).
    """
    overlay = options.pop("overlay", None)
    if spec == "pynq" and overlay is not None and not _is_design(overlay):
        options["overlay"], overlay = overlay, None      # PYNQ's own overlay object
    device = _open(spec, options)
    if overlay is not None:
        from .overlays import attach
        try:
            attach(device, overlay)
        except BaseException:
            device.close()
            raise
    return device


def _is_design(value):
    """Whether ``value`` describes a hetflow design (an Overlay or the path of its file)."""
    from .hw.overlay import Overlay
    return isinstance(value, (Overlay, str)) or hasattr(value, "__fspath__")


def _open(spec, options):
    if spec is None:
        spec = os.environ.get(DEFAULT_DEVICE_VARIABLE) or "sim"
    if not isinstance(spec, str):
        raise HetflowError(f"device must be a string such as 'cpu' or 'sim', not {spec!r}")
    if spec == "cpu":
        from .backends.cpu import CPUDevice
        return CPUDevice(**options)
    if spec == "sim":
        from .backends.sim import SimDevice
        return SimDevice(**options)
    if spec.startswith("serial:"):
        port = spec[len("serial:"):]
        if not port:
            raise HetflowError("device 'serial:' names no port; use serial:/dev/ttyUSB1 "
                               "(or serial:COM3, or a pyserial URL)")
        from .backends.serial import SerialDevice
        if "board" not in options and "baudrate" not in options \
                and os.environ.get(BOARD_VARIABLE):
            options["board"] = os.environ[BOARD_VARIABLE]
        return SerialDevice(port, **options)
    if spec == "pynq":
        # pynq [bitfile=..., overlay=..., timeout=...]: the kernel is found from its id
        # register, an overlay export's design from its handoff; see hetflow.backends.pynq
        # and hetflow.backends.pynq_overlay (says "pip install pynq" when it is missing).
        from .backends.pynq_overlay import PynqOverlayDevice
        return PynqOverlayDevice(**options)
    raise HetflowError(f"unknown device '{spec}'; choose one of: {', '.join(BACKENDS)}")
