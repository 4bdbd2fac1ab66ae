"""Benchmarks: the virtual board, host call overhead, scheduling policies, bitstream builds.

'hetflow bench sim' runs one kernel call on the virtual board, on a raw Verilator harness of
the same RTL and (a smaller slice) on the cocotb bench, and prints the kernel cycles per
second of each, all checked against the golden model.  'hetflow bench host' prints the
per-call host overhead of small calls on the cpu and sim devices.  'hetflow bench schedule'
compares the scheduling policies on random DAGs and on a real workload on cpu + sim.
'hetflow bench build' builds each kernel for icebreaker and ulx3s-85f and prints resources,
Fmax and throughput bounds.  'hetflow bench prove' proves each kernel's contract and prints
the method and the time of each proof.  'hetflow bench link' measures the served board's
serial link (UART in the loop, USB-UART turnaround) in SoC time.
"""

from ..hw.errors import HetflowError
from .common import (add_board_timing_arguments, add_param_argument, board_timing, parse_params,
                     predicted_line, progress)


def add_arguments(parser):
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", parser_class=type(parser))
    sim = sub.add_parser("sim", help="virtual board vs raw Verilator vs cocotb",
                         description="One call of a kernel on the virtual board "
                                     "(hetflow.open('sim')), on a raw Verilator harness of the "
                                     "same RTL (timed in C++) and on the cocotb bench (a smaller "
                                     "slice of the same data): kernel cycles per second.")
    sim.add_argument("--elements", type=int, default=1_000_000,
                     help="elements of the call (default: 1000000)")
    sim.add_argument("--cocotb-elements", type=int, default=20_000,
                     help="elements of the cocotb run, the first ones of the same data "
                          "(default: 20000)")
    sim.add_argument("--kernel", default="saxpy",
                     help="saxpy, dot, fir or crc32 (default: saxpy)")
    add_param_argument(sim)
    sim.add_argument("--seed", type=int, default=1, help="seed of the data (default: 1)")
    sim.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    sim.set_defaults(_bench=_run_sim)

    host = sub.add_parser("host", help="per-call host overhead on cpu and sim",
                          description="Per-call host overhead of small saxpy calls (1 and 1024 "
                                      "elements) on the cpu and sim devices.")
    host.add_argument("--calls", type=int, default=2000,
                      help="timed calls per size on the cpu; the sim gets a tenth, at least 20 "
                           "(default: 2000)")
    add_board_timing_arguments(host)
    host.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    host.set_defaults(_bench=_run_host)

    sched = sub.add_parser("schedule", help="scheduling policies: random DAGs and cpu + sim",
                           description="The policies (heft, dmda, eager, cpu-only, fpga-only) "
                                       "side by side: schedule length ratios on random DAGs, "
                                       "then a mixed workload run for real on cpu + sim.")
    sched.add_argument("--sizes", default="20,50,100",
                       help="random DAG task counts (default: 20,50,100)")
    sched.add_argument("--out-degree", default="1,2,4",
                       help="random DAG out-degrees (default: 1,2,4)")
    sched.add_argument("--ccr", default="0.1,1,5",
                       help="communication to computation ratios (default: 0.1,1,5)")
    sched.add_argument("--beta", default="0.1,0.5,1",
                       help="heterogeneities, 0..2 (default: 0.1,0.5,1)")
    sched.add_argument("--graphs", type=int, default=2,
                       help="random DAGs per combination (default: 2)")
    sched.add_argument("--repeats", type=int, default=11,
                       help="measured runs per policy of the mixed workload (default: 11)")
    sched.add_argument("--warmup", type=int, default=2,
                       help="recorded warm-up rounds of every policy before the measured runs "
                            "(default: 2)")
    sched.add_argument("--no-real", action="store_true",
                       help="random DAGs only (no run on cpu + sim)")
    sched.add_argument("--machine-models", action="store_true",
                       help="use and refine this machine's stored models instead of a fresh "
                            "temporary set")
    sched.add_argument("--seed", type=int, default=1, help="random DAG seed (default: 1)")
    sched.add_argument("--plot", metavar="FILE.png", help="write a Gantt chart of HEFT")
    sched.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    sched.set_defaults(_bench=_run_schedule)

    build = sub.add_parser("build", help="build each kernel for icebreaker and ulx3s-85f",
                           description="Build every kernel for each board (YoWASP by default) "
                                       "and print LUT %, DSP %, Fmax, throughput bounds and "
                                       "gemm's achieved/peak MAC/s.")
    build.add_argument("--boards", default="icebreaker,ulx3s-85f",
                       help="comma-separated boards (default: icebreaker,ulx3s-85f)")
    build.add_argument("--kernels", default="saxpy,dot,fir,gemm,conv2d,crc32",
                       help="comma-separated kernels (default: all six)")
    build.add_argument("--toolchain", default="yowasp", choices=("yowasp", "native"))
    build.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: 1)")
    build.add_argument("--out", default="build/bench", help="build directories (default: build/bench)")
    build.add_argument("--no-fill-gemm", action="store_true",
                       help="skip the gemm tile that fills each part's DSPs")
    build.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    build.set_defaults(_bench=_run_build)

    prove = sub.add_parser("prove", help="proof time and method of each kernel's contract",
                           description="Prove each kernel's contract (hetflow prove) at its "
                                       "default parameters and, for the built-ins, in one more "
                                       "configuration that changes the core's structure; print "
                                       "the method, the jobs, the time of each proof.")
    prove.add_argument("--kernels", default="saxpy,dot,fir,gemm,conv2d,crc32",
                       help="comma-separated kernels (default: all six built-ins)")
    prove.add_argument("--solver", choices=("z3", "boolector"), default=None,
                       help="SMT solver (default: boolector when installed, else z3)")
    prove.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    prove.set_defaults(_bench=_run_prove)

    from ..bench import link as link_bench
    link = sub.add_parser("link", help="the served serial link in SoC time: bulk and small "
                                       "requests",
                          description="Serve a board's design (as 'hetflow serve': the UART in "
                                      "the loop at the line rate, the USB-UART's turnaround) "
                                      "and measure bulk writes, bulk reads and register round "
                                      "trips in SoC time (simulated cycles / clock).")
    link.add_argument("--board", "-b", default="icebreaker",
                      help="the board whose design is served (default: icebreaker)")
    link.add_argument("--baud", type=int, default=None, metavar="N",
                      help="line rate (default: the board's default rate)")
    link.add_argument("--turnaround-ms", type=float, default=1.0, metavar="T",
                      help="latency timer of the modelled USB-UART (default: 1)")
    link.add_argument("--window", type=int, default=None, metavar="BYTES",
                      help="bytes of unanswered request frames the host keeps on the line "
                           "(default: the serial backend's, the bridge's receive buffer; "
                           "0: one request at a time)")
    link.add_argument("--bytes", type=int, default=link_bench.DEFAULT_BYTES, dest="nbytes",
                      metavar="N",
                      help=f"bytes of the bulk write and read (default: "
                           f"{link_bench.DEFAULT_BYTES})")
    link.add_argument("--round-trips", type=int, default=link_bench.DEFAULT_ROUND_TRIPS,
                      metavar="N",
                      help=f"register reads, one at a time and as a burst (default: "
                           f"{link_bench.DEFAULT_ROUND_TRIPS})")
    link.add_argument("--kernel", default="saxpy", help="the served kernel (default: saxpy)")
    link.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    link.set_defaults(_bench=_run_link)


