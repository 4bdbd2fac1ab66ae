"""hetflow.link (folder ``sw/link``): how a host talks to a board, on every kind of board.

The transaction protocol (:mod:`.protocol`: register, memory, DMA and RUN
requests), the serial framing around it (:mod:`.framing`: sync, sequence
number, length, CRC-32, and the bridge's buffer sizes), the host's view of a
design (:mod:`.boardmap`: instance register windows, DMA channel numbering,
the manifest) and the board API with the one job memory layout on top
(:mod:`.client`; a design's instances and chains as one burst:
:mod:`.design_client`).  The virtual board (:mod:`hetflow.sim.board`), the SoC's
gateware bridge and its simulations (:mod:`hetflow.boards`), the serial
backend and the benchmarks all take it from here.  It imports only
:mod:`hetflow.hw`.
"""
