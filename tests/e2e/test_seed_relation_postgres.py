"""On PostgreSQL too, convert-seed keeps the relation `dbt seed` built: a folder `+schema`
through the project's own `generate_schema_name`, a seed `+alias`; after the conversion the
loader rebuilds exactly those tables (names, column types, rows) and materialize succeeds.
A source that already read one of those tables under other names is extended, not doubled."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers.cli import run_cli, run_tool
from tests.helpers.example import CUSTOM_SCHEMA
from tests.helpers.postgres import PG, column_types, query, table_digest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

SEEDED = {("raw", "customers_export"), ("raw", "raw_orders"), ("raw", "raw_payments")}


def _tables(db) -> set[tuple[str, str]]:
    rows = query(
        db,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema')",
    )
    return {(s, t) for s, t in rows}


def _drop_schema(db, schema: str) -> None:
    import psycopg2

    con = psycopg2.connect(**db.dsn())
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f'drop schema "{schema}" cascade')
    finally:
        con.close()


def test_schema_alias_and_custom_naming_keep_their_relation_on_postgres(tmp_path, pg_database):
    db = pg_database
    dbt_dir = tmp_path / "jaffle_shop"
    run_cli("example", dbt_dir, check=0)
    yml = dbt_dir / "dbt_project.yml"
    yml.write_text(
        yml.read_text() + "    +schema: raw\n    raw_customers:\n      +alias: customers_export\n"
    )
    (dbt_dir / "macros" / "naming.sql").write_text(CUSTOM_SCHEMA)
    # Another job's source on the seed's table, read by a model of its own.
    (dbt_dir / "models" / "legacy.yml").write_text(
        "version: 2\n\nsources:\n  - name: legacy\n    schema: raw\n    tables:\n"
        "      - name: orders_feed\n        identifier: raw_orders\n"
    )
    (dbt_dir / "models" / "legacy_orders.sql").write_text(
        "select count(*) as n from {{ source('legacy', 'orders_feed') }}\n"
    )
    run_cli("init", "--project-name", "jaffle_dagster", cwd=dbt_dir, env=PG, check=0)

    run_tool("dbt", "seed", "--profiles-dir", ".", cwd=dbt_dir, env=PG)
    # The custom macro uses `raw` as is (dbt's default would make it `jaffle_shop_raw`).
    assert SEEDED <= _tables(db)
    want = {
        t: (column_types(db, t, "raw"), table_digest(db, t, "raw"))
        for t in ("customers_export", "raw_orders")
    }

    proc = run_cli("convert-seed", "raw_customers", "raw_orders", cwd=dbt_dir, env=PG, check=0)
    assert "dropped" not in proc.stderr
    [source] = yaml.safe_load((dbt_dir / "models" / "sources.yml").read_text())["sources"]
    assert source["schema"] == "raw"
    [table] = source["tables"]
    assert (table["name"], table["identifier"]) == ("raw_customers", "customers_export")
    [legacy] = yaml.safe_load((dbt_dir / "models" / "legacy.yml").read_text())["sources"]
    [feed] = legacy["tables"]
    assert feed["name"] == "orders_feed"
    assert feed["config"]["meta"]["dagster"]["asset_key"] == ["raw_orders"]

    # Start from nothing: the loaders, not the earlier `dbt seed`, must build the tables.
    _drop_schema(db, "raw")
    run_cli("materialize", cwd=dbt_dir / "jaffle_dagster", env=PG, check=0, timeout=900)
    built = _tables(db)
    assert SEEDED <= built
    # Nothing moved elsewhere: no table under the seed's own name, none outside `raw`.
    assert {(s, t) for s, t in built if t in ("raw_customers", "raw_orders")} == {
        ("raw", "raw_orders")
    }
    assert {("jaffle_shop", "customers"), ("jaffle_shop", "orders")} <= built
    assert query(db, "select n from jaffle_shop.legacy_orders") == [(99,)]
    for table, (types, digest) in want.items():
        assert column_types(db, table, "raw") == types, table
        assert table_digest(db, table, "raw") == digest, table
