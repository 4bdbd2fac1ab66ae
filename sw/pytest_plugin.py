"""pytest plugin: verify a kernel against its golden model in one line of a test.

Registered through the ``pytest11`` entry point (name ``hetflow``), so any
project with hetflow installed has it::

    def test_blur(hetflow_verify):
        hetflow_verify("mypkg.kernels:Blur", params={"width": 64})

    def test_blur_keeps_the_contract(hetflow_prove):
        hetflow_prove("mypkg.kernels:Blur")

Command-line options (they apply to every ``hetflow_verify`` call whose own
arguments leave them unset):

``--hetflow-sim verilator|icarus``
    The simulator (default: verilator).
``--hetflow-seed N``
    Seed of stimuli and of the gap/back-pressure pattern (default: 1).
``--hetflow-waves``
    Dump a waveform of every run, not only of a failing case.
``--hetflow-count N``
    Cases per verification (default: 20).

A failing verification fails the test with the verification summary, the
first mismatches and the waveform path; the path is also recorded in the
test's ``user_properties`` (``hetflow_waves``, so it appears in JUnit XML)
and in a "hetflow waveform" section of the report.  Waveforms, logs and plans
go to the test's ``tmp_path``, which pytest keeps for the last few runs.

This module imports nothing heavy at import time: it is loaded into every
pytest run of an environment where hetflow is installed.
"""

import logging
from contextlib import contextmanager

import pytest

__all__ = ["hetflow_verify", "hetflow_prove"]

_WAVES_KEY = pytest.StashKey[list]()
SIMULATORS = ("verilator", "icarus")
#: Loggers of cocotb_tools.runner (named after its runner classes).
RUNNER_LOGGERS = ("Verilator", "Icarus")


def _positive(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; allowed 0 or more")
    return value


def pytest_addoption(parser):
    group = parser.getgroup("hetflow", "hetflow kernel verification (hetflow_verify fixture)")
    group.addoption("--hetflow-sim", choices=SIMULATORS, default=None,
                    help="simulator for hetflow_verify (default: verilator)")
    group.addoption("--hetflow-seed", type=_positive, default=None, metavar="N",
                    help="stimulus and back-pressure seed for hetflow_verify (default: 1)")
    group.addoption("--hetflow-waves", action="store_true", default=False,
                    help="dump a waveform of every hetflow_verify run, not only of failures")
    group.addoption("--hetflow-count", type=_positive, default=None, metavar="N",
                    help="cases per hetflow_verify call (default: 20)")


def _failure_message(result):
    lines = [result.summary()]
    lines += [f"  error: {e}" for e in result.errors]
    lines += [f"  mismatch: {m}" for m in result.mismatches[:10]]
    if result.waves:
        lines.append(f"  waveform: {result.waves}")
    if result.log:
        lines.append(f"  log: {result.log}")
    lines.append(f"  reproduce: pytest --hetflow-seed {result.seed} --hetflow-sim "
                 f"{result.simulator}")
    return "\n".join(lines)


@pytest.fixture
def hetflow_verify(request, tmp_path):
    """A function that verifies a kernel against its golden model and fails the test if not.

    ``hetflow_verify(kernel, params=None, *, count=None, seed=None, sim=None,
    waves=None)`` runs :func:`hetflow.sim.verify.verify` and returns its
    :class:`~hetflow.sim.verify.VerifyResult` when every case passes.
    ``kernel`` is a registered name, a ``module:Class`` path or the class.
    Arguments left as None come from the command-line options.  Any other
    error (unknown kernel, bad parameter, broken kernel class, missing
    simulator) fails the test with its one-line message.
    """
    config = request.config
    calls = [0]

    def run(kernel, params=None, *, count=None, seed=None, sim=None, waves=None):
        from .hw.errors import HetflowError
        from .sim.verify import verify

        calls[0] += 1
        options = {
            "sim": sim or config.getoption("hetflow_sim") or "verilator",
            "seed": seed if seed is not None else _option(config, "hetflow_seed", 1),
            "count": count if count is not None else _option(config, "hetflow_count", 20),
            "waves": bool(config.getoption("hetflow_waves")) if waves is None else waves,
        }
        error = None
        try:
            with _quiet_runner():
                result = verify(kernel, params or {},
                                workdir=tmp_path / f"hetflow-verify-{calls[0]}", **options)
        except HetflowError as exc:
            error = f"hetflow_verify({kernel!r}): {exc}"
        if error is not None:
            # Failed outside the except block: raised inside it, pytest would print the
            # HetflowError and "During handling of the above exception" before the message.
            pytest.fail(error, pytrace=False)
        if result.waves:
            request.node.user_properties.append(("hetflow_waves", str(result.waves)))
            request.node.stash.setdefault(_WAVES_KEY, []).append(str(result.waves))
        if not result.passed:
            pytest.fail(_failure_message(result), pytrace=False)
        return result

    return run


@pytest.fixture
def hetflow_prove(request):
    """A function that proves a kernel keeps the shell's contract and fails the test if not.

    ``hetflow_prove(kernel, params=None, *, depth=None, solver=None,
    timeout=None)`` runs :func:`hetflow.formal.proof.prove_kernel` and
    returns its :class:`~hetflow.formal.proof.KernelProof` when the
    properties hold and the covers are reached; otherwise the test fails with
    the proof's summary (the failed property, its source line and the
    counterexample's waveform).  The method is recorded in the test's
    ``user_properties`` (``hetflow_proof``).
    """
    def run(kernel, params=None, *, depth=None, solver=None, timeout=None):
        from .formal.proof import prove_kernel
        from .hw.errors import HetflowError

        error = None
        try:
            proof = prove_kernel(kernel, params or {}, depth=depth, solver=solver,
                                 timeout=timeout)
        except HetflowError as exc:
            error = f"hetflow_prove({kernel!r}): {exc}"
        if error is not None:
            pytest.fail(error, pytrace=False)
        request.node.user_properties.append(("hetflow_proof", proof.summary()))
        if not proof.passed:
            pytest.fail(proof.summary(), pytrace=False)
        return proof

    return run


@contextmanager
def _quiet_runner():
    """Keep cocotb's runner from logging every compiler command into the test report.

    The runner sets its logger to INFO when it is created (inside the call), so a
    filter, not a level, holds its INFO records back.
    """
    loggers = [logging.getLogger(name) for name in RUNNER_LOGGERS]
    only_warnings = lambda record: record.levelno >= logging.WARNING   # noqa: E731
    for log in loggers:
        log.addFilter(only_warnings)
    try:
        yield
    finally:
        for log in loggers:
            log.removeFilter(only_warnings)


def _option(config, name, default):
    value = config.getoption(name)
    return default if value is None else value


@pytest.hookimpl(hookwrapper=True)   # old-style wrapper: works with pytest 7 and 8
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    waves = item.stash.get(_WAVES_KEY, None)
    if waves and call.when == "call" and report.failed:
        report.sections.append(("hetflow waveform", "\n".join(waves)))
