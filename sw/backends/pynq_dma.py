"""Bounded waits and resets of PYNQ's AXI DMA driver, shared by the PYNQ device's jobs.

PYNQ's ``DMA.wait()`` polls ``DMASR`` forever; :func:`wait_channel` polls
with a deadline instead and names the error bits of an engine that halted.
:func:`reset_engines` soft-resets engines left with a transfer pending (after
a timeout, or by a script that ran before) and restarts their channels.
Used by one kernel's jobs (:mod:`hetflow.backends.pynq`) and an overlay's
(:mod:`hetflow.backends.pynq_overlay`).
"""

import time

from ..hw.errors import HetflowError

__all__ = ["poll", "wait_channel", "reset_engines"]

#: Offsets of the MM2S and S2MM control registers; either's reset bit (2) resets the engine.
_MM2S_DMACR = 0x00
_S2MM_DMACR = 0x30
_DMACR_RESET = 0x4
#: DMASR error bits (PG021), worded as PYNQ's DMA driver words them.
_DMA_ERRORS = ((0x10, "DMA Internal Error (transfer length 0?)"),
               (0x20, "DMA Slave Error (cannot access memory map interface)"),
               (0x40, "DMA Decode Error (invalid address)"))


def poll(ready, deadline, cancelled=None):
    """Poll ``ready()`` until true (returns True) or the deadline passes (False).

    Polls back-to-back at first (a job is often done by the first look), then
    backs off to 10 ms so a long job does not keep a core busy.
    """
    delay = 0.0
    while True:
        if ready():
            return True
        if time.monotonic() >= deadline:
            return False
        if cancelled is not None and cancelled():
            raise HetflowError("the call was abandoned after a timeout")
        if delay:
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(0.01, delay * 2 or 0.0001)


def wait_channel(channel, timeout, kernel, what, cancelled=None):
    """Wait, at most ``timeout`` seconds, for a PYNQ DMA channel to go idle.

    PYNQ's own ``channel.wait()`` polls ``DMASR`` forever; this polls
    ``channel.idle`` with a deadline and only then calls ``channel.wait()``
    (which returns at once and, for S2MM, invalidates the buffer and reads
    ``transferred``).

    Parameters
    ----------
    channel : pynq.lib.dma._SDMAChannel
        ``dma.sendchannel`` or ``dma.recvchannel``.
    timeout : float
        Seconds.
    kernel : str
        Kernel name, for the messages.
    what : str
        The channel, for the messages (``"axi_dma_1 S2MM"``).

    Raises
    ------
    TimeoutError
        The channel is not idle in time (names kernel and seconds waited).
    HetflowError
        The engine reports an error or is halted.
    """
    start = time.monotonic()
    state = {}

    def settled():
        # error, running and idle each read DMASR; on the simulated Zynq a read of a
        # busy channel's DMASR also advances the simulation.
        state["error"] = channel.error
        if state["error"]:
            return True
        state["running"] = channel.running
        return not state["running"] or channel.idle

    if not poll(settled, start + timeout, cancelled):
        elapsed = time.monotonic() - start
        raise TimeoutError(f"kernel '{kernel}': {what} did not finish within {timeout:g} s "
                           f"(waited {elapsed:.2f} s)")
    if state["error"]:
        # The engine halts on an error, and PYNQ's wait() then only says "not started":
        # read DMASR (through the channel's own MMIO) and name the error bits.
        dmasr = channel._mmio.read(channel._offset + 4)
        errors = "; ".join(text for bit, text in _DMA_ERRORS if dmasr & bit)
        raise HetflowError(f"kernel '{kernel}': {what}: {errors or 'DMA error'} "
                           f"(DMASR=0x{dmasr:x})")
    if not state["running"]:
        raise HetflowError(f"kernel '{kernel}': {what} is halted (DMASR.Halted=1); "
                           f"the engine was stopped or reset during the transfer")
    channel.wait()


def reset_engines(blocks, what):
    """Soft-reset DMA engines and restart the channels that carry a stream.

    Parameters
    ----------
    blocks : iterable of (str, DMA, port or None, port or None)
        Engine name, PYNQ's driver, and its MM2S and S2MM streams (None: unused).
    what : str
        Whose engines, for the messages (``"kernel 'saxpy'"``).
    """
    for name, dma, src, dst in blocks:
        # Either channel's DMACR.Reset resets the engine; use one that exists.
        dmacr = _MM2S_DMACR if src is not None else _S2MM_DMACR
        dma.mmio.write(dmacr, _DMACR_RESET)
        if not poll(lambda: not dma.mmio.read(dmacr) & _DMACR_RESET, time.monotonic() + 1.0):
            raise HetflowError(f"{what}: {name} did not leave soft reset in 1 s")
        for port, chan in ((src, dma.sendchannel), (dst, dma.recvchannel)):
            if port is None:
                continue
            dma.mmio.write(_MM2S_DMACR if chan is dma.sendchannel else _S2MM_DMACR, 0x1)
            if not poll(lambda: chan.running, time.monotonic() + 1.0):
                raise HetflowError(f"{what}: {name} does not run after reset")
            chan.start()     # returns at once now; re-arms PYNQ's first-transfer state
