"""The README's two commands, and CI running exactly the second one."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def readme_commands():
    """``{1: command, 2: command}``: the lines after the README's ``# 1.``/``# 2.`` comments."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    commands, number = {}, None
    for line in block.splitlines():
        m = re.match(r"# (\d)\. ", line)
        if m:
            number = int(m.group(1))
        elif line.strip() and not line.startswith("#") and number is not None:
            commands[number] = line
            number = None
    return commands


def test_ci_runs_the_readme_test_command_verbatim():
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert ci == [readme_commands()[2]]


def test_the_test_command_runs_with_the_system_path_and_a_cache_in_the_clone():
    command = readme_commands()[2]
    assert command.startswith('env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin '
                              'HETFLOW_CACHE="$PWD/.hetflow-cache" sh -c ')
    assert ".hetflow-cache/" in (ROOT / ".gitignore").read_text().splitlines()


def test_both_commands_call_the_venv_without_activating_it():
    for command in readme_commands().values():
        assert "activate" not in command
        assert re.search(r"\.venv/bin/(hetflow|python)", command)
