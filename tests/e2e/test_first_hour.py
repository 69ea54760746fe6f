"""What tripped a new user in the first hour (issue 26): each case drives the installed CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.cli import invoke_ok, run_cli
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_convert_seed_lists_each_change_once_and_names_the_asset(initialized):
    dbt_dir, _ = initialized
    proc = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    both = proc.stdout + proc.stderr
    assert both.count("stg_customers.sql") == 1, both
    moves = [line for line in both.splitlines() if "raw_customers.csv" in line]
    assert len(moves) == 1, both  # the move: one line, with its direction
    assert (
        "jaffle_shop/seeds/raw_customers.csv -> jaffle_shop_dagster/data/raw_customers.csv"
        in proc.stdout
    )
    assert "convert-seed: 6 changes, 2 refs rewritten" in proc.stdout
    assert (
        "the Dagster asset `raw_customers` in "
        "`jaffle_shop_dagster/jaffle_shop_dagster/seed_assets.py` loads it" in proc.stderr
    )
    assert "(s)" not in both


def test_undo_dry_run_shows_the_moved_csv_as_a_rename(initialized):
    dbt_dir, _ = initialized
    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    proc = run_cli("undo", "--dry-run", cwd=dbt_dir, check=0)
    assert "rename from jaffle_shop_dagster/data/raw_customers.csv\n" in proc.stdout
    assert "rename to jaffle_shop/seeds/raw_customers.csv\n" in proc.stdout
    assert "Zofia" not in proc.stdout  # the CSV's rows are not printed (twice)
    assert len(proc.stdout.splitlines()) < 150, proc.stdout
    proc = run_cli("undo", cwd=dbt_dir, check=0)
    assert str(dbt_dir.parent) not in proc.stdout + proc.stderr  # relative, as convert-seed's
    assert "restore  jaffle_shop/seeds/raw_customers.csv" in proc.stdout
    assert "7 files restored" in proc.stderr


def test_an_already_converted_seed_is_named_as_such(initialized):
    dbt_dir, _ = initialized
    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    proc = run_cli("convert-seed", "raw_custmers", cwd=dbt_dir, check=1)
    assert proc.stderr.strip() == (
        "error: Seed `raw_custmers` not found; `raw_customers` was already converted: it is a "
        "source now, loaded by the Dagster asset `raw_customers` in "
        "`jaffle_shop_dagster/jaffle_shop_dagster/seed_assets.py`."
    )
    proc = run_cli("convert-seed", "raw_ordrs", cwd=dbt_dir, check=1)
    assert "Did you mean `raw_orders`?" in proc.stderr  # a seed still there is still suggested


SPECS = (
    "import json; from dagster import AssetKey; from jaffle_shop_dagster.definitions import defs; "
    "g = defs.resolve_asset_graph(); "
    "n = lambda k: g.get(AssetKey(k)); "
    "print(json.dumps({k: [sorted(n(k).kinds), n(k).group_name, sorted(n(k).owners), "
    "n(k).description] for k in ('raw_customers', 'stg_customers', 'raw_orders')}))"
)


def test_the_loader_is_a_python_asset_with_the_seeds_group_owners_and_description(initialized):
    dbt_dir, dagster_dir = initialized
    seeds_yml = dbt_dir / "seeds" / "_seeds.yml"
    seeds_yml.write_text(
        seeds_yml.read_text().replace(
            "  - name: raw_orders\n",
            "  - name: raw_orders\n    config:\n      meta:\n        dagster:\n"
            "          group: shop\n          owners: [team:data, ops@example.com]\n",
        )
    )
    run_cli("convert-seed", "raw_customers", "raw_orders", cwd=dbt_dir, check=0)
    env = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")
    proc = subprocess.run(
        [sys.executable, "-c", SPECS], cwd=dagster_dir, env=env, check=False,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    specs = json.loads(proc.stdout.strip().splitlines()[-1])
    kinds, group, owners, description = specs["raw_customers"]
    assert kinds == ["duckdb", "python"]  # a Python asset, as the tutorial's, on DuckDB
    assert group == specs["stg_customers"][1]  # shares the group of the models reading it
    assert description.startswith("Fictional customers of the jaffle shop")
    kinds, group, owners, _ = specs["raw_orders"]
    assert (group, owners) == ("shop", ["ops@example.com", "team:data"])


# dagster-dbt's own test projects, in their shape: test_dagster_meta_config declares the seed's
# relation as a source table with an asset key of its own ...
CUSTOM_KEY_SOURCES = """\
version: 2

