"""The host side of an overlay: its instances and chains as callables on a device.

``hetflow.open(device, overlay="pipeline.toml")`` gives a device whose
``kernels`` are the overlay's instances and whose ``chains`` are its chains,
also reachable as attributes::

    with hetflow.open("cpu", overlay="pipeline.toml") as dev:
        print(dev.kernels)                 # {'fir0': <fir(taps=16) ...>, ...}
        c = dev.gemm0(A, B)                # one instance alone
        crc = dev.fir0_crc0(x, h=h)        # a chain: its inputs, every instance's scalars
        run = dev.gemm0.start(A, B)        # instances run at the same time where they can

A chain is called with its inputs (the ports no stream feeds) positionally in
chain order or by port name, and the scalars of all its instances by name;
a name two instances share is given per instance, ``fir0={"h": h}``.  It
returns its one output as an array, or a dict of its outputs.  An instance
whose ports are chained cannot be called alone, on any device, because on
the fabric its chained ports have no path to the host.
"""

import threading
import time

import numpy as np

from .handle import KernelHandle, Run, _check_timeout
from .hw.errors import HetflowError, StimulusError
from .hw.overlay import OverlayError, as_overlay, derive_jobs
from .hw.registry import get_kernel
from .sched.costgraph import device_kind
from .sched.work import Work, kernel_key

__all__ = ["InstanceHandle", "ChainHandle", "ChainCall", "ComputeUnit", "as_overlay",
           "compute_units", "start_together"]


class InstanceHandle(KernelHandle):
    """One instance of an overlay, called like a kernel on its own."""

    def __init__(self, device, instance, chain=None):
        super().__init__(device, instance.kernel_cls, instance.params)
        self.instance = instance.name
        self.chain = chain

    def __repr__(self):
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"<{self.instance} = {self.name}({params}) on {self.device.name}>"

    def _checked(self, args, kwargs):
        if self.chain is not None:
            raise StimulusError(
                f"{self.instance} is chained on the fabric ({', '.join(map(str, self.chain.streams))}) "
                f"and cannot be called alone; call its chain, dev.{self.chain.name}(...)")
        return super()._checked(args, kwargs)


class ChainHandle:
    """A chain of instances, called as one function (see the module doc)."""

    def __init__(self, device, overlay, chain):
        self.device = device
        self.overlay = overlay
        self.chain = chain
        self.name = chain.name
        #: Device cycles and link count of the last finished call (as a kernel handle's).
        self.last_cycles = None
        self.last_link = None
        inputs = [port for _, port in chain.inputs]
        self.input_names = [port if inputs.count(port) == 1 else f"{inst}_{port}"
                            for inst, port in chain.inputs]
        outputs = [port for _, port in chain.outputs]
        self.output_names = [port if outputs.count(port) == 1 else f"{inst}.{port}"
                             for inst, port in chain.outputs]
        scalars = [(name, s) for name in chain.order
                   for s in overlay.instances[name].kernel_cls.scalars]
        names = [s for _, s in scalars]
        self._scalar_owner = {s: name for name, s in scalars if names.count(s) == 1}

    def __repr__(self):
        return f"<chain {' -> '.join(self.chain.order)} on {self.device.name}>"

    def _bind(self, args, kwargs):
        chain = self.chain
        if len(args) > len(chain.inputs):
            raise StimulusError(f"{self.name}: takes {len(chain.inputs)} input array(s) "
                                f"({', '.join(self.input_names)}), got {len(args)}")
        inputs = dict(zip(chain.inputs, args))
        scalars = {name: {} for name in chain.order}
        by_name = dict(zip(self.input_names, chain.inputs))
        for key, value in kwargs.items():
            if key in by_name:
                if by_name[key] in inputs:
                    raise StimulusError(f"{self.name}: input '{key}' given twice")
                inputs[by_name[key]] = value
            elif key in scalars and isinstance(value, dict):
                scalars[key].update(value)
            elif key in self._scalar_owner:
                scalars[self._scalar_owner[key]][key] = value
            else:
                shared = sorted(n for n in chain.order
                                if key in self.overlay.instances[n].kernel_cls.scalars)
                hint = (f"'{key}' belongs to {' and '.join(shared)}: give it per instance, "
                        f"{shared[0]}={{'{key}': ...}}") if shared else \
                    f"inputs are {', '.join(self.input_names) or 'none'}; scalars are " \
                    f"{', '.join(self._scalar_owner) or 'none'}"
                raise StimulusError(f"{self.name}: unexpected argument '{key}'; {hint}")
        missing = [n for n, key in zip(self.input_names, chain.inputs) if key not in inputs]
        if missing:
            raise StimulusError(f"{self.name}: missing input(s) {', '.join(missing)}")
        return inputs, scalars

    def _unwrap(self, outputs):
        values = [outputs[key] for key in self.chain.outputs]
        if len(values) == 1:
            return values[0]
        return dict(zip(self.output_names, values))

    def start(self, *args, **kwargs):
        """Check the call and start it; returns a :class:`~hetflow.Run`."""
        inputs, scalars = self._bind(args, kwargs)
        plan = self.device._plan_chain(self, inputs, scalars)
        started = time.monotonic()
        return Run(self, self.device._submit(lambda: self._unwrap(plan())), started)

    def __call__(self, *args, timeout=60.0, **kwargs):
        """Run the chain and return its outputs; raise ``TimeoutError`` after ``timeout`` s."""
        _check_timeout(timeout)
        return self.start(*args, **kwargs).wait(timeout=timeout)


