"""A generated project carries its own tests, and they pass (issue 12).

One project for the module: the example in the tutorial's layout, init (the default
schedule), convert-seed raw_customers (so there is a loader for the tests to find). Its
tests run with `python -m pytest` inside it, as its README says, with parse on load on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import CLI, isolated_env
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PACKAGE = "jaffle_dagster"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("own_tests")
    env = isolated_env(root)
    for cmd, cwd in (
        (["example", "jaffle_shop"], root),
        (["init", "--project-name", PACKAGE], root / "jaffle_shop"),
        (["convert-seed", "raw_customers"], root / "jaffle_shop" / PACKAGE),
    ):
        subprocess.run([str(CLI), *cmd], cwd=cwd, env=env, check=True, capture_output=True)
    return root / "jaffle_shop" / PACKAGE, env


def test_the_projects_own_tests_pass(project):
    project_dir, env = project
    readme = (project_dir / "README.md").read_text(encoding="utf-8")
    assert "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 pytest" in readme
    assert "`tests/test_definitions.py`" in readme and "`tests/test_schedules.py`" in readme
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project_dir,
        env=dict(env, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("5 passed"), proc.stdout[-3000:]


def test_the_tests_fail_when_a_loader_is_left_out(project, tmp_path):
    """They test something: definitions.py without seed_assets fails test_definitions.py."""
    project_dir, env = project
    definitions = project_dir / PACKAGE / "definitions.py"
    text = definitions.read_text(encoding="utf-8")
    broken = text.replace(", *load_assets_from_modules([seed_assets])]", "]")
    assert broken != text
    definitions.write_text(broken, encoding="utf-8")
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "tests/test_definitions.py",
            ],
            cwd=project_dir,
            env=dict(env, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        definitions.write_text(text, encoding="utf-8")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout[-3000:]


def test_package_dry_run_shows_the_copy_and_writes_nothing(project):
    project_dir, env = project
    before = tree_hash(project_dir, ignore=())
    proc = subprocess.run(
        [str(CLI), "package", "--dry-run"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"+++ b/{PACKAGE}/{PACKAGE}/dbt_project/dbt_project.yml" in proc.stdout
    assert f"+++ b/{PACKAGE}/{PACKAGE}/data/raw_customers.csv" in proc.stdout
    assert "nothing was written" in proc.stderr
    assert tree_hash(project_dir, ignore=()) == before
    assert not (project_dir / "dist").exists()
    assert os.path.isfile(project_dir.parent / "target" / "manifest.json")
