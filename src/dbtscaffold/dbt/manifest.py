"""Reading a dbt manifest: the Dagster asset keys of its resources, and the seeds models ref.

`asset_key` is the one rule for the asset key of a dbt resource (check, completion,
materialize's table and convert-seed all use it): dagster-dbt's default translator
(`default_asset_key_fn`, dagster-dbt 0.29): `meta.dagster.asset_key` when set (`config.meta`
when it has any meta, else `meta`), else `[source_name, name]` for a source, `[alias]` for a
versioned model, `[schema, name]` when the resource configures its own schema, else `[name]`. Which
resources become assets follows dagster-dbt too: models (not ephemeral ones), seeds and
snapshots; sources count where some resource depends on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASSET_RESOURCE_TYPES = ("model", "seed", "snapshot")


@dataclass(frozen=True)
class DbtResource:
    """One manifest resource with the asset key Dagster gives it."""

    unique_id: str
    resource_type: str
    key: tuple[str, ...]
    path: str  # original_file_path, for messages


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at PATH, or None when it is missing or not a JSON object."""
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def configured_asset_key(props: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The asset key PROPS (a resource, or a node of a properties file) sets in its
    `meta.dagster.asset_key` (`config.meta` when it has any meta, as dagster-dbt reads it);
    None when it sets none."""
    config = props.get("config")
    meta = (config.get("meta") if isinstance(config, Mapping) else None) or props.get("meta")
    dagster = meta.get("dagster") if isinstance(meta, Mapping) else None
    configured = dagster.get("asset_key") if isinstance(dagster, Mapping) else None
    if isinstance(configured, str) and configured:
        return (configured,)
    if isinstance(configured, (list, tuple)) and configured:
        return tuple(str(p) for p in configured)
    return None


def asset_key(props: Mapping[str, Any]) -> tuple[str, ...]:
    """The asset key dagster-dbt's default translator gives the resource PROPS (a manifest
    node or source): the one rule every asset key of a dbt resource is computed by."""
    configured = configured_asset_key(props)
    if configured is not None:
        return configured
    if props.get("resource_type") == "source":
        return (str(props.get("source_name")), str(props.get("name")))
    if props.get("version"):
        return (str(props.get("alias")),)
    schema = (props.get("config") or {}).get("schema")
    return (str(schema), str(props["name"])) if schema is not None else (str(props["name"]),)


def _is_asset(props: Mapping[str, Any]) -> bool:
    if props.get("resource_type") not in ASSET_RESOURCE_TYPES:
        return False
    materialized = (props.get("config") or {}).get("materialized")
    return not (props.get("resource_type") == "model" and materialized == "ephemeral")


def _resource(unique_id: str, props: Mapping[str, Any]) -> DbtResource:
    return DbtResource(
        unique_id,
        str(props.get("resource_type")),
        asset_key(props),
        str(props.get("original_file_path") or ""),
    )


def dbt_assets(manifest: Mapping[str, Any]) -> list[DbtResource]:
    """The models, seeds and snapshots that become Dagster assets, sorted by unique id."""
    nodes = manifest.get("nodes") or {}
    return [_resource(uid, p) for uid, p in sorted(nodes.items()) if _is_asset(p)]


def dbt_sources(manifest: Mapping[str, Any], *, used_only: bool = False) -> list[DbtResource]:
    """The sources (USED_ONLY: those some node depends on), sorted by unique id."""
    sources = manifest.get("sources") or {}
    used: set[str] = set()
    if used_only:
        for props in (manifest.get("nodes") or {}).values():
            used.update((props.get("depends_on") or {}).get("nodes") or [])
    return [_resource(uid, p) for uid, p in sorted(sources.items()) if not used_only or uid in used]


def seeds_referenced(manifest: Mapping[str, Any], project: str) -> dict[str, list[str]]:
    """{seed name: names of the models that ref it}, for PROJECT's own seeds that models ref."""
    nodes = manifest.get("nodes") or {}
    seeds = {
        uid: str(p.get("name"))
        for uid, p in nodes.items()
        if p.get("resource_type") == "seed" and p.get("package_name") == project
    }
    out: dict[str, list[str]] = {}
    for props in nodes.values():
        if props.get("resource_type") != "model":
            continue
        for parent in (props.get("depends_on") or {}).get("nodes") or []:
            if parent in seeds:
                out.setdefault(seeds[parent], []).append(str(props.get("name")))
    return {seed: sorted(set(models)) for seed, models in sorted(out.items())}
