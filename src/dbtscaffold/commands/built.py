"""What a run built: each asset with what built it, its table and its row count now.

`materialize` and `quickstart` end with this table. Row counts are read back from a DuckDB
warehouse; elsewhere they come from the asset's `dagster/row_count` metadata, when it has one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbtscaffold import console


@dataclass(frozen=True)
class BuiltAsset:
    name: str
    built_by: str
    table: str
    rows: int | None


def show_built(run_id: str, built: list[BuiltAsset]) -> None:
    """The table of BUILT (a result: stdout)."""
    console.table(
        f"Assets built by run {run_id[:8]}",
        ["Asset", "Built by", "Table", "Rows"],
        [[a.name, a.built_by, a.table, "?" if a.rows is None else a.rows] for a in built],
    )


def _manifest(dbt_dir: Path) -> dict[str, Any]:
    from dbtscaffold.dbt.project import read_dbt_project

    path = dbt_dir / read_dbt_project(dbt_dir).target_path / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _duckdb_file(dbt_dir: Path) -> Path | None:
    """The DuckDB database file of the dbt target in use, if it is DuckDB."""
    from dbtscaffold.dbt.project import read_dbt_project
    from dbtscaffold.dbt.target import read_target

    target = read_target(read_dbt_project(dbt_dir))
    path = str(target.config.get("path") or "")
    if target.type != "duckdb" or not path or path == ":memory:" or "{{" in path:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else dbt_dir / p


def warehouse_label(dbt_dir: Path) -> Path:
    return _duckdb_file(dbt_dir) or dbt_dir


def describe_assets(dbt_dir: Path, assets: list[Any]) -> list[BuiltAsset]:
    """Each materialized asset with its table and its row count in the warehouse now."""
    from dbtscaffold.dbt.manifest import configured_asset_key

    manifest = _manifest(dbt_dir)
    nodes: dict[str, Any] = manifest.get("nodes") or {}
    by_key = {
        key: src
        for src in (manifest.get("sources") or {}).values()
        if (key := configured_asset_key(src)) is not None
    }
    rows: list[tuple[Any, str, str | None]] = []
    for asset in assets:
        uid = asset.metadata.get("unique_id")
        if isinstance(uid, str) and uid in nodes:
            node = nodes[uid]
            rows.append(
                (asset, f"dbt {node.get('resource_type', 'node')}", node.get("relation_name"))
            )
        elif asset.key in by_key:
            rows.append((asset, "Python asset", by_key[asset.key].get("relation_name")))
        else:
            rows.append((asset, "Python asset", None))
    counts = _count_rows(dbt_dir, [r for _, _, r in rows if r])
    out = []
    for asset, built_by, relation in rows:
        n = counts.get(relation) if relation else None
        if n is None:
            n = asset.row_count
        table = relation.replace('"', "").split(".", 1)[-1] if relation else "-"
        out.append(BuiltAsset(asset.name, built_by, table, n))
    return out


def _count_rows(dbt_dir: Path, relations: list[str]) -> dict[str, int]:
    db = _duckdb_file(dbt_dir)
    if db is None or not db.is_file() or not relations:
        return {}
    import duckdb

    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(os.fspath(db), read_only=True)
    except duckdb.Error as e:
        console.warn(f"Cannot open `{db}` to count rows: {e}")
        return counts
    try:
        for relation in relations:
            try:
                counts[relation] = int(
                    con.execute(f"select count(*) from {relation}").fetchall()[0][0]
                )
            except duckdb.Error:
                continue
    finally:
        con.close()
    return counts