def attach(device, overlay):
    """Give ``device`` the instances and chains of ``overlay`` (a path or an Overlay)."""
    overlay = as_overlay(overlay)
    if not device.runs_overlays:
        raise HetflowError(
            f"device {device.name} cannot run an overlay yet; overlays run on the cpu, sim "
            f"and serial devices (hetflow.open('sim', overlay=...)), or call one kernel with "
            f"dev.kernel(...)")
    chains = overlay.chains
    member = {name: chain for chain in chains.values() for name in chain.order}
    device._load_design(overlay)
    device.design = overlay
    device.kernels = {name: InstanceHandle(device, inst, member.get(name))
                      for name, inst in overlay.instances.items()}
    device.chains = {name: ChainHandle(device, overlay, chain) for name, chain in chains.items()}
    return device


# ---- what a scheduler sees ------------------------------------------------------------


class ChainCall:
    """A chain of an overlay as a scheduler's task: what it is, its size, who runs it.

    Parameters
    ----------
    overlay : Overlay or path
        The design the chain belongs to.
    name : str
        The chain's name (``fir0_crc0``).
    """

    def __init__(self, overlay, name):
        overlay = as_overlay(overlay)
        chains = overlay.chains
        if name not in chains:
            raise OverlayError(f"overlay '{overlay.name}' has no chain '{name}'; its chains "
                               f"are: {', '.join(chains) or 'none'}")
        self.overlay, self.chain, self.name = overlay, chains[name], name
        self.members = tuple((n, kernel_key(overlay.instances[n].kernel_cls.name,
                                            overlay.instances[n].params))
                             for n in self.chain.order)
        #: Performance model name: ``fir0_crc0[fir0=fir(taps=16), crc0=crc32(lanes=4)]``.
        self.key = f"{name}[{', '.join(f'{n}={k}' for n, k in self.members)}]"

    def __repr__(self):
        return f"<chain {self.key}>"

    def same_as(self, handle):
        """Whether ``handle`` (a :class:`ChainHandle`) runs this chain: same instances,
        kernels, parameters and streams."""
        return isinstance(handle, ChainHandle) and handle.chain == self.chain \
            and ChainCall(handle.overlay, handle.name).members == self.members

    def work(self, args, kwargs):
        """Size the call without running it: ``(Work, unit, zero-filled result)``.

        ``n`` sums every instance's units of work (the units, joined by ``+`` where
        they differ); the result has the shapes of the chain's outputs.
        """
        inputs, scalars = ChainHandle(None, self.overlay, self.chain)._bind(args, kwargs)
        inputs = {key: np.asarray(v) for key, v in inputs.items()}
        jobs = derive_jobs(self.overlay, self.chain, inputs, scalars)
        n, units, values = 0, [], {}
        for name, job in jobs.items():
            inst = self.overlay.instances[name]
            count, unit = inst.kernel_cls.work(inst.params, job)
            n += count
            units += [unit] if unit not in units else []
            outs = {p.name: p for p in inst.ports("out")}
            streams = {port: np.zeros(c, outs[port].np_dtype) for port, c in job.expect.items()}
            for port, array in inst.kernel_cls.collect(inst.params, job, streams).items():
                values[(name, port)] = array
        result = ChainHandle(None, self.overlay, self.chain)._unwrap(values)
        nbytes = sum(a.nbytes for a in inputs.values()) + sum(
            values[key].nbytes for key in self.chain.outputs)
        return Work(n, 1, nbytes), "+".join(units), result


