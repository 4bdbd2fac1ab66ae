"""Benchmarks: ``hetflow bench sim``, ``hetflow bench host`` and ``hetflow bench schedule``.

:mod:`hetflow.bench.sim` compares the virtual board with a raw Verilator
harness and the cocotb bench on the same RTL; :mod:`hetflow.bench.host`
measures what a kernel call costs the host beyond its work.

:mod:`hetflow.bench.schedule` (``hetflow bench schedule``) compares the
scheduling policies on random DAGs (:mod:`~hetflow.bench.randomdag`) and on a
mixed workload run on cpu + sim (:mod:`~hetflow.bench.workload`).
"""
