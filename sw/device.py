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
whole call at once, which the CPU does with the golden model).
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from .buffer import Buffer
from .hw.errors import HetflowError, StimulusError
from .hw.registry import get_kernel

__all__ = ["Device", "KernelHandle", "Run", "open", "BACKENDS"]


class Run:
    """A kernel call in flight; :meth:`wait` returns its result."""

    def __init__(self, handle, future, started):
        self._handle = handle
        self._future = future
        self._started = started

    def done(self):
        return self._future.done()

    def wait(self, timeout=10.0):
        """Block until the call finishes; return its outputs.

        Raises
        ------
        TimeoutError
            If the call is not done within ``timeout`` seconds (the call is
            then abandoned by the device and the device stays usable).
        """
        if timeout is None or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        try:
            return self._future.result(timeout=timeout)
        except FutureTimeout:
            elapsed = time.monotonic() - self._started
            self._handle.device._abandon(self)
            raise TimeoutError(f"kernel '{self._handle.name}' on {self._handle.device.name} did not "
                               f"finish within {timeout:g} s (waited {elapsed:.2f} s)") from None


class KernelHandle:
    """A kernel loaded on a device, callable with arrays and scalar keywords.

    Inputs are passed positionally in port order (or by name as keywords);
    runtime scalars by keyword.  With one output the call returns an array,
    otherwise a dict of arrays.
    """

    def __init__(self, device, kernel_cls, params):
        self.device = device
        self.kernel_cls = kernel_cls
        self.params = params
        self.name = kernel_cls.name
        self.input_names = [port.name for port in kernel_cls.inputs(params)]
        self.output_names = [port.name for port in kernel_cls.outputs(params)]
        #: Device cycles of the last finished call (None where the device has no clock).
        self.last_cycles = None

    def __repr__(self):
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"<{self.name}({params}) on {self.device.name}>"

    def _bind_call(self, args, kwargs):
        if len(args) > len(self.input_names):
            raise StimulusError(f"{self.name}: takes {len(self.input_names)} input array(s) "
                                f"({', '.join(self.input_names)}), got {len(args)}")
        inputs = dict(zip(self.input_names, args))
        scalars = {}
        for key, value in kwargs.items():
            if key in self.input_names:
                if key in inputs:
                    raise StimulusError(f"{self.name}: input '{key}' given twice")
                inputs[key] = value
            else:
                scalars[key] = value
        return inputs, scalars

    def _unwrap(self, outputs):
        return outputs[self.output_names[0]] if len(self.output_names) == 1 else outputs

    def start(self, *args, **kwargs):
        """Check the call and start it; returns a :class:`Run`."""
        inputs, scalars = self._bind_call(args, kwargs)
        inputs = {k: np.asarray(v) if isinstance(v, Buffer) else v for k, v in inputs.items()}
        plan = self.device._plan(self, inputs, scalars)   # validates before anything runs
        started = time.monotonic()
        future = self.device._submit(lambda: self._unwrap(plan()))
        return Run(self, future, started)

    def __call__(self, *args, timeout=60.0, **kwargs):
        return self.start(*args, **kwargs).wait(timeout=timeout)


class Device:
    """Base of every backend.  Use :func:`open` to get one."""

    name = "device"

    def __init__(self):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"hetflow-{self.name}")
        self._lock = threading.Lock()
        self._kernels = {}
        self.closed = False

    # ---- user API -----------------------------------------------------------------------

    def kernel(self, name, **params):
        """Load kernel ``name`` with elaboration parameters; returns a :class:`KernelHandle`."""
        self._check_open()
        kernel_cls = get_kernel(name)
        p = kernel_cls.bind(**params)
        key = (kernel_cls, tuple(sorted(p.items())))
        if key not in self._kernels:
            self._load(kernel_cls, p)
            self._kernels[key] = KernelHandle(self, kernel_cls, p)
        return self._kernels[key]

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

    def _plan(self, handle, inputs, scalars):
        """Validate a call and return a function that runs it and returns its outputs.

        The default splits the call into tiles the kernel accepts
        (:meth:`Kernel.split`), prepares every tile's job up front (so bad
        input fails before anything runs), executes them in order and merges
        the results.
        """
        cls, p = handle.kernel_cls, handle.params
        tiles, merge = cls.split(p, inputs, scalars)
        jobs = [cls.prepare(p, dict(t_in), dict(t_sc)) for t_in, t_sc in tiles]

        def run():
            outputs, cycles = [], 0
            for job in jobs:
                streams, job_cycles = self._execute(handle, job)
                outputs.append(cls.collect(p, job, streams))
                cycles += job_cycles or 0
            handle.last_cycles = cycles if jobs else None
            return merge(outputs)
        return run

    def _execute(self, handle, job):
        """Run one job; return ``({output: elements}, cycles or None)``."""
        raise NotImplementedError

    def _submit(self, fn):
        self._check_open()
        return self._executor.submit(fn)

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


def open(spec=None, **options):
    """Open a device: ``"cpu"``, ``"sim"``, ``"pynq"`` or ``"serial:/dev/ttyUSB1"``.

    Without ``spec``, the device named by ``$HETFLOW_DEVICE`` (which
    ``hetflow run --device`` sets), else the simulated board.
    """
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
    if spec == "pynq" or spec.startswith("serial:"):
        raise HetflowError(f"device '{spec}' is not supported by this version of hetflow yet; "
                           f"available: cpu, sim")
    raise HetflowError(f"unknown device '{spec}'; choose one of: {', '.join(BACKENDS)}")
