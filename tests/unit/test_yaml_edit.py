"""YAML edits keep every byte they do not mean to change (yaml_edit + dbt_yaml)."""

from __future__ import annotations

import pytest

from dbtscaffold.dbt import properties as dbt_yaml
from dbtscaffold.dbt.yaml_edit import Doc, Indent, YamlEditError


def table(seed, entry_text=None, meta_in_config=True):
    entry = dbt_yaml.find_seed_entry(Doc(entry_text), seed) if entry_text else None
    return dbt_yaml.new_table(seed, dbt_yaml.split_seed_entry(entry), meta_in_config=meta_in_config)


SEEDS = """\
version: 2

seeds:
  # the customers
  - name: raw_customers
    description: 'Customers'   # from the CRM
    config:
      column_types: {id: bigint}
      tags: ['raw']
      persist_docs: {relation: true}
    columns:
      - name: id
        data_tests: [unique]

  # orders come next
  - name: raw_orders
    description: Orders
"""


def test_add_table_to_existing_source_keeps_comments_order_and_quotes():
    sources = """\
version: 2

# Where raw data lands.
sources:
  - name: shop   # the shop
    schema: "main"
    tables:
      - name: existing
        description: 'kept as is'

      - name: other

  - name: elsewhere
    tables: [{name: t}]
"""
    out = dbt_yaml.add_source_table(sources, "shop", table("raw_customers", SEEDS))
    assert (
        out
        == """\
version: 2

# Where raw data lands.
sources:
  - name: shop   # the shop
    schema: "main"
    tables:
      - name: existing
        description: 'kept as is'

      - name: other

      - name: raw_customers
        description: 'Customers'   # from the CRM
        columns:
          - name: id
            data_tests: [unique]
        config:
          tags: ['raw']
          meta:
            dagster:
              asset_key: ["raw_customers"]

  - name: elsewhere
    tables: [{name: t}]
"""
    )
    # A second time, nothing changes.
    assert dbt_yaml.add_source_table(out, "shop", table("raw_customers", SEEDS)) == out


def test_split_seed_entry_sorts_properties():
    moved = dbt_yaml.split_seed_entry(dbt_yaml.find_seed_entry(Doc(SEEDS), "raw_customers"))
    assert [k for k, _ in moved.keys] == ["description", "columns"]
    assert [k for k, _ in moved.table_config] == ["tags"]
    assert moved.loader_config == {"column_types": {"id": "bigint"}}
    assert moved.dropped == ["config.persist_docs"]


def test_new_source_in_new_file_and_in_file_without_it():
    assert (
        dbt_yaml.add_source_table("", "shop", table("s"), "main")
        == """\
version: 2

sources:
  - name: shop
    schema: main
    tables:
      - name: s
        config:
          meta:
            dagster:
              asset_key: ["s"]
"""
    )
    models = "version: 2\n\nmodels:\n- name: m\n  description: x\n"
    assert dbt_yaml.add_source_table(models, "shop", table("s", meta_in_config=False)) == (
        "version: 2\n\nmodels:\n- name: m\n  description: x\n\nsources:\n- name: shop\n  tables:\n"
        '  - name: s\n    meta:\n      dagster:\n        asset_key: ["s"]\n'
    )


def test_crlf_is_kept():
    text = "version: 2\r\nsources:\r\n  - name: shop\r\n    tables:\r\n      - name: a\r\n"
    out = dbt_yaml.add_source_table(text, "shop", table("b"))
    assert out == text + (
        "      - name: b\r\n        config:\r\n          meta:\r\n            dagster:\r\n"
        '              asset_key: ["b"]\r\n'
    )


def test_existing_table_gets_the_asset_key_and_missing_properties():
    text = "sources:\n  - name: shop\n    tables:\n      - name: raw_customers  # declared by hand\n\n  - name: x\n"
    out = dbt_yaml.add_source_table(text, "shop", table("raw_customers", SEEDS))
    assert out == (
        "sources:\n  - name: shop\n    tables:\n      - name: raw_customers  # declared by hand\n"
        "        description: 'Customers'   # from the CRM\n        columns:\n          - name: id\n"
        "            data_tests: [unique]\n        config:\n          tags: ['raw']\n          meta:\n"
        '            dagster:\n              asset_key: ["raw_customers"]\n\n  - name: x\n'
    )


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (
            "raw_customers",
            (
                "version: 2\n\nseeds:\n  # the customers\n  # orders come next\n"
                "  - name: raw_orders\n    description: Orders\n"
            ),
        ),
        # The comment above the last entry stays: comments are never dropped.
        ("raw_orders", SEEDS.split("  - name: raw_orders")[0]),
        ("nope", SEEDS),
    ],
)
def test_remove_seed_entry(seed, expected):
    assert dbt_yaml.remove_seed_entry(SEEDS, seed) == expected


def test_remove_the_only_seed_entry_removes_the_key():
    text = "version: 2\n\nseeds:\n  - name: a\n    description: x\n\nmodels:\n  - name: m\n"
    assert dbt_yaml.remove_seed_entry(text, "a") == "version: 2\n\nmodels:\n  - name: m\n"


