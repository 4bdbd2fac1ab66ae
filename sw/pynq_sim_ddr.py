"""The simulated Zynq's DDR: which ranges of board memory ``pynq.allocate`` handed out.

Board memory address 0 is physical address :data:`~hetflow.pynq_sim_design.DDR_BASE`.
:class:`DdrAllocator` hands out page-aligned ranges first fit and takes them
back when the buffer that holds one goes away; it knows nothing of the
board, so its ranges survive loading another design (DDR survives
reprogramming the PL).
"""

__all__ = ["DdrAllocator", "Allocation", "PAGE"]

PAGE = 4096


class Allocation:
    """A DDR range handed out: board memory ``address``, ``size`` bytes, ``live`` until freed."""

    __slots__ = ("address", "size", "live", "__weakref__")

    def __init__(self, address, size):
        self.address = address
        self.size = size
        self.live = True


class DdrAllocator:
    """First-fit allocation of whole pages in ``memory_size`` bytes of board memory.

    Raises ``error`` (an exception class) when a request does not fit.
    """

    def __init__(self, memory_size, error):
        self.memory_size = int(memory_size)
        self._error = error
        self._live = {}                    # board address -> Allocation

    def __iter__(self):
        return iter(list(self._live.values()))

    def take(self, nbytes):
        """A new :class:`Allocation` of at least ``nbytes`` bytes (whole pages, at least one)."""
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        address = 0
        for start in sorted(self._live):
            if start - address >= size:
                break
            address = max(address, start + self._live[start].size)
        if address + size > self.memory_size:
            used = sum(a.size for a in self._live.values())
            raise self._error(f"pynq.allocate of {size} bytes does not fit in the simulated "
                              f"DDR ({used} of {self.memory_size} bytes in use); free buffers "
                              f"or pass a larger memory_size to hetflow.pynq_sim.overlay")
        alloc = Allocation(address, size)
        self._live[address] = alloc
        return alloc

    def free(self, alloc):
        """Give ``alloc``'s range back (again is harmless)."""
        if alloc.live and self._live.get(alloc.address) is alloc:
            del self._live[alloc.address]
        alloc.live = False

    def find(self, address, length):
        """The board memory address of ``length`` bytes at board ``address``, or None.

        None unless the bytes lie inside one live allocation.
        """
        for alloc in self._live.values():
            if alloc.address <= address and address + length <= alloc.address + alloc.size:
                return address
        return None
