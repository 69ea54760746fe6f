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


def test_materialize_a_selection_through_dagster(project, tmp_path):
    env = isolated_env(tmp_path)  # no DAGSTER_HOME: the run goes to the project's .dagster_home
    # dbt builds the tests of the selected models too, and a relationships test reads both
    # of its models: select every staging model, so that only the marts are left out.
    staging = ",".join(
        f"{kind}_{t}" for kind in ("raw", "stg") for t in ("customers", "orders", "payments")
    )
    proc = materialize("--select", staging, cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "built  raw_customers" in proc.stdout  # results on stdout, progress on stderr
    assert "built  stg_customers" in proc.stdout
    assert "Materialized 6 assets" in proc.stderr

    import duckdb

    con = duckdb.connect(str(project.parent / "jaffle_shop" / "jaffle_shop.duckdb"), read_only=True)
    try:
        names = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        assert con.execute("select count(*) from stg_customers").fetchall() == [(100,)]
    finally:
        con.close()
    assert {"raw_customers", "stg_customers", "stg_orders", "stg_payments"} <= names
    assert "customers" not in names and "orders" not in names

    # The run is recorded where `dbtscaffold dev` will show it.
    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        runs = instance.get_runs()
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]


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
