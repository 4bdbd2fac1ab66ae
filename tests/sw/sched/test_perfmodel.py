"""Performance models: fitting, history, persistence; sizing a call."""

import json
import os
import warnings

import numpy as np
import pytest

from hetflow.hw.errors import StimulusError
from hetflow.hw.registry import get_kernel
from hetflow.sched.perfmodel import PerfModels, PerfModelWarning
from hetflow.sched.taskmodel import QUIET, Fit, Model
from hetflow.sched.work import Work, function_work, kernel_work


def test_fit_recovers_a_linear_law():
    works = [Work(n) for n in (1000, 4000, 16000, 64000)]
    fit = Fit.from_samples(works, [20e-6 + 3e-9 * w.n for w in works])
    assert fit.coef[0] == pytest.approx(20e-6) and fit.coef[1] == pytest.approx(3e-9)
    assert fit.coef[2] == 0.0
    assert fit(Work(8000)) == pytest.approx(20e-6 + 24e-6)


def test_fit_separates_per_tile_and_per_unit_costs():
    works = [Work(n, tiles) for n, tiles in ((1e5, 1), (4e5, 4), (4e5, 16), (1.6e6, 1),
                                           (1.6e6, 16))]
    fit = Fit.from_samples(works, [1e-4 + 2e-8 * w.n + 6e-4 * (w.tiles - 1) for w in works])
    assert fit.coef == pytest.approx((1e-4, 2e-8, 6e-4))


def test_fit_minimises_relative_error_and_keeps_coefficients_non_negative():
    # One small and several large calls with noise: the small one is still predicted
    # within a few percent (plain least squares would give it a large relative error).
    rng = np.random.default_rng(0)
    works = [Work(100)] + [Work(n) for n in rng.integers(10**6, 2 * 10**6, 20)]
    times = [50e-6 + 1e-9 * w.n for w in works]
    times = [t * (1 + 0.03 * rng.standard_normal()) if w.n > 100 else t
             for t, w in zip(times, works)]
    fit = Fit.from_samples(works, times)
    assert fit(Work(100)) == pytest.approx(times[0], rel=0.05)
    # Decreasing times would need a negative slope: the slope is dropped instead.
    fit = Fit.from_samples([Work(10), Work(1000)], [2.0, 1.0])
    assert fit.coef[1] == 0.0 and fit.coef[0] > 0
    assert Fit.from_samples([], []) is None


def test_fits_follow_every_new_run():
    m = Model("k", "sim")
    m.record(Work(1000), 1e-3, cycles=1000)
    m.record(Work(2000), 2e-3, cycles=2000)
    assert m.fit(Work(4000)) == pytest.approx(4e-3)
    assert m.cycle_fit(Work(4000)) == pytest.approx(4000)
    m.record(Work(1000), 2e-3, cycles=4000)       # the same size, twice as slow and more cycles
    assert m.fit(Work(1000)) > 1.1e-3 and m.cycle_fit(Work(1000)) > 1100


def test_stored_runs_load_with_defaults_and_without_malformed_ones():
    run = {"n": 10, "tiles": 1, "nbytes": 0, "seconds": 1e-3}
    m = Model.from_dict("k", "cpu", {"samples": [run, {**run, "cycles": 7}, {"n": 10}, "junk"]})
    assert m.samples == [{**run, "cycles": None, "overlap": 0.0},
                         {**run, "cycles": 7, "overlap": 0.0}]


def test_history_buckets_take_precedence_and_follow_the_machine():
    m = Model("k", "cpu")
    for n in (1000, 2000, 4000, 8000):
        m.record(Work(n), 1e-6 * n)
    # No run near 3000: the fit over every run.
    assert m.predict(Work(3000)) == (pytest.approx(3e-3, rel=0.01), "fit")
    # A size with its own history: the running mean of its real runs wins over the fit.
    for _ in range(5):
        m.record(Work(5000), 20e-3)
    seconds, source = m.predict(Work(5000))
    assert source == "history" and seconds == pytest.approx(20e-3, rel=0.05)
    # A near size in the same bucket is scaled by the fitted curve.
    scaled, source = m.predict(Work(5050))
    assert source == "history" and seconds < scaled < seconds * 1.02
    assert m.runs() == 9
    assert Model("k", "cpu").predict(Work(1)) == (None, "none")


