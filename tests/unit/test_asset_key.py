"""dbt/manifest.py's asset_key, the one rule for a dbt resource's asset key, against
dagster-dbt's own `DagsterDbtTranslator().get_asset_key` (the rule it copies)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from dbtscaffold.dbt.manifest import asset_key, configured_asset_key
from dbtscaffold.dbt.properties import asset_key_of
from dbtscaffold.resources import example_dir
from dbtscaffold.runtime.parse import dbt_command

# What the example lacks: keys in meta and config.meta, a model's own schema, versions.
KEYS_YML = """\
version: 2
sources:
  - name: upstream
    schema: main
    tables:
      - name: events
        meta: {dagster: {asset_key: [lake, events]}}
      - name: clicks
        config: {meta: {dagster: {asset_key: clicks_raw}}}
      - name: visits
        config: {meta: {owner: me}}
      - name: plain
models:
  - name: top_meta
    meta: {dagster: {asset_key: [top, meta]}}
  - name: versioned
    latest_version: 2
    versions: [{v: 1}, {v: 2}]
"""
MODELS = {
    "keyed": "{{ config(meta={'dagster': {'asset_key': ['marts', 'keyed_key']}}) }}\nselect 1 as x",
    "in_marts": "{{ config(schema='marts') }}\nselect 1 as x",
    "top_meta": "select 1 as x",
    "versioned_v1": "select 1 as x",
    "versioned_v2": "select 2 as x",
}


def _translator_key(props):
    from dagster_dbt import DagsterDbtTranslator

    return tuple(DagsterDbtTranslator().get_asset_key(props).path)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """The bundled example's manifest, with KEYS_YML's overrides, from a real `dbt parse`."""
    project = tmp_path_factory.mktemp("keys") / "jaffle_shop"
    shutil.copytree(example_dir(), project)
    (project / "models" / "_keys.yml").write_text(KEYS_YML, encoding="utf-8")
    for name, sql in MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql, encoding="utf-8")
    target = project / "target"
    subprocess.run(
        [*dbt_command(), "parse", "--project-dir", project, "--profiles-dir", project,
         "--target-path", target, "--log-path", target],
        cwd=project, check=True, capture_output=True,
    )  # fmt: skip
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_resource_of_the_example_has_dagster_dbts_key(manifest):
    resources = {**manifest["nodes"], **manifest["sources"]}
    got = {uid: asset_key(props) for uid, props in resources.items()}
    assert got == {uid: _translator_key(props) for uid, props in resources.items()}
    # The overrides are in, each as dagster-dbt reads it.
    assert got["source.jaffle_shop.upstream.events"] == ("lake", "events")
    assert got["source.jaffle_shop.upstream.clicks"] == ("clicks_raw",)
    assert got["source.jaffle_shop.upstream.visits"] == ("upstream", "visits")
    assert got["model.jaffle_shop.keyed"] == ("marts", "keyed_key")
    assert got["model.jaffle_shop.in_marts"] == ("marts", "in_marts")
    assert got["model.jaffle_shop.top_meta"] == ("top", "meta")
    assert got["model.jaffle_shop.versioned.v1"] == ("versioned_v1",)
    assert got["model.jaffle_shop.customers"] == ("customers",)


MODEL = {"resource_type": "model", "name": "orders", "config": {}}


@pytest.mark.parametrize(
    "props",
    [
        MODEL,
        {**MODEL, "config": {"schema": "marts"}},
        {**MODEL, "config": {"schema": ""}},  # configured, if empty
        {**MODEL, "version": 2, "alias": "orders_v2"},
        {**MODEL, "config": {"meta": {"dagster": {"asset_key": ["a", "b"]}}}},
        {**MODEL, "config": {"meta": {"dagster": {"asset_key": "k"}}}},
        {**MODEL, "config": {"meta": {"dagster": {"asset_key": []}}, "schema": "s"}},
        {**MODEL, "meta": {"dagster": {"asset_key": ["top"]}}},
        # config.meta, when it holds anything, hides the top-level meta (dagster-dbt's `or`)
        {**MODEL, "config": {"meta": {"x": 1}}, "meta": {"dagster": {"asset_key": ["top"]}}},
        {**MODEL, "config": {"meta": {"dagster": {"asset_key": ["cfg"]}}}, "meta": {"x": 1}},
        {"resource_type": "source", "source_name": "shop", "name": "raw", "config": {}},
        {
            "resource_type": "source",
            "source_name": "shop",
            "name": "raw",
            "config": {"meta": {"dagster": {"asset_key": ["raw"]}}},
        },  # fmt: skip
        {
            "resource_type": "seed",
            "name": "s",
            "config": {},
            "meta": {"dagster": {"asset_key": "k"}},
        },
        {"resource_type": "snapshot", "name": "snap", "config": {"schema": "snapshots"}},
    ],
)
def test_asset_key_is_dagster_dbts(props):
    assert asset_key(props) == _translator_key(props)


@pytest.mark.parametrize(
    ("node", "key"),
    [
        ({"name": "t"}, None),
        ({"name": "t", "meta": {"dagster": {"asset_key": ["a", "b"]}}}, ["a", "b"]),
        ({"name": "t", "config": {"meta": {"dagster": {"asset_key": "k"}}}}, ["k"]),
        # In a properties file both count (dbt merges them); config.meta's first.
        (
            {
                "name": "t",
                "config": {"meta": {"dagster": {"asset_key": ["cfg"]}}},
                "meta": {"dagster": {"asset_key": ["top"]}},
            },
            ["cfg"],
        ),
        (
            {
                "name": "t",
                "config": {"meta": {"x": 1}},
                "meta": {"dagster": {"asset_key": ["top"]}},
            },
            ["top"],
        ),
    ],
)
def test_a_properties_file_node_sets_its_key_by_the_same_rule(node, key):
    assert asset_key_of(node) == key
    if key is not None:
        assert configured_asset_key({"meta": {"dagster": {"asset_key": key}}}) == tuple(key)
