"""The definitions load, and every dbt model is an asset."""

import json
from pathlib import Path

from dagster import AssetKey, Definitions

from {{ cookiecutter.project_name }}.definitions import defs

DBT_PROJECT_DIR = Path(__file__).parent.joinpath({{ cookiecutter.dbt_project_dir_parts_from_tests_py }}).resolve()


def test_definitions_load():
    Definitions.validate_loadable(defs())


def test_every_dbt_model_is_an_asset():
    keys = defs().resolve_asset_graph().materializable_asset_keys
    manifest = json.loads((DBT_PROJECT_DIR / {{ cookiecutter.manifest_rel_py }}).read_text(encoding="utf-8"))
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral":
            assert AssetKey(node["name"]) in keys, node["name"]
