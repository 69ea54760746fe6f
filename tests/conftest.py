"""Shared fixtures: isolation from the user's machine, the example, the session's servers.

Shared functions live in tests/helpers; a test module imports them from there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import BIN, EXAMPLE, run_cli

# The PostgreSQL server and the Spark cluster of the session, for every test that asks.
from tests.helpers.postgres import pg_database, pg_server  # noqa: F401 (fixtures)
from tests.helpers.spark import spark_schema, spark_server  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def isolation(tmp_path_factory, monkeypatch):
    """Point HOME, DAGSTER_HOME and dbt's settings into tmp; plain, narrow output."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("dagster_home")))
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.delenv("DAGSTER_DBT_PARSE_PROJECT_ON_LOAD", raising=False)
    monkeypatch.delenv("JAFFLE_SHOP_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    yield home


@pytest.fixture
def example_project(tmp_path) -> Path:
    """A fresh copy of the bundled example dbt project."""
    dest = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE, dest)
    return dest


@pytest.fixture
def scaffolded(example_project, tmp_path) -> tuple[Path, Path]:
    """(dbt project, Dagster project) after `dbtscaffold init` on the example."""
    run_cli("init", "--dbt-project-dir", example_project, "--output-dir", tmp_path, check=0)
    return example_project, tmp_path / "jaffle_shop_dagster"
