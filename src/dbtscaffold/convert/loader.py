"""The loader asset a converted seed gets: its config from the seed's, its CSV's move to
data/, and its code in seed_assets.py. Values in, values out: nothing here edits a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold.changes.plan import FileChange
from dbtscaffold.dbt import properties as dbt_yaml
from dbtscaffold.dbt.files import SeedFile
from dbtscaffold.errors import UserError

# Seed config that says where the table is: carried by the source's schema and identifier.
RELATION_KEYS = ("schema", "alias", "database")


@dataclass
class SeedConfig:
    """A seed's config sorted: what the loader honours, what the source table takes."""

    loader: dict[str, Any] = field(default_factory=dict)
    table_config: list[tuple[str, Any]] = field(default_factory=list)  # not in its YAML entry
    notes: list[str] = field(default_factory=list)  # config that was dropped


def seed_config(
    seed: str, inherited: dict[str, Any], own: dict[str, Any], moved: dbt_yaml.MovedProperties
) -> SeedConfig:
    """SEED's config in dbt_project.yml (INHERITED, OWN) and its YAML entry's (MOVED), sorted."""
    out = SeedConfig()
    for cfg in (inherited, own, moved.loader_config):
        for key in dbt_yaml.LOADER_CONFIG_KEYS:
            if key == "column_types" and isinstance(cfg.get(key), dict):
                out.loader.setdefault(key, {}).update(cfg[key])
            elif key in cfg and key != "column_types":
                out.loader[key] = cfg[key]
    have = {k for k, _ in moved.table_config}
    for key, value in own.items():
        if key in dbt_yaml.TABLE_CONFIG_KEYS and key not in have:
            out.table_config.append((key, value))
        elif key not in (
            *dbt_yaml.LOADER_CONFIG_KEYS,
            *dbt_yaml.TABLE_CONFIG_KEYS,
            *RELATION_KEYS,
            "group",  # the loader asset's group (seed_dagster_props)
        ):
            out.notes.append(
                f"Seed config `{key}` of `{seed}` in dbt_project.yml does not apply "
                "to a source table and was dropped."
            )
    return out


def column_types(
    seed: str, loader: dict[str, Any], header: list[str]
) -> tuple[dict[str, str], list[str]]:
    """The loader's column types of the columns in HEADER, and notes on those left out."""
    types = {str(k): str(v) for k, v in (loader.get("column_types") or {}).items()}
    notes = []
    for c in [c for c in types if c not in header]:
        notes.append(
            f"`column_types` of seed `{seed}` names `{c}`, which is not a column of its CSV; "
            "it was not carried into the loader."
        )
        del types[c]
    return types, notes


@dataclass(frozen=True)
class CsvMove:
    """The planned changes that move (or delete) a seed's CSV, and a note on a deletion."""

    changes: list[FileChange]
    move: tuple[Path, Path | None]
    note: str | None = None


def plan_csv(
    seed_file: SeedFile, raw: bytes, data_dir: Path, delete_csv: bool, rel: Callable[[Path], str]
) -> CsvMove:
    """The CSV (bytes RAW) moved into DATA_DIR, or deleted (--delete-csv)."""
    src = seed_file.path
    if delete_csv:
        note = (
            f"The CSV of `{seed_file.name}` was deleted (--delete-csv): put its data in "
            f"`{rel(data_dir / src.name)}` or change the asset before materializing."
        )
        return CsvMove([FileChange(src, raw, None)], (src, None), note)
    dst = data_dir / f"{seed_file.name}.csv"
    existing = dst.read_bytes() if dst.is_file() else None
    if existing is not None and existing != raw:
        raise UserError(
            f"`{rel(dst)}` already exists and differs from `{rel(src)}`; "
            "remove one of them and retry."
        )
    changes = [FileChange(dst, None, raw, label="move")] if existing is None else []
    changes.append(FileChange(src, raw, None, label="move"))
    return CsvMove(changes, (src, dst))