def test_remove_seed_entry_from_flow_sequence():
    # A flow sequence has no lines to cut: `seeds:` is rendered again by ruamel.
    text = "version: 2  # v\nseeds: [{name: a}, {name: b}]\n"
    out = dbt_yaml.remove_seed_entry(text, "a")
    assert out.startswith("version: 2  # v\nseeds: [")
    assert Doc(out).data == {"version": 2, "seeds": [{"name": "b"}]}


PROJECT = """\
name: shop
models:
  shop:
    +materialized: view

seeds:
  +quote_columns: false
  shop:
    +delimiter: ";"
    raw:
      raw_orders:
        +column_types:
          order_date: date   # dates
        +schema: raw
      raw_payments:
        +enabled: true
"""


def test_project_seed_config_and_removal():
    inherited, own = dbt_yaml.project_seed_config(PROJECT, "shop", ("raw",), "raw_orders")
    assert inherited == {"quote_columns": False, "delimiter": ";"}
    assert own == {"column_types": {"order_date": "date"}, "schema": "raw"}
    out = dbt_yaml.remove_project_seed_config(PROJECT, "shop", ("raw",), "raw_orders")
    assert out == PROJECT.replace(
        "      raw_orders:\n        +column_types:\n          order_date: date   # dates\n"
        "        +schema: raw\n",
        "",
    )
    # Removing the last seed under `seeds:` removes the parents it empties, and the blank
    # lines before the end of the file.
    out2 = dbt_yaml.remove_project_seed_config(out, "shop", ("raw",), "raw_payments")
    assert out2 == PROJECT.split("      raw_orders:")[0].replace("    raw:\n", "")
    simple = "name: shop\n\nseeds:\n  shop:\n    raw_orders:\n      +column_types: {a: int}\n"
    assert dbt_yaml.remove_project_seed_config(simple, "shop", (), "raw_orders") == "name: shop\n"
    assert dbt_yaml.remove_project_seed_config(simple, "shop", (), "other") == simple


def test_asset_key_of_both_spellings():
    assert dbt_yaml.asset_key_of({"config": {"meta": {"dagster": {"asset_key": ["a"]}}}}) == ["a"]
    assert dbt_yaml.asset_key_of({"meta": {"dagster": {"asset_key": ["b"]}}}) == ["b"]
    assert dbt_yaml.asset_key_of({"name": "c"}) is None


def test_detect_indent():
    assert Doc(SEEDS).detect_indent() == Indent(mapping=2, sequence=4, offset=2)
    assert Doc("a:\n- b: 1\n  c:\n      d: 1\n").detect_indent() == Indent(
        mapping=4, sequence=2, offset=0
    )


def test_bad_yaml_names_the_line():
    with pytest.raises(YamlEditError) as e:
        Doc("sources:\n  - name: a\n   tables: [\n")
    assert e.value.line == 3


def test_block_owns_deeper_lines_and_leaves_following_comments():
    doc = Doc("a:\n  - x: 1\n# inside\n    y: 2\n\n  # next\n  - z: 3\n")
    seq = doc.data["a"]
    assert doc.delete_seq_item(seq, 0) == "a:\n  # next\n  - z: 3\n"


def test_layouts_the_splicer_cannot_edit_are_rendered_again():
    text = "version: 2\nsources:\n  -\n    name: shop\n    tables:\n      -\n        name: a\n"
    out = dbt_yaml.add_source_table(text, "shop", table("b"))
    assert Doc(out).data["sources"][0]["tables"][1]["name"] == "b"
    assert out.startswith("version: 2\nsources:\n")
    seeds = "seeds:\n  -\n    name: a\n  -\n    name: b\n"
    assert Doc(dbt_yaml.remove_seed_entry(seeds, "a")).data == {"seeds": [{"name": "b"}]}


def test_loader_config_is_read_as_dbt_reads_yaml():
    """A seed's loader settings read round-trip equal what dbt (PyYAML, YAML 1.1) reads."""
    import yaml

    from dbtscaffold.dbt.properties import split_seed_entry
    from dbtscaffold.dbt.yaml_edit import Doc

    text = (
        "seeds:\n"
        "  - name: a\n    config:\n      quote_columns: yes\n      delimiter: 'on'\n"
        '  - name: b\n    quote_columns: "yes"\n'
        "  - name: c\n    quote_columns: Off\n    column_types: {id: varchar}\n"
        "  - name: d\n    config: {quote_columns: true}\n"
    )
    ours = [split_seed_entry(e).loader_config for e in Doc(text).data["seeds"]]
    dbt = []
    for e in yaml.safe_load(text)["seeds"]:
        flat = {**(e.get("config") or {}), **{k: v for k, v in e.items() if k != "config"}}
        dbt.append(
            {k: flat[k] for k in ("quote_columns", "delimiter", "column_types") if k in flat}
        )
    assert ours == dbt
    assert [o.get("quote_columns") for o in ours] == [True, "yes", False, True]
