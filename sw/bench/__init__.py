"""Benchmarks of the host runtime: ``hetflow bench sim`` and ``hetflow bench host``.

:mod:`hetflow.bench.sim` compares the virtual board with a raw Verilator
harness and the cocotb bench on the same RTL; :mod:`hetflow.bench.host`
measures what a kernel call costs the host beyond its work.
"""
