"""The definitions load; every dbt model and every seed loader is an asset."""

import json

from dagster import AssetsDefinition, Definitions
from dagster_dbt import get_asset_key_for_model

from {{ cookiecutter.project_name }} import assets, seed_assets
from {{ cookiecutter.project_name }}.constants import dbt_project
from {{ cookiecutter.project_name }}.definitions import defs


def test_definitions_load():
    Definitions.validate_loadable(defs)


def test_every_dbt_model_is_an_asset():
    keys = defs.resolve_asset_graph().materializable_asset_keys
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral":
            key = get_asset_key_for_model([assets.{{ cookiecutter.dbt_assets_name }}], node["name"])
            assert key in keys, node["name"]


def test_every_seed_loader_is_an_asset():
    keys = defs.resolve_asset_graph().materializable_asset_keys
    for loader in vars(seed_assets).values():
        if isinstance(loader, AssetsDefinition):
            assert loader.key in keys
