"""The host's view of a design: register windows, DMA channels and the manifest."""

import pytest

from hetflow.hw.errors import HetflowError
from hetflow.hw.overlay import parse_overlay
from hetflow.hw.overlay.manifest import decode_manifest
from hetflow.hw.registry import get_kernel
from hetflow.link.boardmap import INSTANCE_STRIDE, MANIFEST_BASE, BoardMap, KernelView

from ..conftest import PIPELINE_TOML


def pipeline():
    return parse_overlay(PIPELINE_TOML)


def test_a_single_kernel_keeps_its_window_and_channel_numbers():
    board = BoardMap(KernelView.of(get_kernel("saxpy"), {"lanes": 2}))
    assert board.overlay is None and board.manifest == []
    assert board.register_space == board.unit("saxpy").size
    assert [(c.index, c.port.name, c.output) for c in board.channels] == [
        (0, "x", False), (1, "y", False), (2, "z", True)]


def test_instances_get_windows_in_order_and_only_unchained_ports_get_channels():
    board = BoardMap(pipeline())
    assert [u.base for u in board.units.values()] == [0, INSTANCE_STRIDE, 2 * INSTANCE_STRIDE]
    assert [(c.index, c.unit, c.port.name, c.output) for c in board.channels] == [
        (0, "fir0", "x", False), (1, "crc0", "crc", True),
        (2, "gemm0", "a", False), (3, "gemm0", "b", False), (4, "gemm0", "c", True)]
    gemm = board.unit("gemm0")
    assert gemm.offset("ctrl") == 2 * INSTANCE_STRIDE + gemm.kernel.map["ctrl"].offset


def test_the_manifest_follows_the_windows_and_decodes_to_the_design():
    board = BoardMap(pipeline())
    assert board.register_space == MANIFEST_BASE + 4 * len(board.manifest)
    content = decode_manifest(board.manifest)
    assert [i["name"] for i in content["instances"]] == ["fir0", "crc0", "gemm0"]
    assert content["instances"][1]["params"] == {"lanes": 4}
    assert content["streams"] == [{"from": "fir0.y", "to": "crc0.data", "depth": 32,
                                   "reinterpret": True}]


def test_an_unknown_instance_is_one_line_listing_the_instances():
    with pytest.raises(HetflowError, match=r"^pipeline has no instance 'fir1'; it has "
                                           r"fir0, crc0, gemm0$"):
        BoardMap(pipeline()).unit("fir1")
