"""One cache root for every cache: HETFLOW_CACHE, else XDG_CACHE_HOME/hetflow, else ~/.cache."""

from pathlib import Path

import pytest

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
