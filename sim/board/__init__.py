"""The virtual board: a design's RTL + memory + DMA in a persistent Verilator process.

It speaks the host link of :mod:`hetflow.link` (the transaction protocol, the
board map, the client) on the process's pipes; :mod:`.harness` generates and
builds its C++, :mod:`.virtual` runs it, :mod:`.bridge` models the gateware's
serial bridge in front of it.
"""
