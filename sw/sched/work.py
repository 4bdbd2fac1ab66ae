"""The size of a call: what a performance model is indexed by.

A :class:`Work` is ``n`` units of work (the kernel's own measure: elements,
bytes or MACs, summed over the tiles the host splits the call into), the
number of tiles (hardware jobs) and the bytes moved.  :func:`kernel_work`
sizes a kernel call without running it, as a device would split and prepare
it; :func:`function_work` sizes a Python function call by its arrays.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Work", "kernel_key", "kernel_work", "function_work", "leaves"]


@dataclass(frozen=True)
class Work:
    """The size of one call.

    Attributes
    ----------
    n : float
        Units of work (elements, bytes, MACs: the kernel's ``work`` measure).
    tiles : int
        Hardware jobs the host splits the call into (1 for most calls).
    nbytes : int
        Bytes in (inputs) plus out (outputs).
    """

    n: float
    tiles: int = 1
    nbytes: int = 0

    def features(self):
        return (1.0, float(self.n), float(max(self.tiles, 1) - 1))


def kernel_key(name, params):
    """Model name of a kernel configuration: ``fir(taps=16)``, ``gemm(cols=4, rows=2)``."""
    return f"{name}({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})"


def leaves(value):
    """Every value inside ``value``'s lists, tuples and dicts (``value`` itself if none)."""
    if isinstance(value, (list, tuple, dict)):
        for v in (value.values() if isinstance(value, dict) else value):
            yield from leaves(v)
    else:
        yield value


def _arrays(value):
    return [a for a in leaves(value) if isinstance(a, np.ndarray)]


def kernel_work(kernel_cls, params, args, kwargs):
    """Size a kernel call without running it; also the shapes of its result.

    The call is bound, split and prepared as a device would (so bad input
    fails here, with the kernel's own one-line error), and the result is
    built from zero-filled output streams.

    Returns
    -------
    (Work, str, object)
        The work, its unit, and a zero-filled stand-in for the result (an
        array, or a dict of arrays for several outputs).
    """
    from ..device import KernelHandle
    handle = KernelHandle(None, kernel_cls, params)     # binds the arguments as a call does
    inputs, scalars = handle._bind_call(args, kwargs)
    inputs = {k: np.asarray(v) for k, v in inputs.items()}
    out_ports = {port.name: port for port in kernel_cls.outputs(params)}
    tiles, merge = kernel_cls.split(params, inputs, scalars)
    n, unit, outs, nbytes = 0, "element", [], sum(a.nbytes for a in inputs.values())
    for t_in, t_sc in tiles:
        job = kernel_cls.prepare(params, dict(t_in), dict(t_sc))
        units, unit = kernel_cls.work(params, job)
        n += units
        streams = {name: np.zeros(count, dtype=out_ports[name].np_dtype)
                   for name, count in job.expect.items()}
        nbytes += sum(s.nbytes for s in streams.values())
        outs.append(kernel_cls.collect(params, job, streams))
    return Work(n, max(len(tiles), 1), nbytes), unit, handle._unwrap(merge(outs))


def function_work(args, kwargs, result):
    """Size of a function call: the elements of its array arguments."""
    inputs = _arrays([args, kwargs])
    return Work(max(sum(a.size for a in inputs), 1), 1,
                sum(a.nbytes for a in inputs + _arrays(result))), "element"
