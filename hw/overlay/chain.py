"""What a chain computes: the jobs of its instances and the composed golden models.

On the fabric a chained input is fed by the stream of another instance, not
from memory, so the host never holds its elements; it still has to program
the instance (its ``len`` register, its scalars) and to know how many
elements each output will produce.  Both come from the instance's own
:meth:`~hetflow.hw.Kernel.prepare`, given a stand-in array of the length the
upstream instance produces (:func:`derive_jobs`).  That works when the
kernel takes that input as a 1-D stream of elements, as element-wise kernels
do; :func:`check_derivable` refuses a stream into any other input when the
overlay is described, not when it is first called.

:func:`compose` runs a chain on the CPU: the instances' golden models in
stream order, each output handed on as the next input, reinterpreted where
the stream says so.  It is the reference every device's result is compared
with.
"""

import numpy as np

from ..errors import OverlayError, StimulusError

__all__ = ["check_derivable", "reinterpret", "derive_jobs", "compose", "stream_length"]

#: Elements of the probe that checks a chained input is a plain 1-D stream.
_PROBE_BEATS = 3


def _sample_scalars(inst):
    rng = np.random.default_rng(0)
    return inst.kernel_cls.sample_call(inst.params, rng, 4)[1]


def check_derivable(overlay, stream):
    """Refuse ``stream`` unless its sink takes that input as a 1-D stream of elements.

    The sink's ``prepare`` is called on a short 1-D probe (every other input
    the same length, scalars from its ``sample_call``); the chain is derivable
    when it accepts the probe and streams it unchanged.
    """
    inst = overlay.instances[stream.sink[0]]
    cls, p = inst.kernel_cls, inst.params
    port = inst.port(stream.sink[1])[1]
    n = _PROBE_BEATS * port.lanes
    probe = np.arange(1, n + 1).astype(port.np_dtype)
    inputs = {q.name: np.zeros(n, q.np_dtype) for q in inst.ports("in")}
    inputs[port.name] = probe
    reason = None
    try:
        job = cls.prepare(p, inputs, _sample_scalars(inst))
    except StimulusError as exc:
        reason = f"its prepare refuses a 1-D stream ({exc})"
    else:
        streamed = job.streams.get(port.name)
        if streamed is None or not np.array_equal(np.asarray(streamed).reshape(-1), probe):
            reason = "its prepare reorders that input before streaming it"
    if reason:
        raise OverlayError(
            f"stream {stream}: the chain cannot derive {inst.name}'s job from a stream of "
            f"{port.dtype} elements: {reason}; chain into an input the kernel takes as a 1-D "
            f"array (saxpy, dot, fir, crc32 do), or call {inst.name} on its own")


def reinterpret(array, port):
    """``array``'s bytes (little-endian) as elements of ``port``'s dtype."""
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    if len(raw) % port.np_dtype.itemsize:
        raise StimulusError(f"{len(raw)} bytes are not a whole number of {port.dtype} "
                            f"elements")
    return np.frombuffer(raw, dtype=port.np_dtype.newbyteorder("<")).astype(port.np_dtype)


def stream_length(overlay, stream, elements):
    """Elements the sink of ``stream`` receives when its source produces ``elements``."""
    src = overlay.instances[stream.source[0]].port(stream.source[1])[1]
    dst = overlay.instances[stream.sink[0]].port(stream.sink[1])[1]
    nbytes = elements * src.np_dtype.itemsize
    if nbytes % dst.np_dtype.itemsize:
        raise StimulusError(f"stream {stream}: {elements} {src.dtype} elements are "
                            f"{nbytes} bytes, not a whole number of {dst.dtype} elements")
    return nbytes // dst.np_dtype.itemsize


def derive_jobs(overlay, chain, inputs, scalars):
    """The :class:`~hetflow.hw.job.Job` of every instance of ``chain``, in its order.

    ``inputs`` maps ``(instance, port)`` of the chain's inputs to arrays;
    ``scalars`` maps each instance to its scalar keywords.  A chained input
    is a zero stand-in of the length its source produces (the fabric feeds
    the real elements).  Raises :class:`StimulusError` naming the instance
    for bad inputs.
    """
    jobs, produced = {}, {}
    for name in chain.order:
        inst = overlay.instances[name]
        fed = {s.sink[1]: s for s in chain.streams if s.sink[0] == name}
        args = {}
        for port in inst.ports("in"):
            if port.name in fed:
                stream = fed[port.name]
                n = stream_length(overlay, stream, produced[stream.source])
                args[port.name] = np.zeros(n, port.np_dtype)
            else:
                args[port.name] = inputs[(name, port.name)]
        try:
            job = inst.kernel_cls.prepare(inst.params, args, dict(scalars.get(name, {})))
        except StimulusError as exc:
            raise type(exc)(f"{name}: {exc}") from None
        for port_name, count in job.expect.items():
            produced[(name, port_name)] = count
        jobs[name] = job
    return jobs


def compose(overlay, chain, inputs, scalars):
    """The chain's outputs, ``{(instance, port): array}``, from the golden models.

    Computes only: a caller checks the call first, as a board would, with
    :func:`derive_jobs` (which it needs anyway for the jobs).
    """
    values = dict(inputs)
    for name in chain.order:
        inst = overlay.instances[name]
        args = {}
        for port in inst.ports("in"):
            stream = next((s for s in chain.streams if s.sink == (name, port.name)), None)
            if stream is None:
                args[port.name] = values[(name, port.name)]
            else:
                upstream = values[stream.source]
                args[port.name] = reinterpret(upstream, port) if stream.reinterpret \
                    else upstream
        outputs = inst.kernel_cls.model(inst.params, args, dict(scalars.get(name, {})))
        for port_name, array in outputs.items():
            values[(name, port_name)] = array
    return {key: values[key] for key in chain.outputs}
