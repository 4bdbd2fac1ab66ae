"""Random task graphs with the parameters of the HEFT paper's generator.

Topcuoglu, Hariri and Wu, "Performance-effective and low-complexity task
scheduling for heterogeneous computing", IEEE TPDS 13(3), 2002, section 5.1:

``n``
    number of tasks;
``alpha`` (shape)
    the graph has about ``sqrt(n) / alpha`` levels of mean width
    ``alpha * sqrt(n)``: small alpha is long and thin, large alpha short
    and wide;
``out_degree``
    edges leaving each task (to tasks of the next levels);
``ccr``
    communication to computation ratio: mean transfer cost / mean compute cost;
``beta``
    heterogeneity, the range of a task's costs across devices: a task of
    mean cost ``w`` costs ``U[w (1 - beta/2), w (1 + beta/2)]`` on each
    device (0 is homogeneous);
``w_dag``
    mean compute cost; each task's mean is ``U[0, 2 w_dag]``.

Transfer costs are ``U[0, 2 ccr w_dag]``.  Every task below the first level
gets at least one predecessor, so the levels are real.
"""

import math

import numpy as np

from ..sched.costgraph import CostGraph, DeviceSpec

__all__ = ["random_dag", "DEFAULT_DEVICES"]

#: Two CPUs and two FPGAs, so that cpu-only and fpga-only each get half the machine.
DEFAULT_DEVICES = (DeviceSpec("cpu0", "cpu"), DeviceSpec("cpu1", "cpu"),
                   DeviceSpec("fpga0", "fpga"), DeviceSpec("fpga1", "fpga"))


def random_dag(n, out_degree=2, ccr=1.0, beta=0.5, alpha=1.0, w_dag=1.0,
               devices=DEFAULT_DEVICES, seed=0):
    """A random :class:`CostGraph` (see the module for the parameters)."""
    if n < 1:
        raise ValueError(f"n = {n} is out of range; allowed 1 or more tasks")
    if not 0 <= beta <= 2:
        raise ValueError(f"beta = {beta} is out of range; allowed 0..2 (costs stay >= 0)")
    if out_degree < 1 or ccr < 0 or alpha <= 0 or w_dag <= 0:
        raise ValueError("out_degree >= 1, ccr >= 0, alpha > 0 and w_dag > 0 are required")
    rng = np.random.default_rng(seed)
    mean_width = alpha * math.sqrt(n)
    levels, left = [], n
    while left:
        width = int(min(left, max(1, rng.integers(1, max(2, round(2 * mean_width)), endpoint=False))))
        levels.append([f"t{n - left + i + 1}" for i in range(width)])
        left -= width
    names = [t for level in levels for t in level]
    tasks = {}
    for t in names:
        w = rng.uniform(0, 2 * w_dag)
        tasks[t] = {d.name if isinstance(d, DeviceSpec) else d:
                    float(rng.uniform(w * (1 - beta / 2), w * (1 + beta / 2))) for d in devices}
    edges = {}
    for i, level in enumerate(levels[:-1]):
        # Targets in the next two levels, most in the next one.
        below = levels[i + 1] + (levels[i + 2] if i + 2 < len(levels) else [])
        for t in level:
            k = min(out_degree, len(below))
            for s in rng.choice(below, size=k, replace=False):
                edges[(t, str(s))] = float(rng.uniform(0, 2 * ccr * w_dag))
    targets = {b for (_, b) in edges}
    for i, level in enumerate(levels[1:], 1):
        for t in level:
            if t not in targets:
                a = str(rng.choice(levels[i - 1]))
                edges[(a, t)] = float(rng.uniform(0, 2 * ccr * w_dag))
    return CostGraph(list(devices), tasks, [[a, b, c] for (a, b), c in edges.items()],
                     source=f"random dag n={n} seed={seed}")
