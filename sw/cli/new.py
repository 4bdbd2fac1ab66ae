"""Create a new kernel project: one working kernel, its tests, a host script and CI.

Writes NAME/ (or --dir) with pyproject.toml (a hetflow.kernels entry point),
src/PACKAGE/kernel.py (an Amaranth kernel with its NumPy golden model),
tests/ (pytest, using the hetflow_verify fixture), host.py and a GitHub
Actions workflow.  Refuses a directory that exists and is not empty.
"""

import os

from ..scaffold import create_project


def add_arguments(parser):
    parser.add_argument("name", metavar="NAME",
                        help="project name: lowercase letters, digits, '_' and '-' "
                             "(the package and the kernel are named after it)")
    parser.add_argument("--dir", metavar="DIR", default=None,
                        help="project directory to create (default: ./NAME)")


def run(args):
    project = create_project(args.name, args.dir)
    shown = os.path.relpath(project.path)
    if shown.startswith(".."):
        shown = str(project.path)
    print(f"created {shown}/: kernel '{project.kernel}' (class {project.class_name})")
    for rel in project.files:
        print(f"  {rel}")
    print("next:")
    print(f"  cd {shown}")
    print("  pip install -e .          # registers the kernel with hetflow")
    print("  pytest                    # golden model, simulation, host script")
    print("  hetflow run host.py --device sim")
    return 0
