"""Converted seeds that load at the same time do not fail because of each other (issue 27).

Five seeds of one schema are converted; then their five loader assets run as one Dagster run
with the default (multiprocess) executor on a fresh warehouse (the schema, or the DuckDB
file, absent), and the loaders alone are released by a barrier ten times, each time on a
fresh warehouse: two loaders at once used to both create the schema
(PostgreSQL: `duplicate key value violates unique constraint "pg_namespace_nspname_index"`)
or both open the DuckDB file. The runs go through Dagster's own API in one worker script
(`execute_job` of the project's definitions, as `dagster asset materialize` does). One
run: repeating it added no assertion, and the barrier rounds are where the race shows.
"""

from __future__ import annotations

import pytest

from tests.helpers.loads import (
    ROUNDS,
    ROWS,
    RUNS,
    SCHEMA,
    STRESS,
    convert,
    run_loads,
    write_project,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_five_loads_into_one_new_duckdb_file_never_collide(tmp_path):
    dbt_dir = write_project(tmp_path, None)
    db = tmp_path / "conc.duckdb"
    env = {"CONC_DUCKDB_PATH": str(db)}
    dagster_dir = convert(dbt_dir, env)
    runs = run_loads(dagster_dir, "duckdb", env)
    assert runs == [f"run {i + 1}: ok" for i in range(RUNS)], runs
    rounds = run_loads(dagster_dir, "duckdb", env, runs=ROUNDS, script=STRESS)
    assert rounds == [f"round {i + 1}: ok" for i in range(ROUNDS)], rounds
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        for seed, rows in ROWS.items():
            assert con.execute(f"select count(*) from {SCHEMA}.{seed}").fetchone()[0] == rows
    finally:
        con.close()


@pytest.mark.postgres
def test_five_loads_into_one_new_postgres_schema_never_collide(tmp_path, pg_database):
    dbt_dir = write_project(tmp_path, pg_database)
    env = {"DBT_TARGET": "pg", "CONC_PG_DSN": repr(pg_database.dsn())}
    dagster_dir = convert(dbt_dir, env)
    runs = run_loads(dagster_dir, "postgres", env)
    assert runs == [f"run {i + 1}: ok" for i in range(RUNS)], runs
    rounds = run_loads(dagster_dir, "postgres", env, runs=ROUNDS, script=STRESS)
    assert rounds == [f"round {i + 1}: ok" for i in range(ROUNDS)], rounds
    import psycopg2

    con = psycopg2.connect(**pg_database.dsn())
    try:
        with con.cursor() as cur:
            for seed, rows in ROWS.items():
                cur.execute(f"select count(*) from {SCHEMA}.{seed}")
                assert cur.fetchone()[0] == rows
    finally:
        con.close()
