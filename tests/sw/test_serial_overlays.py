"""An overlay behind a serial link: the board's manifest says what it carries.

The far end is the virtual board of the demo's design (the build the sim
overlay tests share) behind the bridge model on a real pty.
"""

import zlib

import numpy as np
import pytest

import hetflow
from hetflow.backends.serial import KernelMismatch
from hetflow.demo import demo_overlay
from hetflow.hw.overlay import Overlay

from ..conftest import needs_verilator
from ..sim.test_serial import Rig
from .test_sim_overlays import A, B, H, X, fir, script


@pytest.fixture(scope="module")
def rig():
    from hetflow.sim.board.virtual import VirtualBoard
    board = VirtualBoard(demo_overlay(), status=print)
    rig = Rig(board)
    yield rig
    rig.close()
    board.close()


@needs_verilator
def test_the_board_tells_its_design_and_runs_it(rig):
    """The host script of the sim overlay tests, unchanged, over the link: the design
    comes from the board's manifest, the results are the cpu's, NumPy's and zlib's."""
    with hetflow.open("cpu", overlay=demo_overlay()) as dev:
        cpu = script(dev)
    with rig.open() as dev:
        assert dev.design.name == "pipeline"
        serial = script(dev)
        # The chain's intermediate data stays on the fabric: the link carries x, the taps,
        # the CRC and the requests (about 1.2 KB of frames beside x), less than the
        # filtered signal would add as separate calls (read back, then written again).
        link = dev.fir0_crc0.last_link
        assert X.nbytes < link.bytes < X.nbytes + 2 * fir(X, H).nbytes
    assert serial["kernels"] == cpu["kernels"] == ["fir0", "crc0", "gemm0"]
    assert serial["chains"] == cpu["chains"] == ["fir0_crc0"]
    for key in ("crc", "crc2", "c", "c2"):
        np.testing.assert_array_equal(serial[key], cpu[key])
    assert serial["crc"][0] == zlib.crc32(fir(X, H).tobytes())
    np.testing.assert_array_equal(serial["c"], A.astype(np.int32) @ B.astype(np.int32))


@needs_verilator
def test_opening_with_the_design_the_board_carries(rig):
    with rig.open(overlay=demo_overlay()) as dev:
        assert dev.gemm0(A, B).shape == (A.shape[0], B.shape[1])


@needs_verilator
def test_opening_with_another_design_names_what_the_board_carries(rig):
    other = Overlay("other")
    other.add("fir0", "fir", taps=8)
    with pytest.raises(KernelMismatch, match=(
            r"^serial:\S+ carries the design pipeline \(fir0, crc0, gemm0\), not the overlay "
            r"other \(fir0\); open it without overlay= to use what the board carries$")):
        rig.open(overlay=other)
