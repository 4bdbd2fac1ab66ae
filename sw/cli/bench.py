"""Benchmarks: the virtual board, host call overhead, scheduling policies, bitstream builds.

'hetflow bench sim' runs one kernel call on the virtual board, on a raw Verilator harness of
the same RTL and (a smaller slice) on the cocotb bench, and prints the kernel cycles per
second of each, all checked against the golden model.  'hetflow bench host' prints the
per-call host overhead of small calls on the cpu and sim devices.  'hetflow bench schedule'
compares the scheduling policies on random DAGs and on a real workload on cpu + sim.
'hetflow bench build' builds each kernel for icebreaker and ulx3s-85f and prints resources,
Fmax and throughput bounds.  'hetflow bench prove' proves each kernel's contract and prints
the method and the time of each proof.
"""

from ..hw.errors import HetflowError
from .common import add_param_argument, parse_params, progress


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
    host.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    host.set_defaults(_bench=_run_host)

    from ..sched import bench as sched_bench
    sched = sub.add_parser("schedule", help="scheduling policies: random DAGs and cpu + sim",
                           description=sched_bench.__doc__.split("\n\n")[0])
    sched_bench.add_arguments(sched)
    sched.set_defaults(_bench=sched_bench.run)

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


def run(args):
    if not getattr(args, "_bench", None):
        raise HetflowError("choose a benchmark: 'hetflow bench sim', 'host', 'schedule', 'build' "
                           "or 'prove'")
    return args._bench(args)


def _positive(flag, value):
    if value < 1:
        raise HetflowError(f"{flag} {value} is out of range; allowed a positive integer")


def _console():
    from rich.console import Console
    return Console(width=110)


def _run_sim(args):
    from rich.table import Table

    from ..bench.sim import run_sim_bench

    _positive("--elements", args.elements)
    _positive("--cocotb-elements", args.cocotb_elements)
    params = parse_params(args.param)
    with progress(not args.quiet) as status:
        result = run_sim_bench(args.kernel, params, elements=args.elements,
                               cocotb_elements=args.cocotb_elements, seed=args.seed,
                               status=status)
    described = " ".join(f"{k}={v}" for k, v in result.params.items())
    table = Table(title=f"hetflow bench sim: {result.kernel} {described}".rstrip())
    for col in ("bench", "elements", "kernel cycles", "time", "cycles/s", "check"):
        table.add_column(col, justify="left" if col in ("bench", "check") else "right")
    rows = (("virtual board", result.board), ("raw Verilator", result.raw),
            ("cocotb", result.cocotb))
    for i, (name, m) in enumerate(rows, 1):
        table.add_row(f"({'abc'[i - 1]}) {name}", f"{m.elements:,}", f"{m.cycles:,}",
                      f"{m.seconds * 1e3:,.1f} ms", f"{m.cycles_per_s / 1e6:,.3f} M", m.check)
    console = _console()
    console.print(table)
    print("(a) one blocking call on hetflow.open('sim'), wall time (build and start not timed)")
    print("(b) same harness C++ with a raw main: register writes + clocking, timed in C++")
    print(f"(c) cocotb bench, no gaps or back-pressure: {result.cocotb.note}")
    print(f"sim_cycles_per_s={result.board.cycles_per_s:.0f}")
    print(f"raw_cycles_per_s={result.raw.cycles_per_s:.0f}")
    print(f"cocotb_cycles_per_s={result.cocotb.cycles_per_s:.0f}")
    print(f"ratio_vs_raw_verilator={result.ratio_vs_raw:.3f}")
    print(f"speedup_vs_cocotb={result.speedup_vs_cocotb:.1f}")
    if not result.ok:
        print("FAIL bench sim: outputs differ from the golden model (see the check column)")
        return 1
    return 0


