"""The AXI DMA register model of the simulated Zynq (PG021 direct register mode).

The model imports nothing of ``pynq``, so these run in either environment:
the register behaviour on its own (no board touched on those paths), then
transfers driving a real virtual board (crc32 in Verilator) against
``zlib.crc32``.
"""

import zlib

import numpy as np
import pytest

from hetflow.hw.registry import get_kernel
from hetflow.hw.shell import Shell
from hetflow.pynq_sim_dma import (ADDR, DEC_ERR, DMACR, DMASR, HALTED, IDLE, INT_ERR, IOC_IRQ,
                                  LENGTH, RESET, RS, S2MM, AxiDma, DmaChannel)

DDR = 0x1000_0000
MEMORY = 1 << 20


def engine(mm2s=0, s2mm=1, stride=4):
    return AxiDma("axi_dma_0", 0x4040_0000,
                  DmaChannel(mm2s, stride, False), DmaChannel(s2mm, stride, True), DDR, MEMORY)


# ---- registers alone ---------------------------------------------------------------------

def test_reset_state_is_halted_and_rs_runs():
    dma = engine()
    for base in (0, S2MM):
        assert dma.read(base + DMACR) == 0
        assert dma.read(base + DMASR) == HALTED
        dma.write(base + DMACR, RS, None)
        assert dma.read(base + DMACR) == RS
        assert dma.read(base + DMASR) == 0          # running, not halted, nothing done yet
        dma.write(base + DMACR, 0, None)
        assert dma.read(base + DMASR) == HALTED


def test_length_zero_and_bad_address_halt_with_the_named_error():
    dma = engine()
    dma.write(DMACR, RS, None)
    dma.write(LENGTH, 0, None)
    assert dma.read(DMASR) == HALTED | INT_ERR and dma.read(DMACR) == 0
    dma.write(DMACR, RESET, None)
    assert dma.read(DMASR) == HALTED                # the soft reset clears the errors
    dma.write(S2MM + DMACR, RS, None)
    dma.write(S2MM + ADDR, DDR - 4, None)           # below DDR
    dma.write(S2MM + LENGTH, 64, None)
    assert dma.read(S2MM + DMASR) == HALTED | DEC_ERR
    dma.write(S2MM + DMACR, RS, None)
    dma.write(S2MM + ADDR, DDR + MEMORY - 32, None)  # runs past the end of DDR
    dma.write(S2MM + LENGTH, 64, None)
    assert dma.read(S2MM + DMASR) & DEC_ERR


def test_length_while_halted_does_nothing_and_is_26_bits():
    dma = engine()
    dma.write(S2MM + LENGTH, 64, None)              # halted: ignored
    assert dma.read(S2MM + LENGTH) == 0 and dma.read(S2MM + DMASR) == HALTED
    dma.write(S2MM + DMACR, RS, None)
    dma.write(S2MM + ADDR, DDR, None)
    dma.write(S2MM + LENGTH, 0xFC00_0040, None)     # only the low 26 bits count
    assert dma.read(S2MM + LENGTH) == 0x40


def test_ioc_is_write_one_to_clear_and_absent_channels_read_zero():
    dma = AxiDma("axi_dma_0", 0, DmaChannel(None, 1, False), DmaChannel(3, 4, True), DDR, MEMORY)
    chan = dma.s2mm
    chan.status = IDLE | IOC_IRQ
    dma.write(S2MM + DMASR, IDLE, None)             # not a W1C bit: unchanged
    assert dma.read(S2MM + DMASR) == IDLE | IOC_IRQ
    dma.write(S2MM + DMASR, IOC_IRQ, None)
    assert dma.read(S2MM + DMASR) == IDLE
    dma.write(DMACR, RS, None)                      # no MM2S channel: ignored, reads 0
    assert dma.read(DMACR) == 0 and dma.read(DMASR) == 0


def test_busy_status_read_calls_advance_only_while_active():
    dma = engine()
    calls = []
    dma.read(DMASR, lambda: calls.append(1))
    assert calls == []                              # idle channel: no simulation
    dma.s2mm.active = True
    dma.read(S2MM + DMASR, lambda: calls.append(1))
    assert calls == [1]


# ---- transfers on a real virtual board ---------------------------------------------------

@pytest.fixture(scope="module")
def crc_board():
    from hetflow.sim.board.virtual import VirtualBoard
    board = VirtualBoard(Shell(get_kernel("crc32")), memory_size=MEMORY)
    yield board
    board.close()


def test_transfer_through_the_board_equals_zlib(crc_board):
    board = crc_board
    shell = board.kernel
    data_ch, crc_ch = (next(c for c in board.channels if c.port.name == n) for n in ("data", "crc"))
    dma = AxiDma("axi_dma_0", 0, DmaChannel(data_ch.index, data_ch.stride, False),
                 DmaChannel(crc_ch.index, crc_ch.stride, True), DDR, MEMORY)
    payload = np.random.default_rng(3).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    board.mem_write(0, payload)
    for base, address, length in ((S2MM, 0x8000, crc_ch.stride), (0, 0, len(payload))):
        dma.write(base + DMACR, RS, board)
        dma.write(base + ADDR, DDR + address, board)
        dma.write(base + LENGTH, length, board)
    assert dma.mm2s.armed and not dma.s2mm.armed    # MM2S goes at once, S2MM at the wait
    dma.s2mm.arm(board, 1)
    board.reg_write(shell.map["len"].offset, len(payload))
    board.reg_write(shell.map["ctrl"].offset, 1)
    done, _ = board.run(200_000)
    assert done
    for chan in dma.channels:
        chan.complete()
    assert dma.read(DMASR) == IDLE | IOC_IRQ and dma.read(S2MM + DMASR) == IDLE | IOC_IRQ
    assert int.from_bytes(board.mem_read(0x8000, 4), "little") == zlib.crc32(payload)


def test_stopping_a_channel_abandons_its_transfer(crc_board):
    board = crc_board
    data_ch = next(c for c in board.channels if c.port.name == "data")
    dma = AxiDma("axi_dma_0", 0, DmaChannel(data_ch.index, data_ch.stride, False),
                 DmaChannel(None, 1, True), DDR, MEMORY)
    dma.write(DMACR, RS, board)
    dma.write(ADDR, DDR, board)
    dma.write(LENGTH, 64, board)
    assert dma.mm2s.active
    dma.write(DMACR, 0, board)                      # RS = 0: the board channel stops
    assert not dma.mm2s.active and dma.read(DMASR) == HALTED
