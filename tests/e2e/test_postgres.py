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
            relation = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(t))
            cur.execute(sql.SQL("select count(*) from {}").format(relation))
            out[t] = cur.fetchone()[0]
    con.close()
    return out


def test_example_builds_on_postgres_with_target_flag(example_project, pg_database):
    run_tool("dbt", "build", "--target", "postgres", "--profiles-dir", ".", cwd=example_project)
    assert pg_counts(pg_database, MODEL_ROWS) == MODEL_ROWS
    assert pg_counts(pg_database, ["raw_customers", "raw_orders", "raw_payments"]) == {
        "raw_customers": 100,
        "raw_orders": 99,
        "raw_payments": 113,
    }
    assert not (example_project / "jaffle_shop.duckdb").exists()
