"""The SoC's clock and reset: the board oscillator, or a PLL for another frequency.

:func:`ice40_pll` and :func:`ecp5_pll` choose PLL dividers the way
IceStorm's ``icepll`` and Trellis' ``ecppll`` do (a test compares them with
those tools, which the YoWASP packages ship as ``yowasp-icepll`` /
``yowasp-ecppll``).  :class:`PLLClockReset` instantiates the PLL and holds the
``sync`` domain in reset until the PLL has locked and a power-on delay has
passed (iCE40 RAMs read as zeros for a few microseconds after configuration).
"""

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.lib import io

from ..hw.errors import ParamError

__all__ = ["PLLSetting", "ice40_pll", "ecp5_pll", "PLLClockReset", "POR_SECONDS",
           "soc_clock_mhz"]

#: Power-on delay after PLL lock before ``sync`` leaves reset.
POR_SECONDS = 15e-6


@dataclass(frozen=True)
class PLLSetting:
    """Chosen PLL configuration: ``params`` for the primitive, achieved ``fout_mhz``."""

    family: str
    fin_mhz: float
    fout_mhz: float
    vco_mhz: float
    params: dict


def soc_clock_mhz(board, pll):
    """MHz the SoC runs at: the PLL's output, or the board oscillator without one."""
    return pll.fout_mhz if pll is not None else board.clock_mhz


def ice40_pll(fin_mhz, fout_mhz):
    """SB_PLL40 (SIMPLE feedback) dividers for ``fout_mhz`` from ``fin_mhz``.

    ``fout = fin * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)`` with the phase
    detector at 10..133 MHz and the VCO at 533..1066 MHz; the first setting
    with the smallest error wins, as in ``icepll``.
    """
    if not 16 <= fout_mhz <= 275:
        raise ParamError(f"iCE40 PLL output {fout_mhz:g} MHz is out of range; allowed 16..275 MHz")
    best = None
    for divr in range(16):
        fpfd = fin_mhz / (divr + 1)
        if not 10 <= fpfd <= 133:
            continue
        for divf in range(128):
            fvco = fpfd * (divf + 1)
            if not 533 <= fvco <= 1066:
                continue
            for divq in range(1, 7):
                fout = fvco / (1 << divq)
                err = abs(fout - fout_mhz)
                if best is None or err < best[0]:
                    best = (err, divr, divf, divq, fout, fvco, fpfd)
    if best is None:
        raise ParamError(f"no iCE40 PLL setting makes {fout_mhz:g} MHz from {fin_mhz:g} MHz")
    _, divr, divf, divq, fout, fvco, fpfd = best
    filter_range = next(i for i, top in enumerate((17, 26, 44, 66, 101), 1) if fpfd < top) \
        if fpfd < 101 else 6
    return PLLSetting("ice40", fin_mhz, fout, fvco,
                      {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filter_range})


def ecp5_pll(fin_mhz, fout_mhz):
    """EHXPLLL dividers (CLKOP feedback) for ``fout_mhz`` from ``fin_mhz``.

    ``fout = fin * CLKFB_DIV / CLKI_DIV`` with the VCO (``fout * CLKOP_DIV``) at
    400..800 MHz and the phase detector at 3.125..400 MHz; smallest error
    first, then the VCO nearest 600 MHz, as in ``ecppll``.
    """
    if not 3.125 <= fout_mhz <= 400:
        raise ParamError(f"ECP5 PLL output {fout_mhz:g} MHz is out of range; "
                         f"allowed 3.125..400 MHz")
    best = None
    for clki in range(1, 129):
        fpfd = fin_mhz / clki
        if not 3.125 <= fpfd <= 400:
            continue
        for clkfb in range(1, 81):
            fout = fpfd * clkfb
            for clkop in range(1, 129):
                fvco = fout * clkop
                if not 400 <= fvco <= 800:
                    continue
                key = (abs(fout - fout_mhz), abs(fvco - 600))
                if best is None or key < best[0]:
                    best = (key, clki, clkfb, clkop, fout, fvco)
    if best is None:
        raise ParamError(f"no ECP5 PLL setting makes {fout_mhz:g} MHz from {fin_mhz:g} MHz")
    _, clki, clkfb, clkop, fout, fvco = best
    return PLLSetting("ecp5", fin_mhz, fout, fvco,
                      {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop,
                       # 0 degrees, as LiteX's ECP5PLL sets it (ecppll's CPHASE differs;
                       # with CLKOP feedback it changes only the output phase).
                       "CLKOP_CPHASE": clkop - 1, "CLKOP_FPHASE": 0})


class PLLClockReset(Elaboratable):
    """Drives the ``sync`` domain (defined by the parent) from the board clock through a PLL.

    Parameters
    ----------
    setting : PLLSetting
    clock : str
        Name of the board's clock resource (the platform's ``default_clk``).
    """

    def __init__(self, setting, clock):
        self.setting = setting
        self.clock = clock

    def elaborate(self, platform):
        m = Module()
        s = self.setting
        pll_out = Signal(name="pll_out")
        locked = Signal()
        pin = platform.request(self.clock, dir="-")
        if s.family == "ice40":
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                **{f"p_{k}": v for k, v in s.params.items()},
                i_PACKAGEPIN=pin.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=pll_out, o_LOCK=locked)
        elif s.family == "ecp5":
            m.submodules.clk_buf = buf = io.Buffer("i", pin)
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{s.fin_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{s.fout_mhz:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                p_FEEDBK_PATH="CLKOP",
                **{f"p_{k}": v for k, v in s.params.items()},
                i_RST=0, i_STDBY=0, i_CLKI=buf.i, i_CLKFB=pll_out, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_CLKOP=pll_out, o_LOCK=locked)
        else:
            raise ParamError(f"no PLL support for the {s.family} family")
        platform.add_clock_constraint(pll_out, s.fout_mhz * 1e6)

        # The ``sync`` domain itself is defined by the parent (BoardTop), above
        # every user of it, as Amaranth 0.6 will require; this drives it.
        m.d.comb += ClockSignal("sync").eq(pll_out)
        # Reset release is synchronous to the PLL clock: a timer in a reset-less
        # domain on the same clock, restarted whenever the PLL loses lock.
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        m.d.comb += ClockSignal("por").eq(pll_out)
        delay = max(2, int(POR_SECONDS * s.fout_mhz * 1e6))
        timer = Signal(range(delay + 1))
        ready = Signal()
        with m.If(~locked):
            m.d.por += [timer.eq(0), ready.eq(0)]
        with m.Elif(timer == delay):
            m.d.por += ready.eq(1)
        with m.Else():
            m.d.por += timer.eq(timer + 1)
        m.d.comb += ResetSignal("sync").eq(~ready)
        return m
