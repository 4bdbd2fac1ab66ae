"""One cache root for every cache: HETFLOW_CACHE, else XDG_CACHE_HOME/hetflow, else ~/.cache."""

import subprocess
import sys
from pathlib import Path

import pytest

from hetflow import cache
from hetflow.cache import cache_dir, tool_environment


@pytest.fixture
def no_cache_variables(monkeypatch):
    for name in ("HETFLOW_CACHE", "XDG_CACHE_HOME", "YOWASP_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_hetflow_cache_wins(no_cache_variables, tmp_path):
    no_cache_variables.setenv("HETFLOW_CACHE", str(tmp_path / "h"))
    no_cache_variables.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "h"


def test_xdg_cache_home_next(no_cache_variables, tmp_path):
    no_cache_variables.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "hetflow"


def test_home_last(no_cache_variables, tmp_path):
    no_cache_variables.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "hetflow"


def test_every_cache_is_under_the_root(no_cache_variables, tmp_path):
    """Bitstreams, simulator builds, performance models and YoWASP's compiled tools."""
    from hetflow.boards.build import cache_root
    from hetflow.sched.perfmodel import default_path
    no_cache_variables.setenv("XDG_CACHE_HOME", str(tmp_path))
    no_cache_variables.delenv("HETFLOW_PERFMODELS", raising=False)
    root = tmp_path / "hetflow"
    assert cache_root() == root / "bitstreams"
    assert default_path() == root / "perfmodels.json"
    assert tool_environment() == {"YOWASP_CACHE_DIR": str(root / "yowasp")}


def test_a_yowasp_cache_the_user_chose_is_kept(no_cache_variables, tmp_path):
    no_cache_variables.setenv("YOWASP_CACHE_DIR", str(tmp_path))
    assert tool_environment() == {}
    assert isinstance(cache_dir(), Path)


def _program(tmp_path, name, seconds):
    """A program that notes when it ran (start and end) and takes ``seconds``."""
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\necho "$(date +%s.%N) start" >> "{tmp_path}/runs"\n'
                      f'sleep {seconds}\necho "$(date +%s.%N) end" >> "{tmp_path}/runs"\n')
    script.chmod(0o755)
    return script


def _runs(tmp_path):
    path = tmp_path / "runs"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def test_processes_starting_a_cold_yowasp_program_together_compile_it_one_at_a_time(
        no_cache_variables, tmp_path):
    no_cache_variables.setenv("HETFLOW_CACHE", str(tmp_path / "cache"))
    program = _program(tmp_path, "yowasp-tool", 0.5)
    code = f"from hetflow.cache import compile_yowasp; compile_yowasp({str(program)!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    events = [line.split()[1] for line in _runs(tmp_path)]
    assert events == ["start", "end", "start", "end"]      # never two at once
    assert (tmp_path / "cache" / "yowasp" / ".yowasp-tool.lock").is_file()


def test_a_yowasp_program_is_started_once_per_process_and_a_slow_start_is_announced(
        no_cache_variables, tmp_path):
    no_cache_variables.setenv("HETFLOW_CACHE", str(tmp_path / "cache"))
    no_cache_variables.setattr(cache, "COMPILE_NOTICE_S", 0.1)
    program = str(_program(tmp_path, "yowasp-slow", 0.4))
    said = []
    cache.compile_yowasp(program, said.append)
    cache.compile_yowasp(program, said.append)
    assert len(_runs(tmp_path)) == 2                       # one start, one end
    assert said == ["compiling yowasp-slow for this machine (its first start; it can take "
                    "minutes, once)"]


def test_programs_not_from_yowasp_are_not_started(no_cache_variables, tmp_path):
    no_cache_variables.setenv("HETFLOW_CACHE", str(tmp_path / "cache"))
    cache.compile_yowasp(str(_program(tmp_path, "yosys", 0)))
    assert _runs(tmp_path) == []
    assert not (tmp_path / "cache").exists()
