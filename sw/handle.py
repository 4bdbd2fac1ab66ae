"""Calls of a kernel on a device: :class:`KernelHandle` and :class:`Run`.

A handle checks a call and hands it to its device (:meth:`Device._plan`); a
blocking call waits for it, :meth:`KernelHandle.start` returns a :class:`Run`
to wait for later.

Calls run on one worker thread per device, so a wait can time out while the
device is still busy.  Handing a call to a thread and back costs tens of
microseconds, which dominates small calls on the CPU and on the simulated
board; a device that sets :attr:`Device.inline_calls` therefore runs a
blocking call in the caller's thread once that handle has shown that calls of
that size finish within :data:`INLINE_SECONDS`, and while the worker has
nothing to do (see :meth:`KernelHandle.__call__`).  One call slower than that
but within :data:`HICCUP_SECONDS` is taken for a busy machine (the process was
not scheduled for a while): only a second one in a row, or one slower still,
sends the handle's calls back to the worker.

A host calls a kernel again and again with arrays of one shape.  On a device
with :attr:`Device.repeats_calls`, an inline call whose shape passed the checks
before runs as that device's *repeat call* for the shape
(:meth:`Device._repeat_call`), which does only what the shape leaves open.
"""

import time
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from .buffer import Buffer
from .hw.errors import StimulusError

__all__ = ["KernelHandle", "Run", "INLINE_SECONDS", "HICCUP_SECONDS", "REPEAT_SHAPES"]

#: A call whose run took at most this long lets later calls of the same handle, with no
#: more input bytes, run inline (in the caller's thread) on devices with ``inline_calls``.
INLINE_SECONDS = 0.002
#: A call slower than INLINE_SECONDS but within this, alone, does not stop inlining: on a
#: busy machine a fast call is now and then delayed by a few ms of other processes' time.
HICCUP_SECONDS = 0.05
#: Call shapes whose repeat calls a handle keeps (a host calls a kernel with a few shapes).
REPEAT_SHAPES = 16


def _check_timeout(timeout):
    if timeout is None or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")


def _timeout_error(handle, timeout, elapsed):
    return TimeoutError(f"kernel '{handle.name}' on {handle.device.name} did not "
                        f"finish within {timeout:g} s (waited {elapsed:.2f} s)")


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
        _check_timeout(timeout)
        try:
            return self._future.result(timeout=timeout)
        except FutureTimeout:
            if self._future.done():
                # On Python >= 3.11 FutureTimeout is the built-in TimeoutError: this one
                # was raised by the call itself, not by our wait.
                raise
            elapsed = time.monotonic() - self._started
            self._handle.device._abandon(self)
            raise _timeout_error(self._handle, timeout, elapsed) from None


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
        #: Requests and bytes a serial link carries (or carried) for the last finished call,
        #: a :class:`~hetflow.boardtime.LinkCount` (None where the device has no board link).
        self.last_link = None
        # Largest input size (bytes) of a call that ran within INLINE_SECONDS; -1: none yet
        # or a later call was slow.  Only used by devices with inline_calls.
        self._inline_bytes = -1
        # Whether the last call took more than INLINE_SECONDS (but within HICCUP_SECONDS).
        self._slow = False
        #: The device's repeat calls of this handle, the latest first (None on a device
        #: without them, and on a handle that only binds arguments: no device).
        self._repeats = [] if device is not None and device.repeats_calls else None

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

    def _checked(self, args, kwargs):
        """``(plan, input bytes)`` of a call; raises before anything runs on bad input."""
        inputs, scalars = self._bind_call(args, kwargs)
        nbytes = 0
        for name, value in inputs.items():
            if isinstance(value, np.ndarray):
                if isinstance(value, Buffer):
                    inputs[name] = value = np.asarray(value)
                nbytes += value.nbytes
        return self.device._plan(self, inputs, scalars), nbytes

    def _learn(self, nbytes, seconds):
        if seconds <= INLINE_SECONDS:
            if nbytes > self._inline_bytes:
                self._inline_bytes = nbytes
            self._slow = False
        elif self._slow or seconds > HICCUP_SECONDS:
            self._inline_bytes = -1
        else:
            self._slow = True       # a busy spell, or the first of slow calls: see the next

    def _timed(self, run, nbytes, timeout=None):
        """The outputs of ``run()``, whose duration decides later inlining; a
        ``TimeoutError`` if it took longer than ``timeout`` seconds (given for a call
        made in the caller's thread, which cannot be abandoned)."""
        t0 = time.perf_counter()
        outputs = run()
        elapsed = time.perf_counter() - t0
        self._learn(nbytes, elapsed)
        if timeout is not None and elapsed > timeout:
            raise _timeout_error(self, timeout, elapsed)
        return outputs

    def _run(self, plan, nbytes):
        if not self.device.inline_calls:
            return self._unwrap(plan())
        return self._timed(lambda: self._unwrap(plan()), nbytes)

    def _start(self, plan, nbytes):
        started = time.monotonic()
        future = self.device._submit(lambda: self._run(plan, nbytes))
        return Run(self, future, started)

    def start(self, *args, **kwargs):
        """Check the call and start it; returns a :class:`Run`."""
        return self._start(*self._checked(args, kwargs))

    def __call__(self, *args, timeout=60.0, **kwargs):
        """Run the call and return its outputs; raise ``TimeoutError`` after ``timeout`` s.

        On a device with ``inline_calls`` (the CPU, the simulated board), a call
        runs in the caller's thread when this handle already ran a call with at
        least as many input bytes within :data:`INLINE_SECONDS` and no started
        call is still running or queued on the device: such a call cannot be
        abandoned, so if it does take longer than ``timeout`` the
        ``TimeoutError`` comes when it returns.  Every other call goes through
        the device's worker.  On a device with ``repeats_calls``, an inline call
        of a shape that passed the checks before runs as that device's repeat call
        of the shape (:meth:`Device._repeat_call`).
        """
        device = self.device
        if not device.inline_calls:
            return self.start(*args, **kwargs).wait(timeout=timeout)
        _check_timeout(timeout)
        repeats = self._repeats
        seen = False                    # whether a repeat call is of this call's shape
        if repeats and not device._pending:
            for repeat in repeats:
                values = repeat.match(args, kwargs)
                if values is None:
                    continue
                seen = True
                if values is not False and repeat.nbytes <= self._inline_bytes:
                    device._check_open()
                    return self._timed(lambda: repeat.run(args, values), repeat.nbytes,
                                       timeout)
                break
        plan, nbytes = self._checked(args, kwargs)
        if nbytes > self._inline_bytes or device._pending:
            return self._start(plan, nbytes).wait(timeout=timeout)
        device._check_open()
        outputs = self._timed(lambda: self._unwrap(plan()), nbytes, timeout)
        if repeats is not None and not seen:
            repeat = device._repeat_call(self, args, kwargs, plan)
            if repeat is not None:
                repeats.insert(0, repeat)
                del repeats[REPEAT_SHAPES:]
        return outputs
