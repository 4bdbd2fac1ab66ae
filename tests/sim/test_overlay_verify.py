"""hetflow verify --overlay: an overlay's fabric in Verilator against the composed models."""

import subprocess
import sys

import pytest

from hetflow.hw.overlay import Overlay
from hetflow.sim.overlay_verify import chain_cases, verify_overlay

from .fixtures.faulty_kernels import WrongSaxpy

OVERLAY = """\
[instances]
s0 = { kernel = "saxpy" }
s1 = { kernel = "saxpy" }
crc0 = { kernel = "crc32", lanes = 2 }

[[stream]]
from = "s0.z"
to = "s1.x"
depth = 2
"""


def test_chain_cases_have_the_lengths_the_stream_gives():
    ov = Overlay()
    ov.add("f", "fir", taps=4)
    ov.add("s", "saxpy")
    ov.connect("f.y", "s.x")
    import numpy as np
    calls = chain_cases(ov, ov.chains["f_s"], np.random.default_rng(0), 4)
    for inputs, scalars in calls:
        assert len(inputs[("s", "y")]) == len(inputs[("f", "x")])
        assert set(scalars) == {"f", "s"} and "a" in scalars["s"]


def test_cli_passes_an_overlay(tmp_path):
    path = tmp_path / "pair.toml"
    path.write_text(OVERLAY)
    done = subprocess.run([sys.executable, "-m", "hetflow", "verify", "--overlay", str(path),
                           "--count", "4", "-q"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith(
        "PASS overlay pair: s0_s1 4/4, crc0 4/4 cases passed, seed 1, verilator, ")


def test_cli_refuses_kernels_with_overlay(tmp_path):
    path = tmp_path / "pair.toml"
    path.write_text(OVERLAY)
    done = subprocess.run([sys.executable, "-m", "hetflow", "verify", "saxpy", "--overlay",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "hetflow verify: error: --overlay verifies the instances its file lists; drop KERNEL")


@pytest.mark.slow
def test_a_wrong_instance_inside_a_chain_fails():
    ov = Overlay("broken")
    ov.add("s0", "saxpy")
    ov.add("bad", WrongSaxpy)
    ov.connect("s0.z", "bad.x", depth=2)
    r = verify_overlay(ov, count=6)
    assert not r.passed
    assert r.units["s0_bad"][0] < 6
    assert any(f.startswith("s0_bad: case ") and "bad.z[" in f for f in r.failures)
