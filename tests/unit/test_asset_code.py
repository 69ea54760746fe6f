"""The loader asset added to assets.py: imports, the asset itself, and what is already there."""

from __future__ import annotations

import pytest

from dbtscaffold.asset_code import (
    AssetCodeError,
    LoaderSpec,
    add_loader_asset,
    find_asset,
    function_name,
)

TEMPLATE = '''\
"""Assets of shop_dagster."""

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from .constants import DBT_MANIFEST_PATH


@dbt_assets(manifest=DBT_MANIFEST_PATH)
def shop_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
'''

SPEC = LoaderSpec(
    seed="raw_orders",
    schema="main",
    table="raw_orders",
    adapter="duckdb",
    column_types={"order_date": "date"},
    delimiter=";",
    description='Orders, "as exported".',
)


def test_adds_imports_and_the_asset():
    assert (
        add_loader_asset(TEMPLATE, SPEC)
        == '''\
"""Assets of shop_dagster."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset
from dagster_dbt import DbtCliResource, dbt_assets

from . import warehouse
from .constants import DBT_MANIFEST_PATH


@dbt_assets(manifest=DBT_MANIFEST_PATH)
def shop_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


# Added by `dbtscaffold convert-seed raw_orders`: the dbt seed became the source table
# main.raw_orders, loaded from data/raw_orders.csv in this project.
@asset(
    key=["raw_orders"],
    kinds={"duckdb"},
    description='Orders, "as exported".',
)
def raw_orders(context: AssetExecutionContext) -> MaterializeResult:
    rows = warehouse.load_csv(
        Path(__file__).resolve().parent.parent / "data" / "raw_orders.csv",
        schema="main",
        table="raw_orders",
        column_types={"order_date": "date"},
        delimiter=";",
    )
    context.log.info(f"Loaded {rows} rows into main.raw_orders")
    return MaterializeResult(metadata={"dagster/row_count": rows})
'''
    )


def test_second_asset_adds_no_imports_and_output_compiles():
    once = add_loader_asset(TEMPLATE, SPEC)
    twice = add_loader_asset(once, LoaderSpec("raw_items", "main", "raw_items", "duckdb"))
    assert twice.startswith(once)
    assert twice.count("from . import warehouse") == 1
    compile(twice, "assets.py", "exec")


def test_crlf_file_stays_crlf():
    out = add_loader_asset(TEMPLATE.replace("\n", "\r\n"), SPEC)
    assert "\n" not in out.replace("\r\n", "")


def test_imports_that_cannot_be_extended_get_their_own_line():
    text = "from dagster import (\n    AssetExecutionContext,\n)\nimport os\n"
    out = add_loader_asset(text, SPEC)
    assert out.startswith(
        "from pathlib import Path\n\nfrom dagster import (\n    AssetExecutionContext,\n)\n"
        "import os\nfrom dagster import MaterializeResult, asset\n\nfrom . import warehouse\n"
    )
    compile(out, "assets.py", "exec")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("@asset\ndef raw_orders(): ...\n", "other"),
        ("@dg.asset(name='raw_orders')\ndef load(): ...\n", "other"),
        ("@asset(key=['raw_orders'])\ndef f():\n    warehouse.load_csv(x)\n", "ours"),
        ("@asset(key=AssetKey(['raw_orders']))\ndef f(): ...\n", "other"),
        ("@asset(key_prefix='raw', name='raw_orders')\ndef f(): ...\n", None),
        ("@asset(key='raw_orders')\ndef f(): ...\n", "other"),
        ("def raw_orders(): ...\n", None),
    ],
)
def test_find_asset(code, expected):
    assert find_asset(code, ["raw_orders"]) == expected


def test_find_asset_on_broken_python_names_the_line():
    with pytest.raises(AssetCodeError) as e:
        find_asset("x = 1\ndef (:\n", ["a"])
    assert e.value.line == 2


def test_function_name_avoids_taken_names_and_keywords():
    assert function_name("raw_orders", {"dbt"}) == "raw_orders"
    assert function_name("dbt", {"dbt"}) == "load_dbt"
    assert function_name("class", set()) == "class_"
