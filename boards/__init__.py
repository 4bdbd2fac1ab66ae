"""hetflow.boards (folder ``boards/``): real boards -- the SoC, open-toolchain builds, programming.

Third in the flow hw -> sim -> boards -> hetflow: the board registry, the
SoC around a design (memory, DMA, the UART frame bridge), bitstream builds
with YoWASP Yosys/nextpnr and their reports, gate-level netlists,
programming, the served SoC behind a pty, and the Zynq/PYNQ export.  It
imports :mod:`hetflow.hw` and :mod:`hetflow.sim` (the transaction protocol
its bridge speaks, the simulators its tests and ``serve`` use).
"""
