"""The whole job on PostgreSQL: example -> init -> convert-seed -> materialize (issue 7).

Row counts, column types and rows are read back from the server. The server comes from
.ci/services, else the `pg_server` fixture starts one; each test gets its own database.
"""

from __future__ import annotations

import socket

import pytest

from tests.helpers.cli import run_cli, run_tool
from tests.helpers.postgres import (
    MODEL_ROWS,
    PG,
    SCHEMA,
    column_types,
    pg_counts,
    query,
    table_digest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]


def materialize(dagster_dir, *, select="*", env=None, check=0):
    """`dbtscaffold materialize` on the postgres target."""
    return run_cli(
        "materialize", "--select", select, cwd=dagster_dir, env={**PG, **(env or {})}, check=check
    )


def init(tmp_path):
    run_cli(
        "init", "--dbt-project-dir", tmp_path / "jaffle_shop", "--output-dir", tmp_path, check=0
    )


def example_and_init(tmp_path):
    run_cli("example", tmp_path / "jaffle_shop", check=0)
    init(tmp_path)


@pytest.fixture
def workflow(tmp_path, pg_database):
    """example -> init -> convert-seed raw_customers on the postgres target."""
    example_and_init(tmp_path)
    dagster_dir = tmp_path / "jaffle_shop_dagster"
    run_cli("convert-seed", "raw_customers", cwd=dagster_dir, env=PG, check=0)
    return tmp_path / "jaffle_shop", dagster_dir, pg_database


def test_full_workflow_on_postgres(workflow):
    dbt_dir, dagster_dir, db = workflow
    assets = (dagster_dir / "jaffle_shop_dagster" / "seed_assets.py").read_text(encoding="utf-8")
    assert 'kinds={"postgres"}' in assets
    assert '"dbt-postgres' in (dagster_dir / "pyproject.toml").read_text(encoding="utf-8")

    # The same project built the plain dbt way (seeds, no Dagster) in another schema: the
    # loader must give the same table, column types and rows as `dbt seed`.
    baseline = dbt_dir.parent / "baseline"
    run_cli("example", baseline, check=0)
    run_tool(
        "dbt",
        "build",
        "--profiles-dir",
        ".",
        cwd=baseline,
        env={**PG, "JAFFLE_SHOP_PG_SCHEMA": "baseline"},
    )

    proc = materialize(dagster_dir)
    assert "Materialized " in proc.stderr, proc.stderr
    counts = pg_counts(db, [*MODEL_ROWS, "raw_customers", "raw_orders", "raw_payments"])
    assert counts == {**MODEL_ROWS, "raw_customers": 100, "raw_orders": 99, "raw_payments": 113}
    assert column_types(db, "raw_customers") == column_types(db, "raw_customers", "baseline")
    for table in ("raw_customers", "customers", "orders"):
        assert table_digest(db, table) == table_digest(db, table, "baseline"), table
    assert not (dbt_dir / "jaffle_shop.duckdb").exists()
    [(oid_before,)] = query(db, "select 'jaffle_shop.raw_customers'::regclass::oid")

    # Convert raw_orders too, with one more column type than dbt_project.yml's
    # `order_date: date`; then materialize both loaders: raw_customers is loaded a second
    # time, which replaces its rows (no duplicates) and keeps the table, so the views dbt
    # built on it stay valid.
    project_yml = dbt_dir / "dbt_project.yml"
    text = project_yml.read_text(encoding="utf-8")
    assert "        order_date: date\n" in text
    more_types = "        order_date: date\n        status: varchar(20)\n"
    project_yml.write_text(text.replace("        order_date: date\n", more_types), encoding="utf-8")
    run_cli("convert-seed", "raw_orders", cwd=dagster_dir, env=PG, check=0)
    materialize(dagster_dir, select="raw_customers,raw_orders")
    assert pg_counts(db, ["raw_customers", "stg_customers", "raw_orders"]) == {
        "raw_customers": 100,
        "stg_customers": 100,
        "raw_orders": 99,
    }
    [(oid_after,)] = query(db, "select 'jaffle_shop.raw_customers'::regclass::oid")
    assert oid_after == oid_before
    assert query(db, "select count(distinct id) from jaffle_shop.raw_customers") == [(100,)]
    assert column_types(db, "raw_orders") == [
        ("id", "integer"),
        ("user_id", "integer"),
        ("order_date", "date"),
        ("status", "character varying"),
    ]
    assert query(
        db,
        "select character_maximum_length from information_schema.columns "
        "where table_schema = %s and table_name = 'raw_orders' and column_name = 'status'",
        (SCHEMA,),
    ) == [(20,)]


