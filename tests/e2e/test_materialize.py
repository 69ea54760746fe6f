"""`dbtscaffold materialize`: a headless Dagster run of the project's assets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import CLI, isolated_env, run, scaffold

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def materialize(*args, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([CLI, "materialize", *args], cwd=cwd, env=env, check=None)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return scaffold(tmp_path_factory.mktemp("materialize"))


# A selection through Dagster (results on stdout, the runs in the project's .dagster_home,
# only the selected tables built): test_cli_conventions.py's
# test_selections_empty_glob_and_dbt_style_against_the_example.


def test_materialize_unknown_selection_is_one_line(project, tmp_path):
    proc = materialize("--select", "no_such_asset", cwd=project, env=isolated_env(tmp_path))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("error: No asset matches --select `no_such_asset`; ")
    assert "Traceback" not in proc.stderr


def test_materialize_without_a_project_is_one_line(tmp_path):
    proc = materialize(cwd=tmp_path, env=isolated_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: No Dagster project found here")
    assert proc.stderr.count("\n") == 1


def test_materialize_failing_model_shows_dbt_error(tmp_path):
    project = scaffold(tmp_path)
    sql = project.parent / "jaffle_shop" / "models" / "marts" / "orders.sql"
    text = sql.read_text()
    sql.write_text(text.replace("select", "select no_such_column,", 1))
    proc = materialize(cwd=project, env=isolated_env(tmp_path))
    assert proc.returncode == 1
    assert "no_such_column" in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(
        "error: Materialization failed in step `jaffle_shop_dbt_assets` (run "
    )
    assert "Traceback" not in proc.stderr
    assert "Stack Trace" not in proc.stderr
