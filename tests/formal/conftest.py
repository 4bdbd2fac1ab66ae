"""Fixtures shared by the formal tests."""

import shutil

import pytest


@pytest.fixture
def kept():
    """Collects results (or proofs) whose kept run directories are deleted after the test."""
    results = []
    yield results.append
    for result in results:
        for run in (getattr(result, "cover", None), getattr(result, "check", None), result):
            if getattr(run, "workdir", None) is not None:
                shutil.rmtree(run.workdir, ignore_errors=True)
