"""``hetflow new``: the generated project works right away, and bad requests write nothing.

The real ``pip install -e .`` of a generated project into a throwaway venv, then its
``pytest``, ``hetflow kernels`` and ``hetflow verify NAME``, is the tutorial's own test
(tests/docs/test_tutorial.py), which runs those very commands.
"""

import os
import subprocess
import sys
import time

import pytest

from hetflow.scaffold import FILES, ScaffoldError, check_name, create_project

from ..conftest import ROOT

NAME = "demo_kernel"   # one name for every test here: its simulator builds are cached once


def hetflow(*args, cwd=ROOT, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})})


def one_line_error(proc, text):
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert text in lines[0], lines[0]


def with_src(project):
    """Environment that imports the project's package without installing it."""
    path = os.pathsep.join(filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project made by ``hetflow new`` (shared: the tests below only read it)."""
    parent = tmp_path_factory.mktemp("new")
    proc = hetflow("new", NAME, cwd=parent)
    assert proc.returncode == 0, proc.stderr
    return parent / NAME


def test_new_writes_the_project(project):
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == sorted(t.format(package=NAME) for t in FILES.values())
    kernel = (project / "src" / NAME / "kernel.py").read_text()
    assert "class DemoKernel(Kernel):" in kernel and 'name = "demo_kernel"' in kernel
    assert "TODO" not in kernel and "@@" not in kernel
    pyproject = (project / "pyproject.toml").read_text()
    assert '[project.entry-points."hetflow.kernels"]\ndemo_kernel = "demo_kernel:DemoKernel"' \
        in pyproject
    # The workflow file installs with pip only and runs pytest.
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert all(r.startswith("python -m pip install") for r in runs[:2]), runs
    assert runs[-1].startswith("python -m pytest")
    assert not any(word in " ".join(runs) for word in ("apt", "conda", "brew"))
    # hetflow's cache is kept, keyed by the tools' versions and the kernel's sources ...
    assert workflow["jobs"]["test"]["env"]["HETFLOW_CACHE"].endswith("/.hetflow-cache")
    cache = next(step for step in steps if step.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == ".hetflow-cache"
    assert "steps.tools.outputs.hash" in cache["with"]["key"]
    assert "hashFiles('src/**', 'pyproject.toml')" in cache["with"]["key"]
    # ... and a failing run uploads its waveforms and the JUnit report.
    assert "--basetemp=test-output --junitxml=test-output/junit.xml" in runs[-1]
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload"))
    assert upload["if"] == "failure()"
    assert "test-output/**/*.vcd" in upload["with"]["path"]
    assert "test-output/junit.xml" in upload["with"]["path"]


def test_generated_tests_pass_without_installing(project):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=project, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **with_src(project)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout, proc.stdout
    print(f"generated project's tests: {time.monotonic() - t0:.1f} s")


def test_kernel_is_found_by_module_path(project):
    # lanes=2 as in the generated test: the simulator build is cached already.
    proc = hetflow("verify", f"{NAME}:DemoKernel", "--param", "lanes=2", "--count", "4", "-q",
                   env=with_src(project))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("PASS demo_kernel lanes=2: 4/4")
    proc = hetflow("export", f"{NAME}:DemoKernel", "--format", "c-header", env=with_src(project))
    assert proc.returncode == 0 and "SCALE" in proc.stdout.upper(), proc.stderr


def test_host_script_runs_on_sim(project):
    proc = hetflow("run", "host.py", "--device", "sim", cwd=project, env=with_src(project))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sim: 1000 elements, 1002 cycles, OK" in proc.stdout


@pytest.mark.parametrize("name,message", [
    ("Demo", "project name 'Demo' is not allowed; use lowercase letters, digits, '_' and '-', "
             "starting with a letter"),
    ("2fast", "project name '2fast' is not allowed"),
    ("my kernel", "project name 'my kernel' is not allowed"),
    ("demo-", "project name 'demo-' is not allowed"),
    ("class", "project name 'class' is a Python keyword; choose another name"),
    ("json", "project name 'json' would shadow the module 'json'; choose another name"),
    ("hetflow", "project name 'hetflow' would shadow the module 'hetflow'"),
    ("fir", "project name 'fir' is the name of a built-in kernel; choose another name"),
])
def test_bad_name_is_one_line_and_writes_nothing(tmp_path, name, message):
    one_line_error(hetflow("new", name, cwd=tmp_path), message)
    assert list(tmp_path.iterdir()) == []


def test_names_with_dashes():
    assert check_name("edge-detect") == ("edge_detect", "EdgeDetect")
    assert check_name("k2") == ("k2", "K2")


def test_refuses_a_non_empty_directory(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    proc = hetflow("new", NAME, "--dir", str(target))
    one_line_error(proc, f"directory {target} already exists and is not empty; "
                         f"choose another name or --dir")
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["busy"]   # no temporary directory left
    (tmp_path / "file").write_text("x")
    one_line_error(hetflow("new", NAME, "--dir", str(tmp_path / "file")),
                   "cannot create the project in")


def test_fills_an_empty_directory_and_creates_parents(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    project = create_project("edge-detect", empty)
    assert project.path == empty and project.kernel == "edge_detect"
    assert (empty / "src" / "edge_detect" / "kernel.py").is_file()
    deep = create_project(NAME, tmp_path / "a" / "b" / NAME)
    assert (deep.path / "pyproject.toml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "empty"]
    with pytest.raises(ScaffoldError, match="already exists and is not empty"):
        create_project(NAME, deep.path)