def test_persistence_round_trip_keeps_other_machines(tmp_path):
    path = tmp_path / "perfmodels.json"
    a = PerfModels(path, machine="alpha")
    a.record("fir(taps=16)", "cpu", Work(4096, 1, 8192 + 16384), 1e-4, unit="element")
    a.save()
    b = PerfModels(path, machine="beta")
    assert len(b) == 0
    b.record("gemm(cols=4, rows=2)", "sim", Work(1e6, 4, 10), 2e-2, cycles=125000, unit="MAC")
    b.save()
    again = PerfModels(path, machine="alpha")
    m = again.model("fir(taps=16)", "cpu")
    assert m is not None and m.unit == "element" and m.runs() == 1
    assert again.predict("fir(taps=16)", "cpu", Work(4096, 1, 8192 + 16384))[0] == \
        pytest.approx(1e-4)
    data = json.loads(path.read_text())
    assert set(data["machines"]) == {"alpha", "beta"} and data["format"] == "hetflow-perfmodels"
    beta = PerfModels(path, machine="beta").model("gemm(cols=4, rows=2)", "sim")
    assert beta.cycle_fit is not None and beta.unit == "MAC"


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "perfmodels.json"
    models = PerfModels(path)
    models.record("k", "cpu", Work(10), 1.0)
    models.save()
    before = path.read_text()
    models.record("k", "cpu", Work(20), 2.0)

    def disk_full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        models.save()
    # The old file is intact and no temporary file is left behind.
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perfmodels.json"]


@pytest.mark.parametrize("content,reason", [
    ("{not json", "is not valid JSON (Expecting property name enclosed in double quotes at "
                  "line 1)"),
    ('{"something": "else"}', 'is not a hetflow perf-model file (no "format": '
                              '"hetflow-perfmodels")'),
    ('{"format": "hetflow-perfmodels", "version": 99, "machines": {}}',
     "has version 99; this hetflow reads 1"),
])
def test_a_corrupt_file_warns_and_is_kept_aside(tmp_path, content, reason):
    path = tmp_path / "perfmodels.json"
    path.write_text(content)
    with pytest.warns(PerfModelWarning) as caught:
        models = PerfModels(path)
    message = str(caught[0].message)
    assert message == (f"perf models file {path} {reason}; starting with no models (it is "
                       f"kept as perfmodels.json.corrupt when models are next saved)")
    assert len(models) == 0
    models.record("k", "cpu", Work(1), 1.0)
    models.save()
    assert (tmp_path / "perfmodels.json.corrupt").read_text() == content
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(PerfModels(path)) == 1


@pytest.mark.parametrize("section", ['[]', '{"models": 3}'])
def test_a_machine_section_that_is_not_an_object_warns(tmp_path, section):
    path = tmp_path / "perfmodels.json"
    path.write_text('{"format": "hetflow-perfmodels", "version": 1, "machines": '
                    '{"m1": %s, "m2": {"models": {}}}}' % section)
    with pytest.warns(PerfModelWarning) as caught:
        models = PerfModels(path, machine="m1")
    assert str(caught[0].message) == (
        f"perf models file {path} has a section for machine 'm1' that is not "
        f'{{"models": {{...}}}}; starting with no models (it is kept as '
        f"perfmodels.json.corrupt when models are next saved)")
    assert len(models) == 0


