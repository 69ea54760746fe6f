"""The example and the generated Dagster project against a real PostgreSQL server (issue 7).

The server comes from .ci/services (DBTSCAFFOLD_TEST_PG_*), else the `pg_server` fixture starts
one; each test gets its own database, named in the example's JAFFLE_SHOP_PG_* variables.
"""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_tool
from tests.helpers.postgres import MODEL_ROWS, pg_counts

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]


def test_example_builds_on_postgres_with_target_flag(example_project, pg_database):
    run_tool("dbt", "build", "--target", "postgres", "--profiles-dir", ".", cwd=example_project)
    assert pg_counts(pg_database, MODEL_ROWS) == MODEL_ROWS
    assert pg_counts(pg_database, ["raw_customers", "raw_orders", "raw_payments"]) == {
        "raw_customers": 100,
        "raw_orders": 99,
        "raw_payments": 113,
    }
    assert not (example_project / "jaffle_shop.duckdb").exists()
