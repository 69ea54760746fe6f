"""Pure helpers of the CLI conventions: dbt-style selections, global flags, plain tables."""

from __future__ import annotations

import pytest

from dbtscaffold.cli_group import hoist_global_flags
from dbtscaffold.workers.selection import AssetName, is_name_term, match_term, no_match_message
from dbtscaffold.console import plain_table

ASSETS = [
    AssetName(("raw_customers",), ("jaffle_shop", "raw_customers")),
    AssetName(("stg_customers",), ("jaffle_shop", "staging", "stg_customers")),
    AssetName(("staging", "stg_rates"), ("jaffle_shop", "staging", "stg_rates")),
    AssetName(("customers",), ("jaffle_shop", "marts", "customers")),
    AssetName(("loader",)),  # a Python asset: no dbt fqn
]


@pytest.mark.parametrize(
    ("term", "keys"),
    [
        ("stg_*", [("stg_customers",), ("staging", "stg_rates")]),
        ("stg_rates", [("staging", "stg_rates")]),
        ("staging.stg_rates", [("staging", "stg_rates")]),
        ("staging/stg_rates", [("staging", "stg_rates")]),
        ("staging", [("stg_customers",), ("staging", "stg_rates")]),
        ("jaffle_shop.marts.*", [("customers",)]),
        ("*customers", [("raw_customers",), ("stg_customers",), ("customers",)]),
        ("loader", [("loader",)]),
        ("Customers", []),
        ("nothing_like_it", []),
    ],
)
def test_match_term(term, keys):
    assert match_term(term, ASSETS) == keys


@pytest.mark.parametrize(
    ("term", "plain"),
    [("stg_*", True), ("staging.stg_rates", True), ("*", False), ("tag:x", False), ("+a", False)],
)
def test_is_name_term(term, plain):
    assert is_name_term(term) is plain


def test_no_match_names_the_selection_and_close_keys():
    assert no_match_message("STG_CUSTOMER", "STG_CUSTOMER", ASSETS) == (
        "No asset matches --select `STG_CUSTOMER`; did you mean `stg_customers`, "
        "`customers`, `raw_customers`?"
    )
    assert no_match_message("tag:nothing", None, ASSETS) == (
        "No asset matches --select `tag:nothing`; the assets are `customers`, `loader`, "
        "`raw_customers`, ... (5 in all)."
    )
    assert no_match_message("a,stg_x", "stg_x", []) == (
        "No asset matches `stg_x` in --select `a,stg_x`: the definitions have no assets."
    )


@pytest.mark.parametrize(
    ("args", "hoisted"),
    [
        (["convert-seed", "raw_x", "-v"], ["-v", "convert-seed", "raw_x"]),
        (["init", "--no-color", "--verbose"], ["--no-color", "--verbose", "init"]),
        (["dev", "-p", "1", "--", "-v"], ["dev", "-p", "1", "--", "-v"]),
        (["undo"], ["undo"]),
    ],
)
def test_global_flags_move_in_front_of_the_command(args, hoisted):
    assert hoist_global_flags(args) == hoisted


def test_plain_table_is_aligned_and_never_wrapped():
    text = plain_table(
        "convert-seed: 2 change(s)",
        ["File", "Change", "Refs"],
        [["a/very/long/path/" + "x" * 90 + ".sql -> b.sql", "move", ""], ["s.yml", "update", "2"]],
    )
    lines = text.splitlines()
    assert lines[0] == "convert-seed: 2 change(s)"
    assert len(lines) == 4
    assert lines[1].index("Change") == lines[2].index("move") == lines[3].index("update")
    assert not any(ch in text for ch in "─│┃━┏┓└┘")