def run(args):
    if not getattr(args, "_bench", None):
        raise HetflowError("choose a benchmark: 'hetflow bench sim', 'host', 'schedule', 'build', "
                           "'prove' or 'link'")
    return args._bench(args)


def _positive(flag, value):
    if value < 1:
        raise HetflowError(f"{flag} {value} is out of range; allowed a positive integer")


def _console():
    from rich.console import Console
    return Console(width=110)


def _run_sim(args):
    from ..bench.sim import print_report, run_sim_bench

    _positive("--elements", args.elements)
    _positive("--cocotb-elements", args.cocotb_elements)
    params = parse_params(args.param)
    with progress(not args.quiet) as status:
        result = run_sim_bench(args.kernel, params, elements=args.elements,
                               cocotb_elements=args.cocotb_elements, seed=args.seed,
                               status=status)
    print_report(result, _console())
    if not result.ok:
        print("FAIL bench sim: outputs differ from the golden model (see the check column)")
        return 1
    return 0


def _run_host(args):
    from ..bench.host import print_report, run_host_bench

    _positive("--calls", args.calls)
    timing = board_timing(args)
    with progress(not args.quiet) as status:
        result = run_host_bench(calls=args.calls, status=status)
    print_report(result, _console())
    if timing:
        # Beside the measured sim calls: the same calls on the board, predicted.
        print(f"predicted, not measured: {timing.describe()}")
        if timing.kernel != "saxpy":
            print(f"(saxpy: as if built for {timing.board} at the same clock and baud rate)")
        for r in result.rows:
            if r.device == "sim" and r.link is not None:
                print(predicted_line(timing, f"saxpy n={r.elements}", r.cycles, r.link))
                print(f"predicted_board_call_us_{r.elements}="
                      f"{timing.seconds(r.cycles, r.link) * 1e6:.1f}")
    if not result.ok:
        print("FAIL bench host: outputs differ from the golden model (see the check column)")
        return 1
    return 0


