"""What tripped a new user in the first hour (issue 26): each case drives the installed CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


def test_convert_seed_lists_each_change_once_and_names_the_asset(scaffolded):
    dbt_dir, _ = scaffolded
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


def test_undo_dry_run_shows_the_moved_csv_as_a_rename(scaffolded):
    dbt_dir, _ = scaffolded
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


def test_an_already_converted_seed_is_named_as_such(scaffolded):
    dbt_dir, _ = scaffolded
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


def test_the_loader_is_a_python_asset_with_the_seeds_group_owners_and_description(scaffolded):
    dbt_dir, dagster_dir = scaffolded
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
