"""convert-seed keeps the seed's relation: the source and the loader point at the table
`dbt seed` built (its schema config through the project's naming macros, its alias), and a
source that already reads that relation is extended, not declared twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import run_cli, run_tool
from tests.helpers.example import CUSTOM_SCHEMA
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PACKAGE = "jaffle_dagster"
LOAD = (
    "import sys; from dagster import materialize; from jaffle_dagster import seed_assets; "
    "r = materialize([getattr(seed_assets, s) for s in sys.argv[1:]]); assert r.success"
)


def _project(root: Path, project_yml_extra: str = "", macro: str | None = None) -> Path:
    dbt_dir = root / "jaffle_shop"
    run_cli("example", dbt_dir, check=0)
    yml = dbt_dir / "dbt_project.yml"
    yml.write_text(yml.read_text() + project_yml_extra)
    if macro:
        (dbt_dir / "macros" / "naming.sql").write_text(macro)
    run_cli("init", "--project-name", PACKAGE, cwd=dbt_dir, check=0)
    return dbt_dir


def _tables(db: Path) -> set[str]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    finally:
        con.close()


def _load(dbt_dir: Path, db: Path, *seeds: str) -> None:
    env = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1", JAFFLE_SHOP_DUCKDB_PATH=str(db))
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, *seeds], cwd=dbt_dir / PACKAGE, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]


def _source(dbt_dir: Path) -> dict:
    [source] = yaml.safe_load((dbt_dir / "models" / "sources.yml").read_text())["sources"]
    return source


def test_folder_schema_and_alias_keep_their_relation_through_materialize(tmp_path):
    dbt_dir = _project(
        tmp_path,
        "    +schema: raw\n    raw_customers:\n      +alias: customers_export\n",
    )
    baseline = tmp_path / "baseline.duckdb"
    run_tool("dbt", "seed", "--profiles-dir", ".", cwd=dbt_dir,
             env={"JAFFLE_SHOP_DUCKDB_PATH": str(baseline)})  # fmt: skip
    seeded = {t for t in _tables(baseline) if t.startswith("main_raw.")}
    assert seeded == {"main_raw.customers_export", "main_raw.raw_orders", "main_raw.raw_payments"}

    proc = run_cli("convert-seed", "raw_customers", "raw_orders", cwd=dbt_dir, check=0)
    assert "dropped" not in proc.stderr  # schema and alias are kept, not dropped
    source = _source(dbt_dir)
    assert source["schema"] == "main_raw"
    tables = {t["name"]: t for t in source["tables"]}
    assert tables["raw_customers"]["identifier"] == "customers_export"
    assert "identifier" not in tables["raw_orders"]

    db = tmp_path / "fresh.duckdb"
    run_cli("materialize", cwd=dbt_dir / PACKAGE, env={"JAFFLE_SHOP_DUCKDB_PATH": str(db)},
            check=0, timeout=900)  # fmt: skip
    built = _tables(db)
    assert {"main_raw.customers_export", "main_raw.raw_orders", "main_raw.raw_payments"} <= built
    assert not {t for t in built if t.startswith("jaffle_shop.")}  # nothing moved elsewhere
    assert {"main.customers", "main.orders", "main.stg_customers"} <= built


def test_a_custom_generate_schema_name_is_asked_of_dbt(tmp_path):
    dbt_dir = _project(tmp_path, "    raw_customers:\n      +schema: landing\n", CUSTOM_SCHEMA)
    before = set(os.listdir(dbt_dir))
    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    assert _source(dbt_dir)["schema"] == "landing"  # the macro's, not main_landing
    assert set(os.listdir(dbt_dir)) == before  # dbt parsed elsewhere: no target/ or logs/
    db = tmp_path / "fresh.duckdb"
    _load(dbt_dir, db, "raw_customers")
    assert "landing.raw_customers" in _tables(db)


def test_a_source_already_on_the_seeds_relation_is_extended(tmp_path):
    dbt_dir = _project(tmp_path)
    (dbt_dir / "models" / "sources.yml").write_text(
        "version: 2\n\nsources:\n  - name: jaffle_shop\n    schema: main  # where dbt seed puts them\n"
        "    tables:\n      - name: raw_customers\n        description: As exported.\n"
    )
    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    source = _source(dbt_dir)
    [table] = source["tables"]
    assert table["name"] == "raw_customers"
    assert table["config"]["meta"]["dagster"]["asset_key"] == ["raw_customers"]
    assert "# where dbt seed puts them" in (dbt_dir / "models" / "sources.yml").read_text()
    run_tool("dbt", "parse", "--profiles-dir", ".", cwd=dbt_dir)


def test_a_source_on_another_schema_is_one_clear_line_and_no_change(tmp_path):
    dbt_dir = _project(tmp_path, "    raw_customers:\n      +schema: landing\n")
    (dbt_dir / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: jaffle_shop\n    schema: main\n    tables: []\n"
    )
    before = tree_hash(tmp_path, ignore=())
    proc = run_cli("convert-seed", "raw_customers", cwd=dbt_dir)
    assert proc.returncode == 1
    [line] = [x for x in proc.stderr.splitlines() if x.strip()]
    assert "main_landing.raw_customers" in line and "--source-name" in line
    assert tree_hash(tmp_path, ignore=()) == before


def test_schema_option_moves_the_data_says_so_and_undo_restores(tmp_path):
    dbt_dir = _project(tmp_path, "    +schema: raw\n")
    ignore = (".dbtscaffold", "target", "logs", "__pycache__")
    before = tree_hash(dbt_dir, ignore=ignore)
    warning = (
        "warning: --schema moves the data of seed `raw_customers`: its source and loader use "
        "`landing.raw_customers`, not `main_raw.raw_customers` where dbt built it; "
        "`main_raw.raw_customers` remains with its old rows (drop it when nothing reads it)."
    )
    args = ("convert-seed", "raw_customers", "--schema", "landing")
    dry = run_cli(*args, "--dry-run", cwd=dbt_dir, check=0)
    assert warning in dry.stderr.splitlines(), dry.stderr
    assert "+    schema: landing\n" in dry.stdout
    assert '+        schema="landing",\n' in dry.stdout
    assert tree_hash(dbt_dir, ignore=ignore) == before

    proc = run_cli(*args, cwd=dbt_dir, check=0)
    assert warning in proc.stderr.splitlines(), proc.stderr
    assert _source(dbt_dir)["schema"] == "landing"
    db = tmp_path / "fresh.duckdb"
    _load(dbt_dir, db, "raw_customers")
    assert "landing.raw_customers" in _tables(db)
    run_tool("dbt", "parse", "--profiles-dir", ".", cwd=dbt_dir)

    run_cli("undo", cwd=dbt_dir, check=0)
    assert tree_hash(dbt_dir, ignore=ignore) == before


def test_a_bad_schema_option_is_one_line_and_no_change(tmp_path):
    dbt_dir = _project(tmp_path)
    before = tree_hash(tmp_path, ignore=())
    proc = run_cli("convert-seed", "raw_customers", "--schema", "my-schema", cwd=dbt_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert [x for x in proc.stderr.splitlines() if x.strip()] == [
        "error: Schema `my-schema` is not a plain name (letters, digits and underscores, not "
        "starting with a digit)."
    ]
    assert tree_hash(tmp_path, ignore=()) == before


ASSET_KEYS = (
    "import json; from dagster import AssetKey; from jaffle_dagster.definitions import defs; "
    "g = defs.resolve_asset_graph(); "
    "up = lambda k: sorted(p.to_user_string() for p in g.get(AssetKey(k)).parent_keys); "
    "print(json.dumps([sorted(k.to_user_string() for k in g.get_all_asset_keys()), "
    "sorted(f'{k.asset_key.to_user_string()}:{k.name}' for k in g.asset_check_keys), "
    "up('crm_count'), up('stg_customers')]))"
)


def test_a_source_table_named_otherwise_on_the_seeds_relation_is_extended(tmp_path):
    import json

    dbt_dir = _project(tmp_path)
    sources = dbt_dir / "models" / "sources.yml"
    sources.write_text(
        "version: 2\n\nsources:\n  - name: crm  # the CRM export\n    schema: main\n"
        "    tables:\n      - name: customers\n        identifier: raw_customers\n"
        "        description: As exported.\n        columns:\n          - name: first_name\n"
        "            data_tests: [not_null]\n"
    )
    crm_model = "select count(*) as n from {{ source('crm', 'customers') }}\n"
    (dbt_dir / "models" / "crm_count.sql").write_text(crm_model)
    before = tree_hash(dbt_dir, ignore=(".dbtscaffold", "target", "logs", "__pycache__"))
    env = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")

    def keys_and_checks():
        proc = subprocess.run(
            [sys.executable, "-c", ASSET_KEYS], cwd=dbt_dir / PACKAGE, env=env,
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    keys_before, checks_before, *parents = keys_and_checks()
    assert parents[1] == ["raw_customers"] and parents[0] != parents[1]  # two assets, one table

    proc = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    assert "Source table `crm.customers` already reads the table of seed `raw_customers`" in (
        proc.stderr
    )
    data = yaml.safe_load(sources.read_text())
    [source] = data["sources"]  # no second source for the seed
    [table] = source["tables"]
    assert table["name"] == "customers" and table["identifier"] == "raw_customers"
    assert table["description"] == "As exported."  # the table's own, kept
    assert table["config"]["meta"]["dagster"]["asset_key"] == ["raw_customers"]
    assert [c["name"] for c in table["columns"]] == ["first_name", "id", "last_name"]
    assert "# the CRM export" in sources.read_text()
    stg = (dbt_dir / "models" / "staging" / "stg_customers.sql").read_text()
    assert "{{ source('crm', 'customers') }}" in stg
    assert "{# based on {{ ref('raw_customers') }}" in stg  # a Jinja comment is left alone

    keys_after, checks_after, *parents = keys_and_checks()
    assert parents == [["raw_customers"], ["raw_customers"]]  # one relation, one asset
    assert keys_after == keys_before  # the seed's asset is now the loader
    assert len(checks_after) == len(checks_before)
    assert {c for c in checks_after if c.startswith("raw_customers:")} == {
        "raw_customers:source_not_null_crm_customers_first_name",
        "raw_customers:source_not_null_crm_customers_id",
        "raw_customers:source_unique_crm_customers_id",
    }
    db = tmp_path / "fresh.duckdb"
    run_cli("materialize", cwd=dbt_dir / PACKAGE, env={"JAFFLE_SHOP_DUCKDB_PATH": str(db)},
            check=0, timeout=900)  # fmt: skip
    assert {"main.raw_customers", "main.crm_count"} <= _tables(db)

    again = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    assert "Nothing to do" in again.stderr
    run_cli("undo", cwd=dbt_dir, check=0)
    assert tree_hash(dbt_dir, ignore=(".dbtscaffold", "target", "logs", "__pycache__")) == before
