"""Shell completion values: seed names for `convert-seed`, asset keys for `--select`.

Each runs on every TAB, so it must be cheap and silent: the dbt project is found from the
options already typed or from the current folder (walking up like git, or through the
Dagster project there), seeds are a listing of CSV files under the seed paths, asset keys
come from dbt's last `target/manifest.json`. No dagster, no dbt, and never an error: a
project that cannot be read completes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dbtscaffold.errors import UserError

_ASSET_TYPES = ("model", "seed", "snapshot")


def _dbt_dir(dbt_project_dir: Path | None, dagster_project_dir: Path | None) -> Path | None:
    from dbtscaffold.dagster_project.locate import read_dagster_project
    from dbtscaffold.dbt.project import find_dbt_project_dir

    if dbt_project_dir is not None:
        return Path(dbt_project_dir)
    if dagster_project_dir is not None:
        info = read_dagster_project(Path(dagster_project_dir))
        return info.dbt_project_dir if info else None
    cwd = Path.cwd()
    found = find_dbt_project_dir(cwd)
    if found is not None:
        return found
    for d in (cwd, *cwd.parents):
        info = read_dagster_project(d)
        if info is not None:
            return info.dbt_project_dir
    return None


def seed_names(
    incomplete: str, dbt_project_dir: Path | None = None, dagster_project_dir: Path | None = None
) -> list[str]:
    """The seeds (CSV file names without .csv) whose names start with INCOMPLETE."""
    from dbtscaffold.dbt.project import read_dbt_project

    try:
        d = _dbt_dir(dbt_project_dir, dagster_project_dir)
        if d is None:
            return []
        dbt = read_dbt_project(d)
    except (UserError, OSError):
        return []
    names: set[str] = set()
    for rel in dbt.seed_paths:
        for _dirpath, dirnames, filenames in os.walk(dbt.dir / rel):
            dirnames[:] = [n for n in dirnames if not n.startswith(".")]
            names.update(f[:-4] for f in filenames if f.lower().endswith(".csv"))
    return sorted(n for n in names if n.startswith(incomplete))


def _asset_key(node: dict[str, Any]) -> list[str] | None:
    """dagster-dbt's key of a manifest node; None for a source without a key of its own (an
    upstream source, not an asset of this project)."""
    from dbtscaffold.dbt.manifest import asset_key, configured_asset_key

    if node.get("resource_type") == "source" and configured_asset_key(node) is None:
        return None
    return list(asset_key(node))


def asset_keys(incomplete: str, dagster_project_dir: Path | None = None) -> list[str]:
    """Asset keys (`a/b`) from the dbt project's last manifest that start with INCOMPLETE."""
    from dbtscaffold.dbt.project import read_dbt_project

    try:
        d = _dbt_dir(None, dagster_project_dir)
        if d is None:
            return []
        dbt = read_dbt_project(d)
        manifest = json.loads((dbt.dir / dbt.target_path / "manifest.json").read_bytes())
    except (UserError, OSError, ValueError):
        return []
    keys: set[str] = set()
    nodes = [
        n for n in (manifest.get("nodes") or {}).values() if n.get("resource_type") in _ASSET_TYPES
    ]
    for node in [*nodes, *(manifest.get("sources") or {}).values()]:
        try:
            key = _asset_key(node)
        except (KeyError, AttributeError, TypeError):
            continue
        if key:
            keys.add("/".join(key))
    return sorted(k for k in keys if k.startswith(incomplete))