class ComputeUnit:
    """A place a scheduler can put a task: a whole device, or one unit of its overlay.

    A device opened with an overlay (other than the cpu) offers each instance no
    stream touches and each chain as a unit of its own, labelled
    ``LABEL:NAME`` (``sim:gemm0``, ``sim:fir0_crc0``): a unit runs only calls of
    its own kernel and parameters (or its chain), and units of one device may run
    at the same time.  Any other device is one unit: the cpu runs every kernel
    (its golden model), every chain (the composed models) and every function;
    a board without an overlay runs any kernel.

    Attributes
    ----------
    label : str
    device : Device
        The device (its ``name`` names the performance models of the unit).
    handle : InstanceHandle or ChainHandle or None
        What the unit runs; None for a whole device.
    """

    def __init__(self, label, device, handle=None):
        self.label, self.device, self.handle = label, device, handle

    def __repr__(self):
        return f"<unit {self.label}: {self.offers()}>"

    @property
    def is_cpu(self):
        return device_kind(self.device.name) == "cpu"

    def offers(self):
        """What this unit runs, in words (error messages, plans)."""
        if isinstance(self.handle, ChainHandle):
            return f"chain {ChainCall(self.handle.overlay, self.handle.name).key}"
        if self.handle is not None:
            return kernel_key(self.handle.name, self.handle.params)
        return "any kernel, chain and function" if self.is_cpu else "any kernel"

    def runs(self, task):
        """Whether this unit can run ``task`` (a :class:`hetflow.sched.graph.Task`)."""
        if task.kind == "function":
            return self.is_cpu and self.handle is None
        if task.kind == "chain":
            if self.handle is None:
                return self.is_cpu and getattr(self.device, "runs_overlays", False)
            return task.chain.same_as(self.handle)
        if self.handle is None:
            return True
        return isinstance(self.handle, InstanceHandle) and self.handle.name == task.kernel \
            and self.handle.params == task.params

    def handle_for(self, task):
        """The callable that runs ``task`` here (loads the kernel if needed)."""
        if self.handle is not None:
            return self.handle
        if task.kind == "chain":
            return ChainHandle(self.device, task.chain.overlay, task.chain.chain)
        if self.device.design is not None:      # the cpu runs any kernel, design or not
            return KernelHandle(self.device, get_kernel(task.kernel), task.params)
        return self.device.kernel(task.kernel, **task.params)


def compute_units(label, device):
    """The :class:`ComputeUnit` list ``device`` (labelled ``label``) offers a scheduler."""
    if getattr(device, "design", None) is None or device_kind(device.name) == "cpu":
        return [ComputeUnit(label, device)]
    units = [ComputeUnit(f"{label}:{name}", device, handle)
             for name, handle in device.kernels.items() if handle.chain is None]
    return units + [ComputeUnit(f"{label}:{name}", device, handle)
                    for name, handle in device.chains.items()]


def start_together(device, calls):
    """Start ``calls`` (``(handle, args, kwargs)``) so that ``device`` sees them all at once.

    The device's worker is held until every call is started, so an overlay on
    the simulated board runs calls on independent units in the same bursts
    (:mod:`hetflow.backends.sim_overlay`).  Returns each call's
    :class:`~hetflow.Run`, or the exception its start raised (bad input).
    """
    gate = threading.Event()
    device._submit(gate.wait)
    started = []
    try:
        for handle, args, kwargs in calls:
            try:
                started.append(handle.start(*args, **kwargs))
            except Exception as exc:
                started.append(exc)
    finally:
        gate.set()
    return started
