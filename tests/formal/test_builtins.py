"""Every built-in kernel keeps the shell's contract: at its defaults and in a second structure.

The configurations are ``hetflow bench prove``'s (:data:`hetflow.bench.prove.STRUCTURAL`),
so the benchmark times what these tests prove.  CI proves the defaults of the kernels
whose proof takes seconds; fir's and gemm's (16-20 s each on two busy cores) and the second
structures run with ``-m slow`` and in the benchmark.
"""

import pytest

from hetflow.bench.prove import configurations
from hetflow.hw import kernel_names


# saxpy at its defaults is proven, and its proof read closely, in test_kernel.py.
LONG_DEFAULT_PROOFS = ("fir", "gemm")


@pytest.mark.parametrize("kernel,params", [
    pytest.param(kernel, params,
                 marks=[pytest.mark.slow] if params or kernel in LONG_DEFAULT_PROOFS else [])
    for kernel, params in configurations(kernel_names()) if (kernel, params) != ("saxpy", {})],
    ids=lambda value: value if isinstance(value, str) else
    "-".join(f"{k}{v}" for k, v in value.items()) or "default")
def test_builtin_kernel_keeps_the_contract(hetflow_prove, kernel, params):
    proof = hetflow_prove(kernel, params)
    assert proof.method.startswith("bounded, depth ")
    assert all(c.step is not None for c in proof.cover.covers)
