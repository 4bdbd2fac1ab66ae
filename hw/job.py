"""What one kernel call looks like on the wires, and how arrays map to beats.

A :class:`Job` is the hardware view of a call: register values to write, the
element sequence of each input stream, and how many elements each output
stream will produce.  Kernels turn user arrays into a job (``prepare``) and
output streams back into arrays (``collect``); the cocotb bench, the virtual
board and the real-board drivers all consume the same job.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Job", "pack_beats", "unpack_beats", "memory_image", "from_memory_image",
           "split_elementwise"]


@dataclass
class Job:
    """Register writes and stream contents of one kernel call.

    Attributes
    ----------
    registers : dict of str to int or list of int
        Register name to value (a list for array registers); ``len`` included.
    streams : dict of str to numpy.ndarray
        Input port name to a 1-D array of elements, in the port's dtype.
    expect : dict of str to int
        Output port name to the number of elements the kernel will produce.
    shapes : dict
        Free-form data ``collect`` needs to reshape outputs.
    """

    registers: dict
    streams: dict
    expect: dict
    shapes: dict = field(default_factory=dict)


def pack_beats(port, elements):
    """Pack a 1-D element array into stream beats (Python ints).

    The last beat is zero-padded when the element count is not a multiple of
    ``port.lanes``.
    """
    arr = np.asarray(elements, dtype=port.np_dtype).reshape(-1)
    pad = (-len(arr)) % port.lanes
    if pad:
        arr = np.concatenate([arr, np.zeros(pad, dtype=arr.dtype)])
    raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    step = port.lanes * port.np_dtype.itemsize
    return [int.from_bytes(raw[i:i + step], "little") for i in range(0, len(raw), step)]


def unpack_beats(port, beats, elements=None):
    """Unpack beats (Python ints) into a 1-D element array of ``port.dtype``.

    ``elements`` trims the padding of the last beat.
    """
    step = port.lanes * port.np_dtype.itemsize
    mask = (1 << (8 * step)) - 1
    raw = b"".join((int(b) & mask).to_bytes(step, "little") for b in beats)
    arr = np.frombuffer(raw, dtype=port.np_dtype.newbyteorder("<")).astype(port.np_dtype)
    if elements is not None:
        arr = arr[:elements]
    return arr


def memory_image(port, elements, stride):
    """Bytes of a stream in board memory: one beat every ``stride`` bytes.

    A beat's payload (``lanes`` little-endian elements) is in its low bytes,
    the rest of the stride is zero; the last beat is zero-padded.  The virtual
    board's DMA, the SoC's DMA and their hosts all use this layout.
    """
    arr = np.asarray(elements, dtype=port.np_dtype).reshape(-1)
    arr = arr.astype(port.np_dtype.newbyteorder("<"), copy=False)
    beats = port.beats(len(arr))
    if beats * port.lanes != len(arr):
        arr = np.concatenate([arr, np.zeros(beats * port.lanes - len(arr), arr.dtype)])
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(beats, -1)
    if raw.shape[1] != stride:
        raw = np.pad(raw, ((0, 0), (0, stride - raw.shape[1])))
    return raw.tobytes()


def from_memory_image(port, raw, stride, elements):
    """The first ``elements`` elements of a stream laid out by :func:`memory_image`.

    A new array, except that a writable ``raw`` (a ``bytearray``) whose beats fill
    their stride is used as it is when the port's dtype is little-endian.
    """
    dtype = port.np_dtype
    little = dtype.newbyteorder("<")
    nbytes = port.lanes * dtype.itemsize
    if stride == nbytes:
        # Beats fill their stride: the elements are the image's first bytes.
        arr = np.frombuffer(raw, dtype=little, count=elements)
    else:
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, stride)[:, :nbytes]
        arr = np.ascontiguousarray(arr).view(little).reshape(-1)[:elements]
    return arr.astype(dtype, copy=not arr.flags.writeable)


def split_elementwise(inputs, scalars, n, outputs):
    """Cut a call whose outputs are element-wise in its inputs into calls of ``n`` elements.

    Returns ``(calls, merge)`` (see :meth:`Kernel.split`): every input array is
    cut at the same places, the scalars go to every call, and ``merge``
    concatenates each of ``outputs`` in order.
    """
    length = len(next(iter(inputs.values())))
    calls = [({k: v[i:i + n] for k, v in inputs.items()}, dict(scalars))
             for i in range(0, max(length, 1), n)]

    def merge(results):
        return {name: np.concatenate([r[name] for r in results]) for name in outputs}
    return calls, merge
