"""Sphinx configuration of the hetflow documentation.

Build with one command (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The pages under ``reference/`` are generated at build time from the code by
``_ext/hetflow_docs.py``: one page per CLI command (from
``hetflow.cli.build_parser()``), the built-in kernels (from the kernel
registry) and the supported boards (from ``hetflow.boards.registry``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import hetflow  # noqa: E402  (the installed package: pip install -e ".[docs]")

project = "hetflow"
author = "the hetflow developers"
copyright = "hetflow developers"
release = version = hetflow.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "hetflow_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_heading_anchors = 3

# numpydoc-style docstrings (Parameters / Returns / Raises / Attributes sections).
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True   # "Attributes" as fields: no duplicate entries beside autodoc members
napoleon_custom_sections = [("Class attributes", "params_style")]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
autodoc_typehints = "none"

html_theme = "alabaster"
html_title = f"hetflow {release}"
html_static_path = []
