"""The serial device: a board's kernel behind the SoC's UART-to-bus bridge.

``hetflow.open("serial:/dev/ttyUSB1")`` opens the port with pyserial and
speaks the board protocol (:mod:`hetflow.link.protocol`) in serial
frames (:mod:`hetflow.link.framing`) to the bridge in the gateware
(modelled by :mod:`hetflow.sim.board.bridge`).  Jobs run through the same
steps as on the virtual board (:class:`~hetflow.link.client.BoardClient`).

Which design is on the board
    A board built from an overlay carries its manifest
    (:mod:`hetflow.hw.overlay.manifest`): ``PING``'s register window reaches
    past :data:`~hetflow.link.boardmap.MANIFEST_BASE`.  On open the
    device then reads the manifest, rebuilds the overlay from it and runs it
    as the sim device does (:mod:`hetflow.backends.sim_overlay`):
    ``dev.kernels`` lists the instances, ``dev.fir0(...)`` calls one,
    ``dev.fir0_crc0(...)`` a chain, with no ``params=`` to give.  Opening with
    ``overlay=`` checks that the board carries that design.

    A board built from a single kernel carries that kernel.  On open the device
    sends ``PING`` (protocol version, DMA channels, memory and register
    window sizes) and reads the kernel's ``id`` register (0x14, the CRC-32
    of the kernel name), and looks the id up among the registered kernels.
    Elaboration parameters cannot be read back: parameters that change the
    port widths or the register map (saxpy's ``lanes``, gemm's ``rows`` and
    ``cols`` ...) must be given as the bitstream was built::

        dev = hetflow.open("serial:/dev/ttyUSB1", params={"lanes": 4})

    The channel count and register window from ``PING`` are checked against
    them, which catches some mistakes but not all (saxpy with 1 or 4 lanes
    has the same channels and window).  ``kernel="name"`` names the kernel
    instead of discovering it (it must still match the id register).
    ``dev.kernel(name)`` then returns the board's kernel; asking for another
    kernel or other parameters is an error naming what the board has.

Retries and pipelining
    Every request is sent with a sequence number.  A single request whose
    response has a bad CRC, or does not come within the timeout, is sent
    again as the *same* frame (the bridge answers a repeat from its cache
    without executing the request twice), up to ``retries`` times; then
    :class:`BoardError` names the port, the request and what went wrong.
    Bursts (a job's requests, a large memory transfer) keep several requests
    in flight, within ``window`` bytes of unanswered request frames (the
    bridge's receive buffer), and resend a whole burst, or a memory transfer's
    lost chunk, with fresh sequence numbers
    (:mod:`hetflow.backends.serial_pipeline`).  Memory transfers are split
    into requests of at most ``chunk`` bytes, so a corrupted frame costs one
    chunk, not the whole buffer; ``RUN`` is sent in slices of
    :attr:`~hetflow.backends.serial_board.SerialBoard.run_slice` cycles, so a lost answer is noticed in about
    a second, not after the job's whole time budget.

    A wait that times out abandons its call: the call's next request fails
    and the next call starts with a reset.  A request the board is already
    executing (a ``RUN`` slice) still finishes first.
"""

from ..device import Device
from .sim_overlay import OverlayRunner, RunsOverlays
from ..hw.errors import HetflowError
from ..hw.registry import get_kernel, kernel_names
from ..hw.regmap import kernel_id
from ..link import protocol as P
from ..link.boardmap import MANIFEST_BASE, BoardMap, KernelView, channels, design_of
from ..link.client import BoardError
from ..link.framing import BRIDGE_CHUNK, DEFAULT_BAUD
from .serial_board import PortMeter, SerialBoard
from .serial_link import BRIDGE_WINDOW, DEFAULT_TIMEOUT, SerialLink

__all__ = ["SerialDevice", "SerialBoard", "SerialLink", "KernelMismatch", "DEFAULT_BAUDRATE",
           "BRIDGE_WINDOW"]

