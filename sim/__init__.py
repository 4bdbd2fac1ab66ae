"""hetflow.sim (folder ``sim/``): simulating what :mod:`hetflow.hw` describes.

Second in the flow hw -> sim -> boards -> hetflow: Verilog export,
simulator discovery and cached builds, the generic cocotb bench
(``hetflow verify``), and the virtual board (:mod:`hetflow.sim.board`, a
design's RTL in a persistent Verilator process behind the transaction
protocol).  It imports :mod:`hetflow.hw` and the cache and tool lookup of
the host package, never :mod:`hetflow.boards`.
"""
