"""The UART-to-bus bridge: serial frames in, host-bus transactions, frames out.

This is the gateware the serial backend (:mod:`hetflow.backends.serial`)
talks to on a board.  It speaks the framing of
:mod:`hetflow.link.framing` (sync, sequence number, length, payload,
CRC-32) around the requests of :mod:`hetflow.link.protocol`, and
executes each request as transactions on the SoC's host bus
(:class:`~hetflow.boards.soc.HostBusSignature`).  Its byte side is a pair of
8-bit streams, so the same bridge sits behind a UART on a board
(:mod:`hetflow.boards.uart`) and behind a pty in simulation
(:mod:`hetflow.boards.serialsim`).

Three components, joined here, share one receive buffer of
:data:`~hetflow.link.framing.BRIDGE_RX_BUFFER` bytes of block RAM; the
receiver and the transmitter each have a CRC-32 engine
(:class:`~.crc.SerialCrc32`), by default bit-serial: 8 cycles a byte, so the
bridge takes a byte at most every 8 cycles (a UART brings one every 40 or
more):

* :class:`~.receiver.FrameReceiver` takes frames off the line into the
  buffer and commits those whose CRC matched (a length above ``max_payload``
  drops the candidate at once; a partial frame is dropped after
  ``idle_cycles`` of silence; a frame that finds the buffer full is dropped,
  never a frame already in it).  It keeps taking bytes while requests
  execute and responses go out, so a host may send several requests
  without waiting (within ``BRIDGE_RX_BUFFER`` bytes unanswered).
* :class:`~.executor.RequestExecutor` takes committed frames in arrival
  order, checks each request as the virtual board checks it (payload
  length, register window, memory range, DMA channel, ``RESET`` cycles; the
  same status codes, without message text), runs it on the bus and streams
  its response.  A frame whose sequence number and CRC equal those of the
  frame answered last is a retry: its cached response goes out again and
  the request is not executed twice (``MEM_READ`` re-reads memory for its
  data, which is harmless).
* :class:`~.transmitter.FrameTransmitter` puts the sync byte before the
  bytes of each response frame the executor streams (sequence number,
  length, payload) and its CRC after them.

``PING`` answers from constants of the SoC the bridge was built for (its
register window is the design's register space,
:attr:`~hetflow.boards.soc.SoC.register_space`);
``RESET`` pulses the SoC's soft reset; ``RUN`` polls the design's done bit
(the kernel's status, or the SoC's STATUS for an overlay) and the SoC's DMA
status until both say done, or the cycle budget is spent, and
answers the cycles that passed (polled every 4 cycles, so up to 3 more than
the budget; a budget above 2**32 - 1 ends there, which the host's loop of
``RUN`` slices absorbs); ``QUIT`` is answered and ignored.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ...hw.errors import ParamError
from ...link import protocol as P
from ...link.framing import BRIDGE_MAX_PAYLOAD, BRIDGE_RX_BUFFER
from ..soc import SOC_MAP, HostBusSignature
from .crc import BITS_PER_CYCLE, SerialCrc32
from .executor import RequestExecutor
from .receiver import STORED_HEADER, FrameReceiver
from .transmitter import FrameTransmitter

__all__ = ["FrameBridge", "DEFAULT_IDLE_CYCLES"]

#: Cycles of silence after which a partial frame is dropped (~40 ms at 12 MHz).
DEFAULT_IDLE_CYCLES = 500_000


class FrameBridge(wiring.Component):
    """Serial frames on two byte streams to host-bus transactions (see the module doc).

    Parameters
    ----------
    strides : list of int
        Bytes per beat of each DMA channel, in channel order (from the SoC).
    memory_size : int
        Bytes of SoC memory (a power of two).
    register_size : int
        Bytes of the design's register space (PING reports it).
    max_payload : int
        Largest frame payload taken; longer frames are dropped.
    rx_buffer : int
        Bytes of the receive buffer, a power of two holding at least one
        frame of ``max_payload``.
    idle_cycles : int
        Cycles of line silence after which a partial frame is dropped.
    soc_map : SocMap
        The SoC's address map (:data:`~hetflow.boards.soc.SOC_MAP` for a
        single kernel).
    done_address : int
        Byte address whose bit 1 ``RUN`` polls for "done" (the kernel's
        ``status`` for a single kernel, the SoC's STATUS for an overlay).
    crc_bits_per_cycle : int
        Bits the CRC engines fold a cycle: 1 (the fewest cells), 2, 4 or 8
        (a byte every cycle).

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the line; ready when the receiver's CRC engine is free
        (one cycle in ``8 // crc_bits_per_cycle`` at most).
    tx : Out(stream.Signature(8))
        Bytes to the line.
    bus : Out(HostBusSignature())
        The SoC's host bus.
    busy : Out(1)
        High while a frame is being received, waits in the buffer, is executed
        or answered.
    receiving : Out(1)
        The receiver has taken a sync byte and is inside a candidate frame.
    overrun : Out(1)
        Pulses when a frame that found the receive buffer full is dropped.
    """

    def __new__(cls, *, strides, memory_size, max_payload=BRIDGE_MAX_PAYLOAD,
                rx_buffer=BRIDGE_RX_BUFFER, idle_cycles=DEFAULT_IDLE_CYCLES,
                crc_bits_per_cycle=1, **params):
        # Checked before the object exists, so a refused bridge leaves no unused elaboratable.
        smallest = STORED_HEADER + int(max_payload)
        if not P.HEADER.size + 4 <= int(max_payload) < 1 << 16:
            raise ParamError(f"bridge max_payload = {max_payload} is not allowed; allowed "
                             f"{P.HEADER.size + 4}..65535 bytes")
        if int(rx_buffer) < smallest or int(rx_buffer) & (int(rx_buffer) - 1):
            raise ParamError(f"bridge rx_buffer = {rx_buffer} is not allowed; use a power of "
                             f"two of at least {smallest} bytes (one frame of max_payload)")
        if int(idle_cycles) < 16:
            raise ParamError(f"bridge idle_cycles = {idle_cycles} is too small; allowed 16 or "
                             f"more")
        if not 0 < len(strides) < 256:
            raise ParamError(f"bridge: {len(strides)} DMA channels; allowed 1..255")
        if int(memory_size) < 4 or int(memory_size) & (int(memory_size) - 1):
            raise ParamError(f"bridge memory_size = {memory_size} is not allowed; use a power "
                             f"of two of 4 bytes or more")
        if crc_bits_per_cycle not in BITS_PER_CYCLE:
            raise ParamError(f"bridge crc_bits_per_cycle = {crc_bits_per_cycle!r} is not "
                             f"allowed; choose one of {', '.join(map(str, BITS_PER_CYCLE))}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, *, strides, memory_size, register_size,
                 max_payload=BRIDGE_MAX_PAYLOAD, rx_buffer=BRIDGE_RX_BUFFER,
                 idle_cycles=DEFAULT_IDLE_CYCLES, soc_map=SOC_MAP, done_address=0x04,
                 crc_bits_per_cycle=1):
        self.soc_map = soc_map
        self.done_address = int(done_address)
        self.strides = [int(s) for s in strides]
        self.memory_size = int(memory_size)
        self.register_size = int(register_size)
        self.max_payload = int(max_payload)
        self.rx_buffer = int(rx_buffer)
        self.idle_cycles = int(idle_cycles)
        self.crc_bits_per_cycle = crc_bits_per_cycle
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(HostBusSignature()),
            "busy": Out(1),
            "receiving": Out(1),
            "overrun": Out(1),
        })

    @classmethod
    def for_soc(cls, soc, **kwargs):
        """The bridge for :class:`~hetflow.boards.soc.SoC` ``soc``."""
        return cls(strides=[ch.stride for ch in soc.chans], memory_size=soc.memory_size,
                   register_size=soc.register_space, soc_map=soc.map,
                   done_address=soc.done_address, **kwargs)

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buffer = Memory(shape=8, depth=self.rx_buffer, init=[])
        m.submodules.rx_crc = rx_crc = SerialCrc32(self.crc_bits_per_cycle)
        m.submodules.tx_crc = tx_crc = SerialCrc32(self.crc_bits_per_cycle)
        m.submodules.receiver = receiver = FrameReceiver(
            depth=self.rx_buffer, max_payload=self.max_payload, idle_cycles=self.idle_cycles)
        m.submodules.executor = executor = RequestExecutor(
            addr_width=receiver.addr_width, strides=self.strides,
            memory_size=self.memory_size, register_size=self.register_size,
            max_payload=self.max_payload, soc_map=self.soc_map, done_address=self.done_address)
        m.submodules.transmitter = transmitter = FrameTransmitter()

        wiring.connect(m, wiring.flipped(self.rx), receiver.rx)
        wiring.connect(m, receiver.crc, rx_crc.port)
        wiring.connect(m, transmitter.crc, tx_crc.port)
        write_port = buffer.write_port()
        wiring.connect(m, receiver.write, write_port)
        # Which byte a read gets where the receiver writes in the same cycle does not
        # matter (outside the committed frames, or a committed frame's flag, which the
        # executor reads a cycle later); a transparent port is what Yosys maps onto iCE40
        # block RAM with the least logic around it (the other choice cost 21 flip-flops).
        wiring.connect(m, executor.read, buffer.read_port(transparent_for=(write_port,)))
        m.d.comb += [receiver.head.eq(executor.head), executor.tail.eq(receiver.tail)]
        wiring.connect(m, executor.bus, wiring.flipped(self.bus))
        wiring.connect(m, executor.frame, transmitter.frame)
        wiring.connect(m, transmitter.tx, wiring.flipped(self.tx))
        m.d.comb += [
            self.busy.eq(receiver.busy | executor.busy | transmitter.busy),
            self.receiving.eq(receiver.receiving),
            self.overrun.eq(receiver.overrun),
        ]
        return m
