"""What the bundled example (jaffle_shop) builds, and reading it back from DuckDB."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SEEDS = ("raw_customers", "raw_orders", "raw_payments")
DBT_MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
ALL_ASSETS = {*DBT_MODELS, *SEEDS}
# Row counts of every relation the example builds.
ROWS = {
    "raw_customers": 100,
    "raw_orders": 99,
    "raw_payments": 113,
    "stg_customers": 100,
    "stg_orders": 99,
    "stg_payments": 113,
    "customers": 100,
    "orders": 99,
}

# A project's own generate_schema_name: a custom schema replaces the target's (dbt's docs).
CUSTOM_SCHEMA = """\
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
"""


def duckdb_counts(db: Path, tables: Iterable[str] = tuple(ROWS)) -> dict[str, int]:
    """{table: row count} of main.TABLE (default: every relation the example builds) in the
    DuckDB file DB, opened read-only."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f'select count(*) from main."{t}"').fetchall()[0][0] for t in tables}
    finally:
        con.close()
