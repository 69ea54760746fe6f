"""dbt/yaml_values.py, the one reader of YAML values as dbt reads them: text through PyYAML,
and a node of ruamel's round-trip read to the same values."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtscaffold.dbt.yaml_edit import Doc
from dbtscaffold.dbt.yaml_values import as_dbt_reads, load_yaml_text, parse_yaml_text
from dbtscaffold.errors import UserError

TEXT = """\
seeds:
  shop:
    +quote_columns: yes
    +enabled: Off
    raw_orders:
      +delimiter: ";"
      +column_types: {id: bigint, "yes": varchar}
      +tags: [a, "no", on, 1, 2.5, ~]
      +meta: {quoted: "yes", single: 'off', plain: text, flag: true}
"""


def test_a_round_trip_node_reads_as_dbt_reads_the_text():
    data = load_yaml_text(TEXT)
    assert as_dbt_reads(Doc(TEXT).data) == data
    shop = data["seeds"]["shop"]
    assert (shop["+quote_columns"], shop["+enabled"]) == (True, False)
    assert shop["raw_orders"]["+tags"] == ["a", "no", True, 1, 2.5, None]
    assert shop["raw_orders"]["+meta"]["quoted"] == "yes"


def test_text_that_is_not_yaml_is_a_user_error():
    with pytest.raises(UserError) as e:
        parse_yaml_text("a: 1\na: 2\n", Path("p"), "dbt_project.yml")
    assert str(e.value) == (
        'dbt_project.yml `p` is not valid YAML at line 2, column 1: found duplicate key "a"; '
        "fix it and retry."
    )
