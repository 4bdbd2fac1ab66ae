"""Every built-in kernel keeps the shell's contract: at its defaults and in a second structure.

The configurations are ``hetflow bench prove``'s (:data:`hetflow.bench.prove.STRUCTURAL`),
so the benchmark times what CI proves.
"""

import pytest

from hetflow.bench.prove import configurations
from hetflow.hw import kernel_names


# saxpy at its defaults is proven, and its proof read closely, in test_kernel.py.
@pytest.mark.parametrize("kernel,params", [
    config for config in configurations(kernel_names()) if config != ("saxpy", {})],
    ids=lambda value: value if isinstance(value, str) else
    "-".join(f"{k}{v}" for k, v in value.items()) or "default")
def test_builtin_kernel_keeps_the_contract(hetflow_prove, kernel, params):
    proof = hetflow_prove(kernel, params)
    assert proof.method.startswith("bounded, depth ")
    assert all(c.step is not None for c in proof.cover.covers)
