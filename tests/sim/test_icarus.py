"""Every kernel on the second simulator, where it is installed."""

import pytest

from hetflow.hw import kernel_names
from hetflow.sim.verify import verify

from ..conftest import have_icarus

pytestmark = pytest.mark.skipif(not have_icarus(),
                                reason="Icarus Verilog (iverilog, vvp) is not installed")


@pytest.mark.parametrize("name", ["saxpy", "dot", "fir", "gemm", "conv2d", "crc32"])
def test_kernel_on_icarus(name):
    assert name in kernel_names()
    result = verify(name, sim="icarus", count=5, seed=7)
    print(result.summary())
    assert result.passed, result.summary()
