"""An overlay from its hardware handoff: hetflow's IPs and the streams wired between them.

``hetflow export --overlay FILE --format pynq-ip`` makes one AXI IP per
instance (:mod:`hetflow.boards.zynq.overlay`); Vivado's ``.hwh`` of the block
design (or the one the export writes) says all that the
:class:`~hetflow.hw.overlay.Overlay` said:

* each instance is a kernel IP named after it, its kernel and elaboration
  parameters in the IP parameters ``HETFLOW_KERNEL`` and ``HETFLOW_<PARAM>``;
* the overlay's name is in the IPs' names, ``hetflow_<overlay>_<instance>_axi``;
* each stream is an AXI-Stream connection from one IP's ``m_axis_<port>``
  to another's ``s_axis_<port>``, its FIFO depth the producer's
  ``HETFLOW_FIFO_<PORT>`` parameter, and it reinterprets the bytes where the
  two ports' element types differ (the export only wires such a stream when
  the overlay said ``reinterpret``).

:func:`handoff_overlay` rebuilds the overlay, instances in the order of their
addresses (the export's order), so the simulated Zynq runs the same design
(and reuses its build) and hetflow's PYNQ device knows what a board carries.
Nothing here imports ``pynq``: it reads what the handoff says, whoever wrote it.
"""

from xml.etree import ElementTree

from ...hw.errors import HetflowError, OverlayError
from ...hw.overlay import Overlay
from ...hw.registry import get_kernel
from .layout import fifo_parameter

__all__ = ["handoff_overlay", "ip_kernel", "stream_wiring", "KERNEL_PREFIX", "KERNEL_SUFFIX"]

#: How a hetflow kernel IP's VLNV begins and what follows its name.
KERNEL_PREFIX, KERNEL_SUFFIX = "hetflow:hetflow:hetflow_", "_axi:"


def _ip_name(desc):
    """``hetflow_..._axi`` of a kernel IP's VLNV, without the ``hetflow_`` and ``_axi``."""
    return desc["type"][len(KERNEL_PREFIX):].split(KERNEL_SUFFIX)[0]


def ip_kernel(name, ip, desc):
    """``(kernel class, parameters)`` of kernel IP ``ip`` from its ``HETFLOW_*`` parameters.

    ``name`` is the handoff's, for messages.  An IP without ``HETFLOW_KERNEL``
    (an older export of one kernel) is named by its VLNV.
    """
    params = desc.get("parameters") or {}
    kernel_cls = get_kernel(params.get("HETFLOW_KERNEL") or _ip_name(desc))
    return kernel_cls, {p.name: _whole(name, ip, f"HETFLOW_{p.name.upper()}", params)
                        for p in kernel_cls.params if f"HETFLOW_{p.name.upper()}" in params}


def _whole(name, ip, parameter, params):
    value = params[parameter]
    try:
        return int(value)
    except ValueError:
        raise HetflowError(f"{name}: {ip}'s IP parameter {parameter} = {value!r} is no whole "
                           f"number") from None


def _overlay_name(name, kernels, runner):
    names = {}
    for ip, desc in kernels.items():
        ip_name = _ip_name(desc)
        if not ip_name.endswith(f"_{ip}"):
            raise HetflowError(f"{name}: IP {ip} is of type {desc['type']}, not "
                               f"{KERNEL_PREFIX}<overlay>_{ip}{KERNEL_SUFFIX}...; {runner} "
                               f"runs several kernel IPs as one overlay exported by "
                               f"hetflow export --overlay, each cell named after its instance")
        names.setdefault(ip_name[:-len(ip) - 1], []).append(ip)
    if len(names) > 1:
        found = "; ".join(f"{ov}: {', '.join(ips)}" for ov, ips in names.items())
        raise HetflowError(f"{name}: the kernel IPs come from {len(names)} overlays ({found}); "
                           f"{runner} runs one overlay")
    return next(iter(names))


def handoff_overlay(name, kernels, wiring, runner="the simulated Zynq"):
    """The :class:`~hetflow.hw.overlay.Overlay` that the kernel IPs of a handoff make.

    Parameters
    ----------
    name : str
        The handoff's file name, for messages.
    kernels : dict
        PYNQ's ``ip_dict`` entries of the hetflow kernel IPs.
    wiring : dict
        :func:`stream_wiring` of the handoff.
    runner : str
        What runs the design, for messages (the PYNQ device gives its own name).

    Raises
    ------
    HetflowError
        IPs of different overlays, a stream without its FIFO depth, or an
        overlay the description refuses (its message, prefixed with ``name``).
    """
    order = sorted(kernels, key=lambda ip: kernels[ip]["phys_addr"])
    overlay = Overlay(_overlay_name(name, kernels, runner))
    try:
        for ip in order:
            kernel_cls, params = ip_kernel(name, ip, kernels[ip])
            overlay.add(ip, kernel_cls, **params)
        for ip in order:
            inst = overlay.instances[ip]
            for port in inst.ports("out"):
                peer = wiring.get((ip, f"m_axis_{port.name}"))
                if peer is None or peer[0] not in kernels:
                    continue
                found = overlay.instances[peer[0]].port(peer[1].removeprefix("s_axis_"))
                if not peer[1].startswith("s_axis_") or found is None or found[0] != "in":
                    raise HetflowError(f"{name}: {ip}/m_axis_{port.name} is wired to "
                                       f"{peer[0]}/{peer[1]}, which is no stream input of "
                                       f"{peer[0]}")
                params = kernels[ip].get("parameters") or {}
                if fifo_parameter(port.name) not in params:
                    raise HetflowError(f"{name}: {ip}/m_axis_{port.name} streams to "
                                       f"{peer[0]}/{peer[1]}, but {ip} has no IP parameter "
                                       f"{fifo_parameter(port.name)} (the stream's FIFO "
                                       f"depth); export the overlay again with hetflow export "
                                       f"--overlay")
                sink = found[1]
                overlay.connect(f"{ip}.{port.name}", f"{peer[0]}.{sink.name}",
                                depth=_whole(name, ip, fifo_parameter(port.name), params),
                                reinterpret=port.dtype != sink.dtype)
        return overlay.check()
    except OverlayError as exc:
        raise HetflowError(f"{name}: {exc}") from None

def stream_wiring(hwh_text):
    """``{(instance, bus interface): (instance, bus interface)}`` of a handoff's AXI-Streams.

    Vivado names each connection between two bus interfaces with one
    ``BUSNAME``; both ends carry it.  Only ``axis`` interfaces are listed.
    """
    ends = {}
    root = ElementTree.fromstring(hwh_text)
    for module in root.iter("MODULE"):
        for busif in module.iter("BUSINTERFACE"):
            if ":axis:" in (busif.get("VLNV") or "") and busif.get("BUSNAME"):
                ends.setdefault(busif.get("BUSNAME"), []).append(
                    (module.get("INSTANCE"), busif.get("NAME")))
    out = {}
    for pair in ends.values():
        if len(pair) == 2:
            out[pair[0]] = pair[1]
            out[pair[1]] = pair[0]
    return out
