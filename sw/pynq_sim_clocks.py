"""The PS7 clock registers of the simulated Zynq: what ``pynq.Clocks`` reads and writes.

``pynq.Overlay(...).download()`` sets every PL clock (``FCLK_CLK0..3``) from
the hardware handoff through ``pynq.Clocks``, which programs the dividers in
the Zynq's System Level Control Registers (SLCR, UG585 appendix B.28) at
:data:`SLCR_BASE`.  :class:`Slcr` keeps those words: the PLL and clock
control registers start at values a PYNQ board's PS runs at, read the way
``pynq.Clocks`` reads them (a 50 MHz reference: IO PLL 1600 MHz as in
Vivado's PYNQ presets, ARM PLL 1300 MHz for a 650 MHz CPU, DDR PLL 1050 MHz,
FCLK_CLK0 = 1600 / (4 x 4) = 100 MHz), so ``pynq.Clocks.fclk0_mhz`` reads back what the
overlay asked for.  The clocks change nothing in the simulation, which
counts kernel cycles, not time; every other SLCR word reads 0 and keeps
what is written.
"""

__all__ = ["Slcr", "SLCR_BASE", "SLCR_SIZE"]

SLCR_BASE = 0xF800_0000
#: The window ``pynq.Clocks`` maps (the PLL and clock control registers lie below it).
SLCR_SIZE = 0x200


def _pll(fdiv):
    return fdiv << 12                       # PLL_FDIV, bits 12..18


def _clock(srcsel, div0, div1=None):
    value = srcsel << 4 | div0 << 8         # SRCSEL bits 4..5, DIVISOR0 bits 8..13
    return value if div1 is None else value | div1 << 20    # DIVISOR1 bits 20..25


#: Reset words (byte offset -> value): PLLs x 50 MHz, clocks from the IO PLL (SRCSEL 0).
RESET_WORDS = {
    0x100: _pll(26),                        # ARM_PLL_CTRL: 1300 MHz
    0x104: _pll(21),                        # DDR_PLL_CTRL: 1050 MHz
    0x108: _pll(32),                        # IO_PLL_CTRL: 1600 MHz
    0x120: _clock(0, 2),                    # ARM_CLK_CTRL: ARM PLL / 2 = 650 MHz
    0x170: _clock(0, 4, 4),                 # FPGA0_CLK_CTRL: 100 MHz
    0x180: _clock(0, 4, 4),                 # FPGA1_CLK_CTRL
    0x190: _clock(0, 4, 4),                 # FPGA2_CLK_CTRL
    0x1A0: _clock(0, 4, 4),                 # FPGA3_CLK_CTRL
}


class Slcr:
    """The SLCR words in ``[SLCR_BASE, SLCR_BASE + SLCR_SIZE)``, by byte offset."""

    def __init__(self):
        self.words = dict(RESET_WORDS)

    @staticmethod
    def contains(address, length):
        return SLCR_BASE <= address and address + length <= SLCR_BASE + SLCR_SIZE

    def read(self, offset):
        return self.words.get(offset, 0)

    def write(self, offset, value):
        self.words[offset] = value & 0xFFFF_FFFF