def _run_host(args):
    from rich.table import Table

    from ..bench.host import run_host_bench

    _positive("--calls", args.calls)
    with progress(not args.quiet) as status:
        result = run_host_bench(calls=args.calls, status=status)
    table = Table(title="hetflow bench host: saxpy, per call")
    for col in ("device", "elements", "calls", "call", "work", "overhead", "check"):
        table.add_column(col, justify="left" if col in ("device", "check") else "right")
    for r in result.rows:
        table.add_row(r.device, f"{r.elements:,}", f"{r.calls:,}", f"{r.call_us:,.1f} µs",
                      f"{r.work_us:,.1f} µs", f"{r.overhead_us:,.1f} µs", r.check)
    _console().print(table)
    print("call: wall time of one blocking call (best of 10 batches)")
    print("work: cpu: the golden model called directly on the same arrays; "
          "sim: the call's kernel cycles at the raw Verilator speed "
          f"({result.raw_cycles_per_s / 1e6:.2f} M cycles/s)")
    print("overhead: call - work (cpu_overhead_us: the largest over the sizes; "
          "sim_*: the smallest call)")
    print(f"cpu_overhead_us={result.cpu_overhead_us:.1f}")
    print(f"sim_call_us={result.sim_call_us:.1f}")
    print(f"sim_overhead_us={result.sim_overhead_us:.1f}")
    if not result.ok:
        print("FAIL bench host: outputs differ from the golden model (see the check column)")
        return 1
    return 0


def _run_build(args):
    from ..boards.bench import run_build_bench

    boards = [b for b in args.boards.split(",") if b]
    kernels = [k for k in args.kernels.split(",") if k]
    if not boards or not kernels:
        raise HetflowError("--boards and --kernels must name at least one board and kernel")
    with progress(not args.quiet) as status:
        rows = run_build_bench(boards=boards, kernels=kernels, toolchain=args.toolchain,
                               seed=args.seed, out_root=args.out,
                               fill_gemm=not args.no_fill_gemm, status=status, console=_console())
    for line in shell_lc_lines(rows):
        print(line)
    # A kernel that does not fit a part is a row of the table, not a failure of the benchmark.
    return 0 if rows else 1


def shell_lc_lines(rows):
    """``key=value`` lines of the shell's logic cells: per build, and the largest per board."""
    lines, largest = [], {}
    for row in rows:
        if row.get("shell_lc") is None:
            continue
        tag = "_".join([row["board"], row["kernel"]]
                       + [f"{k}{v}" for k, v in row["params"].items()])
        lines.append(f"shell_lc_{tag}={row['shell_lc']}")
        largest[row["board"]] = max(largest.get(row["board"], 0), row["shell_lc"])
    lines += [f"shell_lc_{board}={n}" for board, n in largest.items()]
    return lines


def _run_prove(args):
    from rich.table import Table

    from ..bench.prove import run_prove_bench

    kernels = [k for k in args.kernels.split(",") if k]
    if not kernels:
        raise HetflowError("--kernels must name at least one kernel")
    with progress(not args.quiet) as status:
        rows = run_prove_bench(kernels, solver=args.solver, status=status)
    table = Table(title="hetflow bench prove: the shell's contract, per kernel")
    for col in ("kernel", "params", "method", "jobs", "cover", "check", "total", "result"):
        table.add_column(col, justify="right" if col in ("cover", "check", "total") else "left")
    for r in rows:
        table.add_row(r.kernel, " ".join(f"{k}={v}" for k, v in r.params.items()), r.method,
                      ", ".join(r.jobs), f"{r.cover_s:.1f} s", f"{r.check_s:.1f} s",
                      f"{r.seconds:.1f} s", "PASS" if r.passed else "FAIL")
    _console().print(table)
    for r in rows:
        if not r.passed:
            print(r.summary)
    passed = sum(r.passed for r in rows)
    print(f"proofs_passed={passed}/{len(rows)}")
    print(f"prove_seconds_total={sum(r.seconds for r in rows):.1f}")
    print(f"prove_seconds_max={max(r.seconds for r in rows):.1f}")
    return 0 if passed == len(rows) else 1