def test_kernel_work_sizes_calls_without_running_them():
    gemm = get_kernel("gemm")
    p = gemm.bind()
    a, b = np.ones((5, 70000), np.int8), np.ones((70000, 6), np.int8)
    work, unit, result = kernel_work(gemm, p, (a, b), {})
    # 3 x 2 tiles of 2x4, K cut in 2 chunks of at most 65535: 12 jobs.
    assert unit == "MAC" and work.tiles == 12 and work.n == 6 * 8 * 70000
    assert result.shape == (5, 6) and result.dtype == np.int32 and not result.any()
    fir = get_kernel("fir")
    work, unit, result = kernel_work(fir, fir.bind(taps=4), (np.zeros(100, np.int16),),
                                     {"h": np.ones(4, np.int16)})
    assert (work.n, work.tiles, work.nbytes, unit) == (100, 1, 200 + 400, "element")
    assert result.shape == (100,)
    # Arguments are bound as a device binds them, with its one-line errors.
    x, h = np.zeros(100, np.int16), np.ones(4, np.int16)
    with pytest.raises(StimulusError) as info:
        kernel_work(fir, fir.bind(taps=4), (x, x), {"h": h})
    assert str(info.value) == "fir: takes 1 input array(s) (x), got 2"
    with pytest.raises(StimulusError) as info:
        kernel_work(fir, fir.bind(taps=4), (x,), {"x": x, "h": h})
    assert str(info.value) == "fir: input 'x' given twice"
    work, unit = function_work((np.zeros((3, 4)), 7), {"y": np.zeros(5, np.int8)},
                               np.zeros(2))
    assert (work.n, work.nbytes, unit) == (17, 96 + 5 + 16, "element")


def test_shared_runs_give_the_slowdown_and_leave_the_time_alone():
    m = Model("gemm(cols=16, rows=16)", "cpu")
    for n in (1e6, 4e6, 16e6):
        m.record(Work(n), 1e-3 + 1e-9 * n)
    alone = m.predict(Work(4e6))
    assert m.slowdown() == (None, 0)
    # Runs that overlapped another device: 50% of the time at 3x -> 2x the time; all of
    # it at 2.5x.  Their median factor (2.5, 3, 3 -> 3) is the slowdown ...
    m.record(Work(4e6), 2 * (1e-3 + 4e-3), overlap=0.5)
    m.record(Work(16e6), 3 * (1e-3 + 16e-3) - 2 * (1e-3 + 16e-3) * 0.5, overlap=0.5)
    m.record(Work(1e6), 2.5 * 2e-3, overlap=1.0)
    factor, count = m.slowdown()
    assert count == 3 and factor == pytest.approx(3.0)
    # ... and they change neither the history nor the fit of the time alone.
    assert m.predict(Work(4e6)) == alone
    assert m.fit.coef == pytest.approx((1e-3, 1e-9, 0.0))
    assert m.runs() == 6 and m.shared == 3
    # Below QUIET a run counts as alone.
    m.record(Work(4e6), 5e-3, overlap=QUIET / 2)
    assert m.shared == 3
    # A shared run faster than alone (noise) does not make sharing a speed-up.
    fast = Model("k", "cpu")
    fast.record(Work(10), 1.0)
    fast.record(Work(10), 0.8, overlap=1.0)
    assert fast.slowdown() == (1.0, 1)
    with pytest.raises(ValueError, match=r"overlap 1\.5 is out of range; allowed 0\.\.1"):
        fast.record(Work(10), 1.0, overlap=1.5)


def test_only_shared_runs_still_predict_from_their_times():
    m = Model("k", "sim")
    m.record(Work(100), 2.0, overlap=0.9)
    assert m.predict(Work(100)) == (pytest.approx(2.0), "fit")
    assert m.slowdown() == (None, 1)                   # nothing alone to compare with


def test_models_slowdown_falls_back_to_the_device(tmp_path):
    models = PerfModels(tmp_path / "m.json")
    assert models.slowdown("a", "cpu") == (1.0, "none")
    for key, factor in (("a", 1.5), ("b", 2.5), ("c", 2.0)):
        models.record(key, "cpu", Work(10), 1.0)
        models.record(key, "cpu", Work(10), factor, overlap=1.0)
    assert models.slowdown("a", "cpu") == (pytest.approx(1.5), "measured")
    # A task never run shared on the cpu: the median of the cpu's measured factors.
    models.record("d", "cpu", Work(10), 1.0)
    assert models.slowdown("d", "cpu") == (pytest.approx(2.0), "device")
    assert models.slowdown("a", "sim") == (1.0, "none")
    # Overlaps and shared counts survive a save.
    models.save()
    again = PerfModels(tmp_path / "m.json")
    assert again.model("b", "cpu").shared == 1
    assert again.slowdown("b", "cpu") == (pytest.approx(2.5), "measured")
