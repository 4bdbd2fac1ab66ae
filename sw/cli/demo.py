"""Run the demo design (FIR -> CRC-32 chained, beside a GEMM) on the CPU and the simulated board.

Checks that every device gives bit-identical results (and the CRC NumPy and
zlib give) and prints, per call, the elements processed, device cycles, the
time those cycles take at the nominal clock, the bytes that crossed the board
link and the wall time of the call on this host.  The chain's link bytes are
compared with those of the same steps as separate calls (the goal: at most
half).

With ``--board DIR`` (a build directory) the simulated board gets that board's
memory (calls are cut as they would be there) and each call on it also shows
its predicted time on the board (:mod:`hetflow.boardtime`): its cycles at the
build's clock, its serial link bytes at the build's baud rate and a turnaround
per request -- a prediction, labelled as such, beside the measured wall time.
"""

from ..hw.errors import HetflowError
from .common import (add_board_timing_arguments, board_timing, check_device, predicted_line,
                     progress)

NOMINAL_MHZ = 100.0


def add_arguments(parser):
    parser.add_argument("--devices", default="cpu,sim",
                        help="comma-separated devices to compare (default: cpu,sim)")
    parser.add_argument("--samples", type=int, default=4096,
                        help="FIR input length, a multiple of 64 (default: 4096)")
    add_board_timing_arguments(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


def run(args):
    from ..demo import link_summary, run_pipeline

    devices = [check_device(d.strip()) for d in args.devices.split(",") if d.strip()]
    if not devices:
        raise HetflowError("--devices is empty; give e.g. cpu,sim")
    if args.samples < 64 or args.samples % 64:
        raise HetflowError(f"--samples {args.samples} is out of range; allowed a positive "
                           f"multiple of 64")
    timing = board_timing(args)
    results = {}
    with progress(not args.quiet) as status:
        for dev in devices:
            options = ({"memory_size": timing.memory_size}
                       if timing is not None and timing.memory_size and dev == "sim" else None)
            results[dev] = run_pipeline(dev, samples=args.samples, status=status,
                                        options=options)

    reference = results[devices[0]]
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"hetflow demo: fir0 -> crc0 chained, gemm0 ({args.samples} samples)")
    predicted = f"{timing.board} (predicted)" if timing else None
    columns = ("device", "call", "elements", "cycles", f"at {NOMINAL_MHZ:g} MHz", "link") \
        + ((predicted,) if timing else ()) + ("wall time", "check")
    for col in columns:
        table.add_column(col, justify="right" if col not in ("device", "kernel", "check") else "left")
    ok = True
    for dev in devices:
        for step, ref in zip(results[dev], reference):
            same = step.result.shape == ref.result.shape and bool((step.result == ref.result).all())
            ok &= same
            cycles = "-" if step.cycles is None else f"{step.cycles:,}"
            at_clock = "-" if step.cycles is None else f"{step.cycles / NOMINAL_MHZ:,.1f} µs"
            link = step.link
            board = (("-" if link is None else
                      f"{timing.seconds(step.cycles, link) * 1e3:,.1f} ms"),) if timing else ()
            table.add_row(dev, step.kernel, f"{step.elements:,}", cycles, at_clock,
                          "-" if link is None else f"{link.bytes:,} B / {link.requests} req",
                          *board,
                          f"{step.wall_s * 1e3:,.1f} ms",
                          ("reference" if dev == devices[0] else "equal") if same else "DIFFERS")
    Console(width=140).print(table)
    if timing:
        print(f"predicted, not measured: {timing.describe()}")
        others = sorted({k for s in reference for k in s.kernels} - {timing.kernel})
        if others:
            print(f"({', '.join(others)}: as if built for {timing.board} at the same clock "
                  f"and baud rate)")
        for dev in devices:
            for step in results[dev]:
                if step.link is not None:
                    print(predicted_line(timing, f"{step.kernel} on {dev}", step.cycles,
                                         step.link))
    for dev in devices:
        summary = link_summary(results[dev])
        if summary is not None:
            chained, separate = summary
            met = "met" if 2 * chained <= separate else "NOT met"
            print(f"link bytes on {dev}: fir0 -> crc0 chained {chained:,} B, the same steps as "
                  f"separate calls {separate:,} B ({chained / separate:.2f}x); goal chained <= "
                  f"0.5x separate: {met}")
    crc = int(reference[0].result[0])
    verdict = "PASS" if ok else "FAIL"
    print(f"{verdict} demo: {len(devices)} devices ({', '.join(devices)}) "
          f"{'agree' if ok else 'disagree'}; crc32 0x{crc:08x}")
    return 0 if ok else 1
