"""The virtual board: kernel RTL + memory + DMA in a persistent Verilator process."""
