"""An overlay behind a serial link: the board's manifest says what it carries.

The far end is the virtual board of the demo's design (the build the sim
overlay tests share) behind the bridge model on a real pty.
"""

import zlib

import numpy as np
import pytest

from hetflow.backends.serial import KernelMismatch
from hetflow.demo import demo_overlay
from hetflow.hw.overlay import Overlay

from ..conftest import needs_verilator
from ..sim.test_serial import Rig

RNG = np.random.default_rng(7)
X = RNG.integers(-2**15, 2**15, 300, dtype=np.int16)
H = RNG.integers(-2**15, 2**15, 16, dtype=np.int16)
A = RNG.integers(-128, 128, (5, 9), dtype=np.int8)
B = RNG.integers(-128, 128, (9, 4), dtype=np.int8)


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
    with rig.open() as dev:
        assert list(dev.kernels) == ["fir0", "crc0", "gemm0"]
        assert list(dev.chains) == ["fir0_crc0"]
        assert dev.design.name == "pipeline"
        fir = (np.convolve(X.astype(np.int64), H.astype(np.int64))[:len(X)]
               & 0xFFFFFFFF).astype("<u4")
        assert dev.fir0_crc0(X, h=H)[0] == zlib.crc32(fir.tobytes())
        # The chain's intermediate data stays on the fabric: the link carries x, the taps,
        # the CRC and the requests (32 of them, about 1.2 KB of frames), less than the
        # filtered signal would add as separate calls (read back, then written again).
        link = dev.fir0_crc0.last_link
        assert X.nbytes < link.bytes < X.nbytes + 2 * fir.nbytes
        np.testing.assert_array_equal(dev.gemm0(A, B), A.astype(np.int32) @ B.astype(np.int32))
        # Both at once: one burst on the line, both instances running on the board.
        runs = [dev.gemm0.start(A, B), dev.fir0_crc0.start(x=X, fir0={"h": H})]
        c, crc = (run.wait(timeout=60) for run in runs)
        assert crc[0] == zlib.crc32(fir.tobytes())
        np.testing.assert_array_equal(c, A.astype(np.int32) @ B.astype(np.int32))


@needs_verilator
def test_opening_with_the_design_the_board_carries(rig):
    with rig.open(overlay=demo_overlay()) as dev:
        assert dev.gemm0(A, B).shape == (5, 4)


@needs_verilator
def test_opening_with_another_design_names_what_the_board_carries(rig):
    other = Overlay("other")
    other.add("fir0", "fir", taps=8)
    with pytest.raises(KernelMismatch, match=(
            r"^serial:\S+ carries the design pipeline \(fir0, crc0, gemm0\), not the overlay "
            r"other \(fir0\); open it without overlay= to use what the board carries$")):
        rig.open(overlay=other)
