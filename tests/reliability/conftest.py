"""The reliability suites' fixtures: one scaffolded template, mounts per test.

The template is the session's `initialized_template` (built once per xdist worker), copied
per case with `copy_template` (tests/helpers/projects.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.projects import Mounts, mount_problem


@pytest.fixture(scope="module")
def template(initialized_template) -> Path:
    """The session's scaffolded example (tests/conftest.py, once per xdist worker): the
    example and the Dagster project `init` made for it; copy it, never edit it."""
    return initialized_template


@pytest.fixture
def mounts():
    problem = mount_problem()
    if problem:
        pytest.skip(f"needs mount (tmpfs, read-only bind): {problem}")
    m = Mounts()
    try:
        yield m
    finally:
        m.undo()
