"""The loader builds every seed's table exactly as `dbt seed` does, on DuckDB and PostgreSQL.

Both loaders: DuckDB's and PostgreSQL's own (the default there), and dbt's seed loading, which
every other adapter uses (DBTSCAFFOLD_SEED_LOADER=dbt; on a subset of the matrix that covers
every kind of config, each variant of the mixed CSV, loaded twice: the second load replaces).

Every seed CSV of the example and of the fixtures, under every variant of
tests/e2e/seed_matrix.py (default quoting, quote_columns false and true, column_types, a `;`
delimiter, each written where users write it), is built by a real `dbt seed`, then converted
and loaded by the generated loader assets; `information_schema.columns` (names, types,
order) and the rows must be equal, table by table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli, run_tool
from tests.helpers.postgres import PgServer
from tests.helpers.seed_matrix import write_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PACKAGE = "fid_dagster"
LOAD = (
    "import sys; from dagster import materialize; from fid_dagster import seed_assets; "
    "r = materialize([getattr(seed_assets, s) for s in sys.argv[1:]]); assert r.success"
)


def _project(root: Path) -> tuple[Path, list[str]]:
    dbt_dir = root / "fid"
    return dbt_dir, write_project(dbt_dir)


# dbt's seed loading: every variant of the mixed CSV, a `;` file, column_types on the example.
GENERIC = ["mixed__d", "mixed__qf", "mixed__qt", "mixed__ct", "mixed__sx", "gold_b__d"]
GENERIC += ["ex_orders__ct"]
LOADERS = {"own": {}, "dbt": {"DBTSCAFFOLD_SEED_LOADER": "dbt"}}


def _convert_and_load(
    dbt_dir: Path, seeds: list[str], env: dict[str, str], loader: str = "own"
) -> list[str]:
    """Convert every seed, load them (the generic loader: GENERIC); the seeds loaded."""
    run_cli("init", "--project-name", PACKAGE, cwd=dbt_dir, env=env, check=0)
    run_cli("convert-seed", *seeds, cwd=dbt_dir, env=env, check=0)
    full = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1", **env, **LOADERS[loader])
    loaded = seeds if loader == "own" else GENERIC
    # dbt's seed loading: a second load of two of them replaces their rows (none duplicated).
    for batch in [loaded] if loader == "own" else [GENERIC, GENERIC[-3:-1]]:
        proc = subprocess.run(
            [sys.executable, "-c", LOAD, *batch], cwd=dbt_dir / PACKAGE, env=full,
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
    return loaded


def _duckdb_tables(db: Path) -> dict[str, tuple[list[tuple], list[tuple]]]:
    """{table: (columns as information_schema.columns has them, rows in order)}."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = con.execute(
            "select table_name, ordinal_position, column_name, data_type, is_nullable, "
            "numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = 'main' order by table_name, ordinal_position"
        ).fetchall()
        out: dict[str, tuple[list[tuple], list[tuple]]] = {}
        for row in cols:
            out.setdefault(row[0], ([], []))[0].append(row[1:])
        for table, (_, rows) in out.items():
            rows.extend(con.execute(f'select * from main."{table}" order by all').fetchall())
        return out
    finally:
        con.close()


@pytest.mark.parametrize("loader", list(LOADERS))
def test_duckdb_tables_equal_dbt_seed_column_for_column(tmp_path, loader):
    dbt_dir, seeds = _project(tmp_path)
    baseline, ours = tmp_path / "baseline.duckdb", tmp_path / "ours.duckdb"
    run_tool("dbt", "seed", "--profiles-dir", ".", cwd=dbt_dir,
             env={"FID_DUCKDB_PATH": str(baseline)})  # fmt: skip
    want = _duckdb_tables(baseline)
    assert sorted(want) == sorted(seeds)
    loaded = _convert_and_load(dbt_dir, seeds, {"FID_DUCKDB_PATH": str(ours)}, loader)
    got = _duckdb_tables(ours)
    assert sorted(got) == sorted(loaded)
    for table in loaded:
        assert got[table] == want[table], table
    # The variants differ where dbt makes them differ: column_types give VARCHAR.
    assert want["ex_orders__d"][0][0][2] == "INTEGER"
    assert want["ex_orders__ct"][0][0][2] == "VARCHAR"
    assert want["mixed__ct"][0][2][2:] == ("DECIMAL(12,3)", "YES", 12, 3)


def _pg_tables(db: PgServer, schema: str) -> dict[str, tuple[list[tuple], list[tuple]]]:
    import psycopg2
    from psycopg2 import sql

    con = psycopg2.connect(**db.dsn())
    try:
        with con.cursor() as cur:
            cur.execute(
                "select table_name, ordinal_position, column_name, data_type, udt_name, "
                "is_nullable, character_maximum_length, numeric_precision, numeric_scale, "
                "datetime_precision from information_schema.columns where table_schema = %s "
                "order by table_name, ordinal_position",
                (schema,),
            )
            out: dict[str, tuple[list[tuple], list[tuple]]] = {}
            for row in cur.fetchall():
                out.setdefault(row[0], ([], []))[0].append(row[1:])
            for table, (columns, rows) in out.items():
                order = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(columns)))
                query = sql.SQL("select * from {}.{} order by {}").format(
                    sql.Identifier(schema), sql.Identifier(table), order
                )
                cur.execute(query)
                rows.extend(cur.fetchall())
        return out
    finally:
        con.close()


@pytest.mark.postgres
@pytest.mark.parametrize("loader", list(LOADERS))
def test_postgres_tables_equal_dbt_seed_column_for_column(tmp_path, pg_database, loader):
    dbt_dir, seeds = _project(tmp_path)
    pg = {"DBT_TARGET": "postgres"}
    run_tool("dbt", "seed", "--profiles-dir", ".", cwd=dbt_dir,
             env={**pg, "FID_PG_SCHEMA": "baseline"})  # fmt: skip
    want = _pg_tables(pg_database, "baseline")
    assert sorted(want) == sorted(seeds)
    loaded = _convert_and_load(dbt_dir, seeds, pg, loader)
    got = _pg_tables(pg_database, "fid")
    assert sorted(got) == sorted(loaded)
    for table in loaded:
        assert got[table] == want[table], table
    # quote_columns: true (dbt's default) keeps the header's case; false folds it.
    assert [c[1] for c in want["mixed__d"][0]][:2] == ["Code_Id", "Label"]
    assert [c[1] for c in want["mixed__qf"][0]][:2] == ["code_id", "label"]
    assert [c[1] for c in want["mixed__sx"][0]][:2] == ["code_id", "label"]
    assert want["mixed__qf"][0][-1][1] == "Ärger"
