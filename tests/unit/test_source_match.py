"""Finding the source table that already reads a seed's relation (convert/source_match.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dbtscaffold.dbt.relations import Relation
from dbtscaffold.convert.source_match import SourceTableRef, table_on_relation, table_with_key

SOURCES = """
sources:
  - name: crm
    schema: main
    tables:
      - name: customers
        identifier: raw_customers
      - name: orders
  - name: raw  # schema defaults to the source's name
    tables:
      - name: Payments
  - name: off
    config: {enabled: false}
    schema: main
    tables: [{name: raw_orders}]
  - name: jinja
    schema: "{{ target.schema }}"
    tables: [{name: raw_items}]
  - name: other_db
    database: elsewhere
    schema: main
    tables: [{name: raw_stock}]
  - name: keyed
    tables:
      - name: t
        config: {meta: {dagster: {asset_key: [raw_t]}}}
"""
FILES = [(Path("models/sources.yml"), yaml.safe_load(SOURCES))]


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        (Relation(None, "main", "raw_customers"), ("crm", "customers")),
        (Relation(None, "MAIN", "RAW_CUSTOMERS"), ("crm", "customers")),  # unquoted names
        (Relation(None, "main", "orders"), ("crm", "orders")),
        (Relation(None, "main", "customers"), None),  # its identifier is raw_customers
        (Relation(None, "raw", "payments"), ("raw", "Payments")),
        (Relation(None, "main", "raw_orders"), None),  # disabled source
        (Relation(None, "main", "raw_items"), None),  # only dbt can render the schema
        (Relation(None, "main", "raw_stock"), None),  # another database
        (Relation("elsewhere", "main", "raw_stock"), ("other_db", "raw_stock")),
    ],
)
def test_table_on_relation(rel, expected):
    found = table_on_relation(FILES, rel, "db")
    assert (found and (found.source, found.table)) == (expected or None)


def test_table_with_key_finds_a_converted_seed():
    assert table_with_key(FILES, ["raw_t"]).table == "t"
    assert table_with_key(FILES, ["raw_customers"]) is None


def test_refs_become_the_extended_table():
    target = SourceTableRef("raw_customers", "shop", "crm", "customers")
    assert target.replacement('"') == 'source("crm", "customers")'


@pytest.mark.parametrize(
    ("text", "disabled"),
    [
        ("{name: s, enabled: no}", True),  # YAML 1.1, as dbt reads it
        ("{name: s, config: {enabled: Off}}", True),
        ("{name: s, enabled: false}", True),
        ("{name: s, enabled: 'no'}", False),  # quoted: a string, which dbt would refuse
        ("{name: s, enabled: yes}", False),
        ("{name: s}", False),
    ],
)
def test_disabled_as_dbt_reads_the_round_trip_yaml(text, disabled):
    from dbtscaffold.dbt.properties import is_disabled
    from dbtscaffold.dbt.yaml_edit import Doc

    assert is_disabled(Doc(text).data) is disabled
