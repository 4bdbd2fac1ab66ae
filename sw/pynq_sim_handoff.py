"""``pynq.Overlay("design.bit")`` on the simulated Zynq: reading the handoff, binding drivers.

PYNQ's ``Overlay`` asks the device for the design's metadata
(``get_bitfile_metadata``), binds a driver to every IP from its VLNV, and
then asks the device to ``download`` the bitstream.  On a board
(``pynq.pl_server.embedded_device``) the metadata is the hardware handoff
``design.hwh`` beside the bitstream, read by PYNQ's own parser
(``pynqmetadata``'s ``Metadata`` into a ``RuntimeMetadataParser``): the same
parser is used here, unchanged.  What the board adds and this does not: the
XRT memory-topology merge, which needs XRT's ``xclbinutil`` (its memory
banks mean nothing to a Zynq design without PL memory), and a partial
bitstream (refused).

:func:`read_handoff` gives PYNQ's parser of a bitstream's ``.hwh``, and
registers :class:`HetflowIP` as the driver of every hetflow kernel IP in it
(a subclass with ``bindto`` = its VLNV, PYNQ's own registration), so the
overlay's ``hetflow_<kernel>_0`` attribute is a :class:`HetflowIP`, as with
:func:`hetflow.pynq_sim.overlay`.  :func:`handoff_design` turns the parsed
handoff into the :class:`~hetflow.pynq_sim_design.SimDesign` the device
loads.
"""

from pathlib import Path

import pynq
from pynqmetadata.frontends import Metadata
from pynqmetadata.views.runtime import RuntimeMetadataParser

from .hw.errors import HetflowError
from .hw.regmap import STATUS_DONE
from .boards.zynq.handoff import stream_wiring
from .pynq_sim_design import SimDesign

__all__ = ["HetflowIP", "read_handoff", "handoff_design", "kernel_driver"]

_KERNEL_VENDOR = "hetflow:hetflow:"


class HetflowIP(pynq.DefaultIP):
    """PYNQ driver of a hetflow kernel: ``DefaultIP`` plus the shell's start/status.

    ``register_map`` comes from the description's ``registers`` (see
    :func:`~hetflow.pynq_sim_design.pynq_registers`); ``read``/``write`` are
    ``DefaultIP``'s.
    """

    def start(self):
        """Start a job (``ctrl`` bit 0)."""
        self.write(0x00, 1)

    @property
    def done(self):
        """The ``status`` register's done bit."""
        return bool(self.read(0x04) & STATUS_DONE)

    @property
    def kernel_id(self):
        """The ``id`` register (CRC-32 of the kernel name)."""
        return self.read(0x14)


_DRIVERS = {}


def kernel_driver(vlnv):
    """The :class:`HetflowIP` subclass PYNQ binds to IPs of type ``vlnv`` (made once)."""
    if vlnv not in _DRIVERS:
        name = "".join(part.capitalize() for part in vlnv.split(":")[2].split("_")) + "IP"
        _DRIVERS[vlnv] = type(name, (HetflowIP,), {"bindto": [vlnv],
                                                   "__module__": __name__})
    return _DRIVERS[vlnv]


def _handoff_path(bitfile_name):
    return Path(bitfile_name).with_suffix(".hwh")


def read_handoff(bitfile_name):
    """PYNQ's parser (``RuntimeMetadataParser``) of the ``.hwh`` beside ``bitfile_name``.

    Raises
    ------
    HetflowError
        No ``.hwh`` beside the bitstream, or one PYNQ's parser cannot read.
    """
    hwh = _handoff_path(bitfile_name)
    if not hwh.is_file():
        raise HetflowError(f"pynq.Overlay('{bitfile_name}') needs the hardware handoff {hwh} "
                           f"beside it; hetflow export KERNEL --format pynq-ip writes one "
                           f"(Vivado's build replaces it with its own)")
    try:
        parser = RuntimeMetadataParser(Metadata(input=str(hwh)))
        parser.refresh_hierarchy_dict()
    except Exception as exc:            # whatever PYNQ's parser raises on a bad file
        raise HetflowError(f"{hwh}: PYNQ's hwh parser cannot read it: "
                           f"{type(exc).__name__}: {exc}") from None
    _zynq7_clock_frequencies(parser)
    for desc in parser.ip_dict.values():
        vlnv = desc.get("type") or ""
        if vlnv.startswith(_KERNEL_VENDOR):
            kernel_driver(vlnv)
    return parser


def _zynq7_clock_frequencies(parser):
    """Fill in the FCLK frequencies PYNQ's parser leaves out for a Zynq-7000.

    pynq 4.0's ``clock_dict`` takes each PL clock's achieved rate from the
    parameter ``PSU__CRL_APB__PL<i>_REF_CTRL__ACT_FREQMHZ``, which only a Zynq
    UltraScale+ PS has; for a Zynq-7000 PS7 it finds none and gives
    ``frequency: None``, and ``Overlay.download`` then fails in
    ``Clocks.set_pl_clk(i, clk_mhz=None)`` (a TypeError) for every enabled
    clock -- with Vivado's own .hwh, and on a board too.  The PS7 records the
    same rate as ``PCW_ACT_FPGA<i>_PERIPHERAL_FREQMHZ``; it is taken from there.
    """
    ps = parser.ip_dict.get(getattr(parser, "ps_name", None)) or {}
    params = ps.get("parameters") or {}
    for i, clock in parser.clock_dict.items():
        actual = params.get(f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ")
        if clock.get("frequency") is None and actual is not None:
            clock["frequency"] = float(actual)


def handoff_design(bitfile_name, parser):
    """The :class:`~hetflow.pynq_sim_design.SimDesign` of a parsed handoff."""
    hwh = _handoff_path(bitfile_name)
    return SimDesign.from_handoff(hwh.name, parser.ip_dict, stream_wiring(hwh.read_text()))
