"""Fitting a call into the memory of the board that runs it.

A board holds every stream of a job in its memory at once (inputs, then
outputs, each in whole beats rounded up to the region alignment), so a call
can be larger than the board.  Such a call is cut on the host into pieces
that fit, when the kernel knows how to put the result together from pieces
(:meth:`Kernel.split_elements`: element-wise kernels, sums, FIR by
overlap-discard); otherwise it is refused before anything runs, with the
largest call that fits.
"""

from .link.client import BoardError

__all__ = ["MemoryTooSmall", "largest_call", "fit_call"]


class MemoryTooSmall(BoardError, ValueError):
    """A call needs more board memory than the board has, and its kernel cannot be cut."""


def _lengths(cls, p, n):
    lengths = {port.name: n for port in cls.memo("inputs", p)}
    lengths.update({port.name: cls.output_length(p, n) for port in cls.memo("outputs", p)})
    return lengths


def largest_call(cls, p, board):
    """The most elements per input stream a 1-D call of ``cls`` may have on ``board``."""
    lo, hi = 0, 1
    while board.memory_needed(_lengths(cls, p, hi)) <= board.memory_size:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if board.memory_needed(_lengths(cls, p, mid)) <= board.memory_size:
            lo = mid
        else:
            hi = mid
    return lo


def _needed(board, job):
    lengths = {name: len(arr) for name, arr in job.streams.items()}
    lengths.update(job.expect)
    return board.memory_needed(lengths)


def fit_call(cls, p, inputs, scalars, tiles, merge, board):
    """The tiles of a call (as :meth:`Kernel.split` gave them), cut to fit ``board``.

    Returns ``(jobs, merge)``.  Raises :class:`MemoryTooSmall` naming the
    largest call that fits when a tile does not fit and cannot be cut.
    """
    # The whole tiles are prepared first, even when they are then cut: bad input is refused
    # with the whole call's numbers, not a piece's.
    jobs = [cls.prepare(p, dict(t_in), dict(t_sc)) for t_in, t_sc in tiles]
    too_big = [job for job in jobs if _needed(board, job) > board.memory_size]
    if not too_big:
        return jobs, merge
    need = max(_needed(board, job) for job in too_big)
    where = f"{cls.name} on the {board.where}"
    if len(tiles) == 1:
        n_max = largest_call(cls, p, board)
        cut = cls.split_elements(p, inputs, scalars, n_max) if n_max else None
        if cut is not None:
            calls, merge = cut
            return [cls.prepare(p, dict(c_in), dict(c_sc)) for c_in, c_sc in calls], merge
        n = len(next(iter(jobs[0].streams.values()), ()))
        raise MemoryTooSmall(
            f"{where}: a call of {n} elements needs {need} bytes of board memory but the "
            f"board has {board.memory_size}, and {cls.name} cannot be split on the host; the "
            f"largest call that fits has {n_max} elements")
    raise MemoryTooSmall(
        f"{where}: one of the call's {len(tiles)} tiles needs {need} bytes of board memory "
        f"but the board has {board.memory_size}")
