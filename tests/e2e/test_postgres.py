"""The example and the generated Dagster project against a real PostgreSQL server (issue 7).

The server comes from .ci/services (DBTSCAFFOLD_TEST_PG_*), else the `pg_server` fixture starts
one; each test gets its own database, named in the example's JAFFLE_SHOP_PG_* variables.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_tool
from tests.e2e.postgres_server import PgServer, pg_database, pg_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SCHEMA = "jaffle_shop"
PARSE = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"}
MODEL_ROWS = {
    "customers": 100,
    "orders": 99,
    "stg_customers": 100,
    "stg_orders": 99,
    "stg_payments": 113,
}


def pg_counts(db: PgServer, tables, schema: str = SCHEMA) -> dict[str, int]:
    """Row counts read back from the server."""
    import psycopg2
    from psycopg2 import sql

    with psycopg2.connect(**db.dsn()) as con, con.cursor() as cur:
        out = {}
        for t in tables:
            cur.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(t)))
            out[t] = cur.fetchone()[0]
    con.close()
    return out


def pg_tables(db: PgServer, schema: str = SCHEMA) -> dict[str, str]:
    """{name: 'BASE TABLE' | 'VIEW'} of SCHEMA."""
    import psycopg2

    with psycopg2.connect(**db.dsn()) as con, con.cursor() as cur:
        cur.execute(
            "select table_name, table_type from information_schema.tables where table_schema = %s",
            (schema,),
        )
        rows = dict(cur.fetchall())
    con.close()
    return rows


def test_example_builds_on_postgres_with_target_flag(example_project, pg_database):
    run_tool("dbt", "build", "--target", "postgres", "--profiles-dir", ".", cwd=example_project)
    assert pg_counts(pg_database, MODEL_ROWS) == MODEL_ROWS
    assert pg_counts(pg_database, ["raw_customers", "raw_orders", "raw_payments"]) == {
        "raw_customers": 100,
        "raw_orders": 99,
        "raw_payments": 113,
    }
    assert not (example_project / "jaffle_shop.duckdb").exists()


def test_dagster_project_materializes_on_postgres_with_dbt_target(scaffolded, pg_database):
    dbt_dir, dagster_dir = scaffolded
    pyproject = (dagster_dir / "pyproject.toml").read_text(encoding="utf-8")
    assert '"dbt-postgres' in pyproject
    env = {**PARSE, "DBT_TARGET": "postgres"}
    run_tool(
        "dagster", "asset", "materialize", "-m", "jaffle_shop_dagster.definitions",
        "--select", "*", cwd=dagster_dir, env=env,
    )
    assert pg_counts(pg_database, MODEL_ROWS) == MODEL_ROWS
    tables = pg_tables(pg_database)
    assert tables["stg_customers"] == "VIEW"
    assert tables["customers"] == "BASE TABLE"
    assert not (dbt_dir / "jaffle_shop.duckdb").exists()
