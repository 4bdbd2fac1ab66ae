"""Out-of-tree kernels are found like the built-ins."""

import sys
from pathlib import Path

import pytest

from hetflow.hw import KernelNotFound, get_kernel, kernel_names
from hetflow.sim.verify import verify

from ..conftest import install_kernel_plugin

EXAMPLE = Path(__file__).parents[2] / "examples" / "user_kernel" / "src"


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution on sys.path declaring hetflow.kernels entry points, as pip leaves it."""
    install_kernel_plugin(tmp_path, "my-kernels", "0.1.0",
                          {"clamp": "my_kernels:Clamp", "broken": "my_kernels:DoesNotExist"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    sys.modules.pop("my_kernels", None)
    sys.modules.pop("my_kernels.clamp", None)


def test_entry_point_kernel_is_registered(installed_plugin):
    assert "clamp" in kernel_names()
    assert get_kernel("clamp").name == "clamp"


def test_broken_plugin_is_one_clear_error(installed_plugin):
    with pytest.raises(KernelNotFound, match=r"^kernel 'broken' \(my_kernels:DoesNotExist\) failed "
                                             r"to load: AttributeError: "):
        get_kernel("broken")


@pytest.mark.slow   # a verify/cut of the same kind stays in CI
def test_example_kernel_verifies_by_module_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    result = verify("my_kernels:Clamp", {"lanes": 2}, count=5, seed=1)
    assert result.passed, result.summary()
