"""The staging area of the virtual board: memory the host and the board process share.

Large transfers skip the pipes: the host copies a ``MEM_WRITE``'s data into an
anonymous shared file (``memfd``) that the process maps too, and sends a
``STAGE_WRITE`` (:data:`~hetflow.sim.board.harness.STAGE_WRITE`) that the process
executes in its turn; a large ``MEM_READ`` becomes a ``STAGE_READ`` whose data the
host takes from the area once it is answered (:class:`StagedRead`).
"""

import mmap
import os

__all__ = ["staging_area", "StagedRead", "PREFAULT"]

#: Bytes of the staging area allocated when a board starts (the process does the same to
#: its memory): the first job does not pay for page faults, a large board not for pages.
PREFAULT = 64 << 20


class StagedRead:
    """Decodes the (empty) response to a ``STAGE_READ``: the data is in the staging area."""

    def __init__(self, stage, at, length):
        self.stage, self.at, self.length, self.size = stage, at, length, 0

    def unpack(self, body):
        # One copy, into a writable buffer its reader may keep as it is
        # (from_memory_image makes the output array of it without copying again).
        with memoryview(self.stage) as area:
            return bytearray(area[self.at:self.at + self.length])


def staging_area(size):
    """``(descriptor, mmap)`` of an anonymous shared file of ``size`` bytes, or
    ``(None, None)`` where the system has no ``memfd_create`` (then every transfer
    goes through the pipes).  Pages are only allocated where a transfer touches them."""
    if not hasattr(os, "memfd_create"):
        return None, None
    fd = os.memfd_create("hetflow-board-stage", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        area = mmap.mmap(fd, size)
    except OSError:
        os.close(fd)
        return None, None
    # Allocate the first pages now, not during the first job's transfers (the process
    # maps the same prefix when it starts).
    zeros = bytes(1 << 20)
    for at in range(0, min(size, PREFAULT), len(zeros)):
        area[at:at + len(zeros)] = zeros[:min(len(zeros), size - at)]
    return fd, area