LOADS = """
import sys
from pathlib import Path
from jaffle_shop_dagster._dbtscaffold import load_csv
from jaffle_shop_dagster.constants import dbt_project

csv = Path("data/raw_customers.csv")
# Same columns twice (the table is kept and refilled), then new column types (the table is
# replaced by a new one), and so on.
for i in range(int(sys.argv[1])):
    types = {"first_name": "varchar(40)"} if (i // 2) % 2 else {}
    rows = load_csv(dbt_project, csv, schema="jaffle_shop", table="raw_customers", column_types=types)
    assert rows == 100, rows
"""


def test_loader_replaces_the_table_atomically_under_concurrent_readers(workflow):
    import threading

    import psycopg2

    _, dagster_dir, db = workflow
    env = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1", **PG}
    run_tool("python", "-c", LOADS, "1", cwd=dagster_dir, env=env)  # creates the table
    seen: list[object] = []
    reads = [0]
    done = threading.Event()

    def reader():
        con = psycopg2.connect(**db.dsn())
        con.autocommit = True
        try:
            with con.cursor() as cur:
                while not done.is_set():
                    try:
                        cur.execute(
                            "select count(*), count(distinct id) from jaffle_shop.raw_customers"
                        )
                        row = cur.fetchone()
                    except psycopg2.Error as e:
                        row = f"{type(e).__name__}: {e}"
                    if row != (100, 100):
                        seen.append(row)
                    reads[0] += 1
        finally:
            con.close()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        run_tool("python", "-c", LOADS, "8", cwd=dagster_dir, env=env)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert seen == []
    assert reads[0] > 0
    assert column_types(db, "raw_customers")[1] == ("first_name", "character varying")
    # No staging table is left behind.
    assert query(
        db,
        "select table_name from information_schema.tables where table_schema = %s",
        (SCHEMA,),
    ) == [("raw_customers",)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_server_down_gives_one_clear_error_naming_host_and_port(tmp_path, monkeypatch):
    # No server needed: the point is that there is none.
    port = _closed_port()
    for key, value in {
        "JAFFLE_SHOP_PG_HOST": "127.0.0.1",
        "JAFFLE_SHOP_PG_PORT": str(port),
        "JAFFLE_SHOP_PG_USER": "nobody",
        "JAFFLE_SHOP_PG_PASSWORD": "x",
        "JAFFLE_SHOP_PG_DBNAME": "jaffle_shop",
    }.items():
        monkeypatch.setenv(key, value)
    example_and_init(tmp_path)
    dagster_dir = tmp_path / "jaffle_shop_dagster"
    run_cli("convert-seed", "raw_customers", cwd=dagster_dir, env=PG, check=0)
    proc = materialize(dagster_dir, select="raw_customers", check=1)
    assert "Traceback" not in proc.stderr
    error = (
        f"cannot connect to PostgreSQL at 127.0.0.1:{port} (dbt target 'postgres'): "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused; '
        "start the server or fix the target in profiles.yml"
    )
    lines = proc.stderr.splitlines()
    assert [line for line in lines if "PostgreSQL" in line] == [
        f"jaffle_shop_dagster._dbtscaffold.loaders.WarehouseError: {error}"
    ], proc.stderr
    assert lines[-1].startswith("error: Materialization failed"), proc.stderr
    assert "raw_customers" in lines[-1], proc.stderr
