import pytest

import hetflow


@pytest.fixture(scope="module")
def devices():
    """The cpu device and the simulated board, open for a test module: ``(cpu, sim)``."""
    cpu, sim = hetflow.open("cpu"), hetflow.open("sim")
    yield cpu, sim
    cpu.close()
    sim.close()