def _numbers(text, kind, flag, least, most=None):
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise HetflowError(f"{flag} {text!r} is not a comma-separated list of "
                           f"{'integers' if kind is int else 'numbers'}") from None
    if not values:
        raise HetflowError(f"{flag} is empty")
    if min(values) < least or (most is not None and max(values) > most):
        allowed = f"{least:g}..{most:g}" if most is not None else f"{least:g} or more"
        raise HetflowError(f"{flag} {text} is out of range; allowed {allowed}")
    return values


def _run_schedule(args):
    from pathlib import Path

    from ..bench.schedule import gantt_schedules, print_report, run_schedule_bench

    sizes = _numbers(args.sizes, int, "--sizes", 1)
    degrees = _numbers(args.out_degree, int, "--out-degree", 1)
    ccrs = _numbers(args.ccr, float, "--ccr", 0)
    betas = _numbers(args.beta, float, "--beta", 0, 2)
    for flag, value, least in (("--graphs", args.graphs, 1), ("--repeats", args.repeats, 1),
                               ("--warmup", args.warmup, 0)):
        if value < least:
            raise HetflowError(f"{flag} {value} is out of range; allowed {least} or more")
    if args.plot:
        plot = Path(args.plot)
        if plot.suffix.lower() != ".png":
            raise HetflowError(f"--plot {plot}: the chart is a PNG; give a file name ending "
                               f"in .png")
        if not (plot.parent if str(plot.parent) else Path(".")).is_dir():
            raise HetflowError(f"cannot write {plot}: directory {plot.parent} does not exist")
    models = None
    if args.machine_models:
        from ..sched.perfmodel import PerfModels
        models = PerfModels()
    with progress(not args.quiet) as status:
        result = run_schedule_bench(sizes=sizes, out_degrees=degrees, ccrs=ccrs, betas=betas,
                                    graphs=args.graphs, real=not args.no_real,
                                    repeats=args.repeats, warmup=args.warmup, seed=args.seed,
                                    models=models, status=status)
    if models is not None:
        models.save()
    console = _console()
    print_report(result, console)
    if args.plot:
        from .gantt import plot_gantt
        schedules, title = gantt_schedules(result)
        plot_gantt(schedules, args.plot, title=title)
        console.print(f"Gantt chart: {args.plot}", highlight=False, soft_wrap=True)
    if not result.ok:
        print("FAIL bench schedule: a policy's results differ from the NumPy computation")
        return 1
    return 0


def _run_build(args):
    from ..bench.build import print_report, run_build_bench

    boards = [b for b in args.boards.split(",") if b]
    kernels = [k for k in args.kernels.split(",") if k]
    if not boards or not kernels:
        raise HetflowError("--boards and --kernels must name at least one board and kernel")
    with progress(not args.quiet) as status:
        rows = run_build_bench(boards=boards, kernels=kernels, toolchain=args.toolchain,
                               seed=args.seed, out_root=args.out,
                               fill_gemm=not args.no_fill_gemm, status=status)
    print_report(rows, _console())
    # A kernel that does not fit a part is a row of the table, not a failure of the benchmark.
    return 0 if rows else 1


def _run_prove(args):
    from ..bench.prove import print_report, run_prove_bench

    kernels = [k for k in args.kernels.split(",") if k]
    if not kernels:
        raise HetflowError("--kernels must name at least one kernel")
    with progress(not args.quiet) as status:
        rows = run_prove_bench(kernels, solver=args.solver, status=status)
    print_report(rows, _console())
    return 0 if all(r.passed for r in rows) else 1


def _run_link(args):
    from ..bench.link import print_report, run_link_bench

    with progress(not args.quiet) as status:
        result = run_link_bench(board=args.board, baud=args.baud,
                                turnaround_ms=args.turnaround_ms, window=args.window,
                                nbytes=args.nbytes, round_trips=args.round_trips,
                                kernel=args.kernel, status=status)
    print_report(result, _console())
    if not result.ok:
        print("FAIL bench link: what was read back differs from what was written")
        return 1
    return 0
