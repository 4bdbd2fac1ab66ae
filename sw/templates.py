"""Text templates that ship as package data, with ``@@name@@`` placeholders.

The SymbiYosys job (:mod:`hetflow.formal.runner`) and the files of a new
project (:mod:`hetflow.scaffold`) are written from such templates.  The
``@@`` marks leave the braces of Python, Tcl and ``${{ }}`` workflow
expressions alone, so nothing needs escaping.
"""

import re

__all__ = ["render"]


def render(text, values):
    """``text`` with every ``@@key@@`` replaced by ``values[key]`` (a str).

    Raises
    ------
    RuntimeError
        When a placeholder is left without a value: the template and its
        caller are out of step, hetflow's bug and never the user's input.
    """
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    leftover = re.search(r"@@\w+@@", text)
    if leftover is not None:
        raise RuntimeError(f"template placeholder {leftover.group()} has no value")
    return text
