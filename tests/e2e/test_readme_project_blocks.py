"""The tool README's blocks after the first, and the generated project's README, as written.

In the venv of `readme_checkout` (the first block: tests/e2e/test_readme_blocks.py says what
is left out and why). Two tests, which run side by side: the blocks that only run commands,
and, in order, the blocks that install into the venv (two generated projects of one name
cannot be installed at once) and then the README of the last project they made.
"""

from __future__ import annotations

import pytest

from tests.helpers.cli import REPO as ROOT
from tests.helpers.readme import (
    Runner,
    blocks,
    installs,
    readme_checkout,  # noqa: F401 (a fixture)
    runnable,
    user_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.venv, pytest.mark.slow]


def later_blocks() -> list[tuple[int, list[str]]]:
    """The tool README's blocks after the first, numbered from 1."""
    return list(enumerate(blocks(ROOT / "README.md")[1:], 1))


def test_the_blocks_that_install_nothing_run_as_written(readme_checkout, tmp_path, isolation):  # noqa: F811
    runner = Runner(readme_checkout, user_env(isolation))
    mine = [(i, b) for i, b in later_blocks() if runnable(b) and not installs(b)]
    assert mine, "no block of the README runs only commands"
    for i, block in mine:
        workdir = tmp_path / f"block{i}"
        workdir.mkdir()
        runner.run(block, workdir)
    assert any(c.startswith("dbtscaffold materialize") for c in runner.ran), runner.ran


def test_the_blocks_that_install_then_the_generated_readme_run_as_written(
    readme_checkout,  # noqa: F811
    tmp_path,
    isolation,
):
    runner = Runner(readme_checkout, user_env(isolation))
    project = None
    for i, block in later_blocks():
        if not installs(block):
            continue
        workdir = tmp_path / f"block{i}"
        workdir.mkdir()
        end = runner.run(block, workdir)
        if (end / "pyproject.toml").is_file() and "init" in " ".join(block):
            project = end  # the last project a block made: its README is next
    assert project is not None and (project / "dist").is_dir()

    generated = blocks(project / "README.md")
    assert generated, "the generated README has no command block"
    for block in generated:
        runner.run(block, project)
    assert any("prepare-and-package" in c for c in runner.ran)
    assert any(c.startswith("DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 pytest") for c in runner.ran)
    assert list((project / "dist").glob("*.whl"))