DEFAULT_BAUDRATE = DEFAULT_BAUD
#: A board's bridge buffers a whole request before checking its CRC; it takes at most
#: this many data bytes per MEM_WRITE (see hetflow.boards.bridge).
DEFAULT_CHUNK = BRIDGE_CHUNK
_ID_REGISTER = 0x14


class KernelMismatch(HetflowError, ValueError):
    """The kernel asked for is not the one the board carries."""


def _params_text(p):
    return ", ".join(f"{k}={v}" for k, v in p.items())


class SerialDevice(RunsOverlays, Device):
    """A board on a serial port; see the module doc.

    Parameters
    ----------
    port : str
        Device path or pyserial URL.
    baudrate : int, optional
        Line speed of the bridge (8N1).  Default: the build's (``board``), else
        :data:`DEFAULT_BAUDRATE`.
    board : path, optional
        The build directory of the bitstream on the board (``hetflow build
        --out``): its ``report.json`` gives the baud rate, the kernel and its
        parameters, so none of them has to be matched by hand.  An explicit
        ``baudrate``, ``kernel`` or ``params`` still wins.
    timeout : float
        Seconds per attempt of a small request.
    retries : int
        Extra attempts after a timeout or a corrupted response.
    kernel : str, optional
        The kernel on the board; by default found from its ``id`` register.
    params : dict, optional
        Its elaboration parameters, as the bitstream was built (default: the
        kernel's defaults).
    chunk : int
        Largest memory transfer per request, in bytes.
    window : int
        Bytes of unanswered request frames a burst keeps on the line: the
        bridge's receive buffer (default :data:`BRIDGE_WINDOW`; 0 sends one
        request at a time).
    max_cycles : int, optional
        Cycle budget of one job (see :meth:`BoardClient.run_job`).
    """


    def __init__(self, port, baudrate=None, timeout=DEFAULT_TIMEOUT, retries=3,
                 kernel=None, params=None, chunk=DEFAULT_CHUNK, max_cycles=None, board=None,
                 window=BRIDGE_WINDOW):
        self.port = port
        self.name = f"serial:{port}"
        self.max_cycles = max_cycles
        if board is not None:
            from ..boardtime import read_build
            report = read_build(board)
            if baudrate is None:
                baudrate = (report.get("bridge") or {}).get("baud")
                if not isinstance(baudrate, int):
                    raise HetflowError(f"{self.name}: {board}/report.json names no bridge "
                                       f"baud rate (bridge.baud); pass baudrate=")
            # An overlay's build names no kernel: its board tells the design by its manifest.
            if kernel is None and params is None and report.get("kernel") is not None:
                kernel, params = report["kernel"], dict(report["params"])
        baudrate = DEFAULT_BAUDRATE if baudrate is None else baudrate
        if params is not None and not isinstance(params, dict):
            raise HetflowError(f"params must be a dict of elaboration parameters, "
                               f"not {params!r}")
        self.link = SerialLink(port, baudrate, timeout, retries, chunk, window)
        try:
            self.link.settle()
            info = self.link.call(P.PING)
            if info.magic != P.MAGIC or info.version != P.VERSION:
                raise BoardError(f"{self.name}: the far end answered PING with magic "
                                 f"{info.magic!r} version {info.version}; expected a hetflow "
                                 f"bridge ({P.MAGIC!r} version {P.VERSION})")
            if info.register_size > MANIFEST_BASE:
                self.board = self._design_board(info)
            else:
                found = self.link.call(P.REG_READ, _ID_REGISTER)[0]
                kernel_obj = self._identify(found, kernel, params or {})
                want = len(channels(kernel_obj))
                if info.channels != want or info.register_size != kernel_obj.map.size:
                    raise KernelMismatch(
                        f"{self.name}: the board's {kernel_obj.name} has {info.channels} DMA "
                        f"channel(s) and a 0x{info.register_size:x}-byte register window, but "
                        f"{kernel_obj.name}({_params_text(kernel_obj.p)}) has {want} and "
                        f"0x{kernel_obj.map.size:x}; pass params= as the bitstream was built")
                self.board = SerialBoard(self.link, kernel_obj, info)
        except BaseException:
            self.link.close()
            raise
        super().__init__()
        if self.board.kernel is None:           # the board's own design, as its manifest says
            from ..overlays import attach
            attach(self, self.board.boardmap.overlay)

    def _design_board(self, info):
        """The board of a design that carries its manifest: read it, rebuild the overlay."""
        overlay = design_of(SerialBoard(self.link, None, info).read_manifest())
        boardmap = BoardMap(overlay)
        if info.channels != len(boardmap.channels) \
                or info.register_size != boardmap.register_space:
            raise KernelMismatch(f"{self.name}: the board's manifest describes {overlay.name} "
                                 f"with {len(boardmap.channels)} DMA channel(s) and a "
                                 f"0x{boardmap.register_space:x}-byte register space, but the "
                                 f"board has {info.channels} and 0x{info.register_size:x}; the "
                                 f"bitstream is not the one its manifest describes")
        return SerialBoard(self.link, None, info, boardmap)

    def _load_design(self, overlay):
        board = self.board.boardmap
        carries = (f"the design {board.name} ({', '.join(board.units)})" if board.overlay
                   else f"the single kernel {board.name}")
        # At open the overlay is the board's own, rebuilt from its manifest into ``board``.
        if board.overlay is None or (overlay is not board.overlay
                                     and BoardMap(overlay).describe() != board.describe()):
            raise KernelMismatch(f"{self.name} carries {carries}, not the overlay "
                                 f"{overlay.name} ({', '.join(overlay.instances)}); open it "
                                 f"without overlay= to use what the board carries")
        if self._overlay is None:
            self._overlay = OverlayRunner(self.board, self.max_cycles)

    def _identify(self, found, kernel, params):
        names = [n for n in kernel_names() if kernel_id(n) == found]
        has = f"'{names[0]}'" if names else "no registered kernel"
        if kernel is not None:
            cls = get_kernel(kernel)
            if kernel_id(cls.name) != found:
                raise KernelMismatch(f"{self.name}: the board's kernel id is 0x{found:08x} "
                                     f"({has}), not {cls.name} (0x{kernel_id(cls.name):08x})")
        elif not names:
            raise KernelMismatch(f"{self.name}: the board's kernel id 0x{found:08x} is the "
                                 f"CRC-32 of no registered kernel name (known: "
                                 f"{', '.join(kernel_names())}); install the kernel's package "
                                 f"or pass kernel='module:Class'")
        else:
            cls = get_kernel(names[0])
        # What the host needs of the bitstream's kernel (ports, register map): no hardware.
        return KernelView.of(cls, params)

    def kernel(self, name, **params):
        """The board's kernel; ``params`` default to the board's and must equal them.

        Raises
        ------
        KernelMismatch
            For another kernel or other parameters, naming what the board has.
        """
        self._check_open()
        if self.board.kernel is None:
            return super().kernel(name, **params)
        cls = get_kernel(name)
        have = self.board.kernel
        p = cls.bind(**params) if params or cls is not have.kernel_cls else have.p
        if cls is not have.kernel_cls or dict(p) != dict(have.p):
            raise KernelMismatch(f"{self.name} carries {have.name}({_params_text(have.p)}), "
                                 f"its bitstream's kernel; it cannot run "
                                 f"{cls.name}({_params_text(p)})")
        return super().kernel(cls, **have.p)

    def _submit(self, fn):
        # A call belongs to the session it was started in: once abandoned, its next
        # request fails instead of interleaving with the calls that follow it.
        epoch = self.link.epoch

        def bound():
            self.link.bind(epoch)
            return fn()
        return super()._submit(bound)

    def _memory(self, handle):
        return self.board

    def _link_meter(self, handle):
        return PortMeter(self.link)

    def _execute(self, handle, job):
        return self.board.run_job(job, max_cycles=self.max_cycles)

    def _abandon(self, run):
        # The abandoned job's next request fails; the new job starts with a reset.
        self.link.abandon()
        super()._abandon(run)

    def _close(self):
        if self._overlay is not None:
            self._overlay.close()
        self.link.close()
