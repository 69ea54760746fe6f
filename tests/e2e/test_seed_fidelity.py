"""convert-seed keeps what the seed gave: its columns exactly as `dbt seed` built them, its
tests as Dagster asset checks (now on the loader asset), and no property file left empty."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli, run_tool

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEEDS = ("raw_customers", "raw_orders", "raw_payments")
PACKAGE = "jaffle_dagster"
# The asset checks the definitions load, as "key:check".
CHECKS = (
    "import json; from jaffle_dagster.definitions import defs; "
    "g = defs.resolve_asset_graph(); "
    "print(json.dumps(sorted(f'{k.asset_key.to_user_string()}:{k.name}' for k in g.asset_check_keys)))"
)
LOAD = (
    "import sys; from dagster import materialize; from jaffle_dagster import seed_assets; "
    "r = materialize([getattr(seed_assets, s) for s in sys.argv[1:]]); assert r.success"
)


def _columns(db: Path) -> dict[str, list[tuple[str, str]]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_name like 'raw_%' order by table_name, ordinal_position"
        ).fetchall()
        out: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in rows:
            out.setdefault(table, []).append((column, kind))
        out["_rows"] = [
            (
                t,
                str(
                    con.execute(f"select count(*), sum(hash(columns(*))) from main.{t}").fetchall()
                ),
            )
            for t in sorted(k for k in out)
        ]
        return out
    finally:
        con.close()


def _python(project: Path, code: str, *args: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=project, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return (proc.stdout.strip().splitlines() or [""])[-1]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("fidelity")
    dbt_dir = root / "jaffle_shop"
    run_cli("example", dbt_dir, check=0)
    # What `dbt seed` builds, in a database of its own.
    baseline = root / "baseline.duckdb"
    run_tool("dbt", "seed", "--profiles-dir", ".", cwd=dbt_dir,
             env={"JAFFLE_SHOP_DUCKDB_PATH": str(baseline)})  # fmt: skip
    run_cli("init", "--project-name", PACKAGE, cwd=dbt_dir, check=0)
    project = dbt_dir / PACKAGE
    import os

    env = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")
    before = json.loads(_python(project, CHECKS, env=env))
    run_cli("convert-seed", *SEEDS, cwd=dbt_dir, check=0)
    after = json.loads(_python(project, CHECKS, env=env))
    ours = root / "ours.duckdb"
    _python(project, LOAD, *SEEDS, env=dict(env, JAFFLE_SHOP_DUCKDB_PATH=str(ours)))
    return dbt_dir, project, baseline, ours, before, after


def test_loaded_tables_equal_dbt_seed_column_for_column(converted):
    _, _, baseline, ours, _, _ = converted
    want, got = _columns(baseline), _columns(ours)
    assert set(want) == {*SEEDS, "_rows"}
    assert got == want  # names, types (INTEGER, not BIGINT), order, rows


def test_the_seeds_tests_stay_asset_checks_on_the_new_assets(converted):
    _, _, _, _, before, after = converted
    assert len(after) == len(before)
    seed_checks = [c for c in before if c.startswith("raw_customers:")]
    assert len(seed_checks) == 2  # unique and not_null on id
    assert sorted(c for c in after if c.startswith("raw_customers:")) == [
        "raw_customers:source_not_null_jaffle_shop_raw_customers_id",
        "raw_customers:source_unique_jaffle_shop_raw_customers_id",
    ]


def test_a_seeds_yaml_left_empty_is_removed_and_undo_brings_it_back(converted, tmp_path):
    dbt_dir, project, _, _, _, _ = converted
    assert not (dbt_dir / "seeds" / "_seeds.yml").exists()
    assert not list((dbt_dir / "seeds").glob("*.csv"))
