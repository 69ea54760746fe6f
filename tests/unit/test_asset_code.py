"""The loader assets added to seed_assets.py: the module's head, the asset, what is there."""

from __future__ import annotations

import pytest

from dbtscaffold.dagster_project.seed_assets import (
    AssetCodeError,
    LoaderSpec,
    add_loader_asset,
    find_asset,
    function_name,
    missing_names,
)

PLACEHOLDER = (
    '"""Assets that load the CSV files of former dbt seeds; `dbtscaffold convert-seed` adds '
    'them."""\n'
)

SPEC = LoaderSpec(
    seed="raw_orders",
    schema="main",
    table="raw_orders",
    adapter="duckdb",
    column_types={"order_date": "date"},
    delimiter=";",
    quote_columns=False,
    description='Orders, "as exported".',
)


def test_the_first_asset_writes_the_head_then_the_asset():
    assert add_loader_asset(PLACEHOLDER, SPEC, "shop_dagster") == (
        PLACEHOLDER
        + """
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from ._dbtscaffold import load_csv
from .constants import dbt_project

HERE = Path(__file__).parent
# The project's data/ folder, else the copy `dbtscaffold package` puts in this package.
DATA_DIR = HERE.parent / "data" if (HERE.parent / "data").is_dir() else HERE / "data"


@asset(
    key=["raw_orders"],
    kinds={"python", "duckdb"},
    description='Orders, "as exported".',
)
def raw_orders(context: AssetExecutionContext) -> MaterializeResult:
    rows = load_csv(
        dbt_project,
        DATA_DIR / "raw_orders.csv",
        schema="main",
        table="raw_orders",
        column_types={"order_date": "date"},
        delimiter=";",
        quote_columns=False,
    )
    context.log.info("Loaded %d rows into %s", rows, "main.raw_orders")
    return MaterializeResult(metadata={"dagster/row_count": rows})
"""
    )


def test_defaults_are_left_out_of_the_call():
    out = add_loader_asset("", LoaderSpec("raw_items", "main", "raw_items", "duckdb"), "pkg")
    assert "column_types" not in out and "delimiter" not in out and "quote_columns" not in out
    compile(out, "seed_assets.py", "exec")


def test_a_second_asset_is_appended_and_the_module_compiles():
    once = add_loader_asset(PLACEHOLDER, SPEC, "pkg")
    twice = add_loader_asset(once, LoaderSpec("raw_items", "main", "raw_items", "duckdb"), "pkg")
    assert twice.startswith(once)
    assert twice.count("from dagster import") == 1
    assert find_asset(twice, ["raw_items"]) == "ours"
    compile(twice, "seed_assets.py", "exec")


def test_crlf_file_stays_crlf():
    once = add_loader_asset(PLACEHOLDER, SPEC, "pkg").replace("\n", "\r\n")
    out = add_loader_asset(once, LoaderSpec("raw_items", "main", "raw_items", "duckdb"), "pkg")
    assert "\n" not in out.replace("\r\n", "")


def test_hostile_values_stay_inside_their_literals():
    import ast

    desc = 'a"""b\'\\\n) ; import os'
    spec = LoaderSpec("raw_x", "main", "raw_x", "duckdb", description=desc)
    tree = ast.parse(add_loader_asset(PLACEHOLDER, spec, "pkg"))
    [func] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    [call] = func.decorator_list
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert kwargs == {"key": ["raw_x"], "kinds": {"python", "duckdb"}, "description": desc}
    assert not [n for n in tree.body if isinstance(n, ast.Import)]


def test_the_loader_keeps_the_seeds_group_and_owners():
    import ast

    spec = LoaderSpec(
        "raw_x", "main", "raw_x", "duckdb", group="finance", owners=("team:data", "a@b.io")
    )
    tree = ast.parse(add_loader_asset(PLACEHOLDER, spec, "pkg"))
    [func] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in func.decorator_list[0].keywords}
    assert kwargs["group_name"] == "finance"
    assert kwargs["owners"] == ["team:data", "a@b.io"]


def test_seed_dagster_props_read_as_dagster_dbt_reads_them():
    from dbtscaffold.dagster_project.seed_assets import seed_dagster_props

    assert seed_dagster_props({}, {}, None) == (None, [])
    assert seed_dagster_props({"group": "dbt_grp"}, {}, {"name": "s"}) == ("dbt_grp", [])
    entry = {"name": "s", "config": {"meta": {"dagster": {"group": "g", "owners": ["o@x"]}}}}
    assert seed_dagster_props({"group": "dbt_grp"}, {}, entry) == ("g", ["o@x"])
    assert seed_dagster_props({"meta": {"dagster": {"owners": ["p"]}}}, {}, {}) == (None, ["p"])


def test_missing_names_of_an_edited_module():
    assert missing_names(PLACEHOLDER) == []
    assert missing_names("") == []
    edited = add_loader_asset(PLACEHOLDER, SPEC, "pkg").replace(
        "from .constants import dbt_project\n", ""
    )
    assert missing_names(edited) == ["dbt_project"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("@asset\ndef raw_orders(): ...\n", "other"),
        ("@dg.asset(name='raw_orders')\ndef load(): ...\n", "other"),
        ("@asset(key=['raw_orders'])\ndef f():\n    load_csv(x)\n", "ours"),
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