sources:
  - name: jaffle_shop
    schema: main
    tables:
      - name: raw_customers
        meta:
          dagster:
            asset_key:
              ["customized", "source", "jaffle_shop", "main", "raw_customers"]
      - name: raw_events
"""
# ... and test_dagster_dbt_source_freshness names its database with an env_var().
DATABASE_SOURCES = """\
version: 2

sources:
  - name: jaffle_shop
    database: "{{ env_var('MY_DUCKDB_NAME') }}"
    schema: main
    freshness:
      warn_after: { count: 12, period: hour }
    loaded_at_field: created_at
    tables:
      - name: raw_customers
"""
CUSTOM = "customized/source/jaffle_shop/main/raw_customers"
PARENTS = (
    "import json; from dagster import AssetKey; from jaffle_shop_dagster.definitions import defs; "
    "g = defs.resolve_asset_graph(); "
    "print(json.dumps(sorted(p.to_user_string() for p in g.get(AssetKey('stg_customers'))"
    ".parent_keys)))"
)


def test_a_source_table_with_an_asset_key_of_its_own_is_adopted(initialized, tmp_path):

    dbt_dir, dagster_dir = initialized
    (dbt_dir / "models" / "sources.yml").write_text(CUSTOM_KEY_SOURCES)
    before = tree_hash(tmp_path, ignore=(".dbtscaffold", "target", "logs", "__pycache__"))
    proc = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    assert f"the Dagster asset `{CUSTOM}` in" in proc.stderr
    assert "has the asset key" in proc.stderr  # says it took the table's key
    seed_assets = (dagster_dir / "jaffle_shop_dagster" / "seed_assets.py").read_text()
    assert 'key=["customized", "source", "jaffle_shop", "main", "raw_customers"],' in seed_assets
    sources = (dbt_dir / "models" / "sources.yml").read_text()
    assert sources.count("asset_key") == 1, sources  # the table's own, not a second one
    assert "- name: raw_events" in sources

    env = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")
    graph = subprocess.run(
        [sys.executable, "-c", PARENTS], cwd=dagster_dir, env=env, check=False,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert graph.returncode == 0, graph.stderr[-4000:]
    assert json.loads(graph.stdout.strip().splitlines()[-1]) == [CUSTOM]

    # dbt builds the selected models' tests too: the staging models and the seeds they read
    staging = f"{CUSTOM},raw_orders,raw_payments,stg_customers,stg_orders,stg_payments"
    proc = run_cli("materialize", "--select", staging, cwd=dagster_dir, check=0)
    assert "Materialized 6 assets" in proc.stderr
    import duckdb

    con = duckdb.connect(str(dbt_dir / "jaffle_shop.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from main.stg_customers").fetchall() == [(100,)]
    finally:
        con.close()

    again = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    assert again.stderr.strip() == "Nothing to do: `raw_customers` already converted."
    run_cli("undo", cwd=dbt_dir, check=0)
    after = tree_hash(tmp_path, ignore=(".dbtscaffold", "target", "logs", "__pycache__"))
    assert {k: v for k, v in after.items() if not k.endswith(".duckdb")} == {
        k: v for k, v in before.items() if not k.endswith(".duckdb")
    }


def test_a_source_on_the_targets_database_is_accepted(initialized, tmp_path):

    dbt_dir, _ = initialized
    (dbt_dir / "models" / "sources.yml").write_text(DATABASE_SOURCES)
    before = tree_hash(tmp_path, ignore=())
    unset = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=1)
    assert unset.stderr.strip().startswith("error: The source `jaffle_shop` in ")
    assert "cannot be resolved here; set the variables it reads and retry." in unset.stderr
    other = run_cli(
        "convert-seed", "raw_customers", cwd=dbt_dir, check=1, env={"MY_DUCKDB_NAME": "other"}
    )
    assert len(other.stderr.strip().splitlines()) == 1
    assert "reads database `other`, not the target's `jaffle_shop`" in other.stderr
    assert tree_hash(tmp_path, ignore=()) == before
    # The example's DuckDB file is jaffle_shop.duckdb: its database (catalog) is jaffle_shop.
    run_cli(
        "convert-seed", "raw_customers", cwd=dbt_dir, check=0, env={"MY_DUCKDB_NAME": "jaffle_shop"}
    )
    sources = (dbt_dir / "models" / "sources.yml").read_text()
    assert "database: \"{{ env_var('MY_DUCKDB_NAME') }}\"" in sources
    assert 'asset_key: ["raw_customers"]' in sources


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["convert-seed"], "error: Missing argument 'SEED'."),
        (["init", "--bogus"], "error: No such option: --bogus"),
        (
            ["materialize", "--select", ""],
            "error: --select is empty; pass an asset selection such as `*`.",
        ),
    ],
)
def test_every_error_has_one_prefix(tmp_path, args, error):
    proc = invoke_ok(*args, cwd=tmp_path)  # in process: the same code as the installed script
    lines = proc.stderr.splitlines()
    assert lines[0] == error, proc.stderr
    assert not any(line.startswith(("Error", "Usage", "Try ")) for line in lines), proc.stderr


def test_example_and_init_print_relative_paths_and_name_convert_seed(tmp_path):
    example = run_cli("example", "jaffle_shop", cwd=tmp_path, check=0)
    init = run_cli(
        "init", "--project-name", "jaffle_dagster", cwd=tmp_path / "jaffle_shop", check=0
    )
    for proc in (example, init):
        assert str(tmp_path) not in proc.stdout + proc.stderr, proc.stderr
    assert "Next: dbtscaffold init --dbt-project-dir jaffle_shop" in example.stderr
    assert "Using profiles.yml in the dbt project: profiles.yml" in init.stderr
    assert "  cd jaffle_dagster\n" in init.stderr
    assert "  dbtscaffold convert-seed raw_customers " in init.stderr


LOAD = (
    "from jaffle_shop_dagster.definitions import defs; "
    "print(len(list(defs.resolve_asset_graph().get_all_asset_keys())))"
)


def test_check_names_what_made_the_manifest_stale(initialized):
    import json

    dbt_dir, dagster_dir = initialized
    env = dict(os.environ, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")
    env.pop("DBT_TARGET", None)
    load = subprocess.run(
        [sys.executable, "-c", LOAD], cwd=dagster_dir, env=env, check=False,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr[-3000:]  # parsed on load, the inputs recorded

    def manifest(**extra: str) -> dict:
        proc = run_cli("check", "--json", "--no-load", cwd=dagster_dir, env=extra)
        return next(c for c in json.loads(proc.stdout)["checks"] if c["id"] == "manifest")

    # A file rewritten with the same bytes (as undo does): its mtime moved, nothing changed.
    staging = dbt_dir / "models" / "staging" / "_staging.yml"
    staging.write_bytes(staging.read_bytes())
    assert manifest()["status"] == "ok", manifest()
    # The profile's default target named in DBT_TARGET: a variable dbt reads changed.
    found = manifest(DBT_TARGET="dev")
    assert "since then DBT_TARGET changed: unset -> 'dev'" in found["message"], found
    # A file's content.
    sql = dbt_dir / "models" / "staging" / "stg_orders.sql"
    sql.write_text(sql.read_text() + "\n-- edited\n")
    found = manifest()
    assert "since then models/staging/stg_orders.sql changed" in found["message"], found
    assert "DBT_TARGET" not in found["message"]
