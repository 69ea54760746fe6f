"""Which fast loaders a project's runtime copy gets (issue 22): load_<type>.py only where the dbt
profile names the adapter type when init runs; without its own, a load uses dbt's seed loading
(slower, the same table), and `check` hints that `init --force` copies the faster one.

Real dbt, DuckDB and Dagster; the PostgreSQL target is only named, never connected to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli, run_tool

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PACKAGE = "jaffle_shop_dagster"
DUCKDB = "    dev:\n      type: duckdb\n      path: jaffle_shop.duckdb\n      threads: 1\n"
POSTGRES = (
    "    pg:\n      type: postgres\n      host: 127.0.0.1\n      port: 5432\n      user: u\n"
    "      password: p\n      dbname: d\n      schema: s\n      threads: 1\n"
)
# load_csv in the project, as a loader asset calls it: the loader it used, and the row count.
LOAD = """
import sys
from pathlib import Path
from dagster_dbt import DbtProject
from jaffle_shop_dagster._dbtscaffold import load_csv
from jaffle_shop_dagster._dbtscaffold.loaders import _fast_loader
project = DbtProject(Path("..").resolve())
rows = load_csv(project, Path("../seeds/raw_orders.csv"), schema=sys.argv[1], table="raw_orders",
                column_types={"order_date": "date"})
print("fast" if _fast_loader("duckdb") else "dbt", rows)
"""


def _profile(dbt_dir: Path, *outputs: str) -> None:
    target = "dev" if DUCKDB in outputs else "pg"
    text = f"jaffle_shop:\n  target: {target}\n  outputs:\n" + "".join(outputs)
    (dbt_dir / "profiles.yml").write_text(text, encoding="utf-8")


def _copy(dagster_dir: Path) -> set[str]:
    return {p.name for p in (dagster_dir / PACKAGE / "_dbtscaffold").glob("load_*.py")}


def _fast_loaders(dbt_dir: Path) -> dict:
    proc = run_cli("check", "--json", "--no-load", cwd=dbt_dir)  # no manifest yet: exit 1
    report = json.loads(proc.stdout)
    return next(c for c in report["checks"] if c["id"] == "fast_loaders")


def _load(dagster_dir: Path, schema: str) -> tuple[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, schema], cwd=dagster_dir, capture_output=True, text=True,
        env={**os.environ, "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    how, rows = proc.stdout.split()[-2:]
    return how, int(rows)


def _table(db: Path, schema: str) -> tuple[list[tuple], list[tuple]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns where table_schema "
            "= ? and table_name = 'raw_orders' order by ordinal_position",
            [schema],
        ).fetchall()
        return columns, con.execute(f"select * from {schema}.raw_orders order by all").fetchall()
    finally:
        con.close()


def test_a_profile_naming_duckdb_only_gets_no_postgres_loader(example_project):
    _profile(example_project, DUCKDB)
    run_cli("init", cwd=example_project, check=0)
    assert _copy(example_project / PACKAGE) == {"load_duckdb.py"}
    found = _fast_loaders(example_project)
    assert found["status"] == "ok", found
    assert found["message"].startswith("the faster loaders of duckdb in "), found


def test_without_its_fast_loader_a_load_uses_dbts_seed_loading_and_check_hints(example_project):
    dbt_dir, dagster_dir = example_project, example_project / PACKAGE
    # init when the profile names PostgreSQL only: no DuckDB loader is copied.
    _profile(dbt_dir, POSTGRES)
    run_cli("init", cwd=dbt_dir, check=0)
    assert _copy(dagster_dir) == {"load_postgres.py"}
    # Then the profile moves to DuckDB: loads work, with dbt's seed loading.
    _profile(dbt_dir, DUCKDB)
    found = _fast_loaders(dbt_dir)
    assert found["status"] == "hint", found
    assert found["message"] == (
        f"the profile names duckdb, but {PACKAGE}/{PACKAGE}/_dbtscaffold has no load_duckdb.py: "
        "loads there use dbt's seed loading (slower)"
    )
    assert found["fix"] == (
        f"copy the faster loader: `dbtscaffold init --project-name {PACKAGE} --force`, then "
        "commit the diff"
    )
    assert _load(dagster_dir, "by_dbt") == ("dbt", 99)
    # The table `dbt seed` builds, rows and column types.
    run_tool("dbt", "seed", "--select", "raw_orders", cwd=dbt_dir)
    db = dbt_dir / "jaffle_shop.duckdb"
    seeded = _table(db, "main")
    assert len(seeded[1]) == 99 and ("order_date", "DATE") in seeded[0]
    assert _table(db, "by_dbt") == seeded
    # init --force copies the profile of the day's loaders: DuckDB's in, PostgreSQL's out.
    run_cli("init", "--force", cwd=dbt_dir, check=0)
    assert _copy(dagster_dir) == {"load_duckdb.py"}
    assert _fast_loaders(dbt_dir)["status"] == "ok"
    assert _load(dagster_dir, "by_duckdb") == ("fast", 99)
    assert _table(db, "by_duckdb") == seeded
