"""Benchmarks: what ``hetflow bench sim|host|link|schedule|build|prove`` measure.

Each module runs one benchmark (``run_*_bench``) and prints its table and its
figures as ``key=value`` lines (``print_report``); :mod:`hetflow.cli.bench`
only parses the arguments and calls them.

* :mod:`hetflow.bench.sim` compares the virtual board with a raw Verilator
  harness and the cocotb bench on the same RTL;
* :mod:`hetflow.bench.host` measures what a kernel call costs the host beyond
  its work;
* :mod:`hetflow.bench.link` measures the served board's serial link in SoC time;
* :mod:`hetflow.bench.schedule` compares the scheduling policies on random
  DAGs (:mod:`~hetflow.bench.randomdag`) and on a mixed workload run on
  cpu + sim (:mod:`~hetflow.bench.workload`);
* :mod:`hetflow.bench.build` builds each kernel for each board and compares
  resources, Fmax and throughput bounds;
* :mod:`hetflow.bench.prove` times the proof of each kernel's contract.

``hetflow schedule`` tries a policy on a cost graph given as JSON
(:mod:`hetflow.bench.graphfile`) and measures its plan against the bounds of
:mod:`hetflow.bench.bounds`, as the schedule benchmark does.
"""
