"""The one memory layout of a job on a board.

Each stream gets one region, inputs first in port order, then outputs,
from address 0, each region starting on a 4 KiB boundary.  A beat takes
:func:`~hetflow.link.protocol.beat_stride` bytes (its payload bytes
rounded up to a power of two), payload in the low bytes, little-endian.
When the stride equals the payload size (every built-in kernel) the
region is just the element array's bytes, zero-padded to whole beats.

The virtual board, the SoC simulation, the serial board and the benchmarks all lay a
job out so (:meth:`~hetflow.link.client.BoardClient.run_job`).
"""

__all__ = ["REGION_ALIGN", "region_bytes", "job_layout"]

#: Every stream's region starts on a multiple of this many bytes.
REGION_ALIGN = 4096


def region_bytes(channel, elements):
    """Bytes of the memory region of ``elements`` elements on ``channel``."""
    return -(-channel.port.beats(elements) * channel.stride // REGION_ALIGN) * REGION_ALIGN


def job_layout(channels, job, start=0):
    """The one memory layout of a job on a board: ``({port: (channel, address, beats)},
    end)``.

    Each channel's stream gets a region of whole beats from ``start`` (address 0
    for a single kernel; an overlay's instances follow one another) on, in
    channel order, each rounded up to :data:`REGION_ALIGN`; ``end`` is the
    address after the last region.  The virtual board, the SoC simulation, the
    benchmarks and the jobs of an overlay all lay a job out so.
    """
    out, address = {}, start
    for ch in channels:
        n = job.expect[ch.port.name] if ch.output else len(job.streams[ch.port.name])
        out[ch.port.name] = (ch, address, ch.port.beats(n))
        address += region_bytes(ch, n)
    return out, address
