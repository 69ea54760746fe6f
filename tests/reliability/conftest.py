"""The reliability suites' fixtures: one scaffolded template per module, mounts per test.

The template is built once per module (once per xdist worker) and copied per case with
`copy_template` (tests/helpers/projects.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.projects import Mounts, build_template, mount_problem


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One scaffolded example per module (and per xdist worker); copy it, never edit it."""
    return build_template(tmp_path_factory.mktemp("template"))


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
