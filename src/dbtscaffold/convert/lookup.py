"""What convert-seed looks up in the dbt project's files before it edits them: the source
it declares the table in, the seed's properties entry, and that the seed's asset key is free.

Each function reads the in-memory files (texts.py) and returns what it found, or raises a
UserError; none of them edits anything.
"""

from __future__ import annotations

import os
import re
from typing import Any

from dbtscaffold.convert.texts import ProjectTexts
from dbtscaffold.dbt import properties as dbt_yaml
from dbtscaffold.errors import UserError


def find_source(texts: ProjectTexts, source: str) -> tuple[str, Any] | None:
    """The properties file declaring SOURCE (enabled), and that source's mapping."""
    for path in texts.yaml_paths():
        text = texts.text(path) or ""
        if "sources" not in text or source not in text:
            continue
        for src in dbt_yaml.declared_sources(texts.load(path)):
            if str(src["name"]) == source and not dbt_yaml.is_disabled(src):
                return path, src
    return None


def source_table(found: tuple[str, Any] | None, name: str) -> Any:
    """The table NAME in FOUND's source mapping, or None."""
    if found is None:
        return None
    idx = dbt_yaml.named_index(found[1].get("tables"), name)
    return found[1]["tables"][idx] if idx is not None else None


def seed_entry(texts: ProjectTexts, seed: str) -> tuple[str, Any] | None:
    """The properties file with SEED's entry under `seeds:`, and that entry."""
    from dbtscaffold.dbt.yaml_edit import YamlEditError

    for path in texts.yaml_paths():
        text = texts.text(path) or ""
        if "seeds" in text and seed in text:
            try:
                # The entry's comments are made relative to it (in the Doc), which is
                # what remove_seed_entry, its one other user, needs no more.
                entry = dbt_yaml.find_seed_entry(texts.doc(path), seed)
            except YamlEditError as e:
                raise texts.yaml_error(path, e) from None
            if entry is not None:
                return path, entry
    return None


def _stem(name: str) -> str:
    """NAME without its last suffix, as `Path.stem`."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def check_key_free(texts: ProjectTexts, seed: str, source: str) -> None:
    """A UserError if another model, snapshot, source or asset has asset key [SEED] (a table
    SEED of SOURCE may: it is the one the seed becomes)."""
    taken = f"Asset key `{seed}` is already used by"
    fix = "Dagster cannot load two assets with one key; rename one of them."
    for path, kind in texts.kinds.items():
        if kind not in ("sql", "python"):
            continue
        name = path.rpartition(os.sep)[2]
        if name.startswith(seed) and _stem(name) == seed and texts.files.in_models(path):
            raise UserError(f"{taken} the model `{texts.rel(path)}`. {fix}")
    snap = re.compile(r"\{%-?\s*snapshot\s+" + re.escape(seed) + r"\s*-?%\}")
    for path, kind in texts.kinds.items():
        text = texts.text(path) or ""
        if kind == "sql" and seed in text and snap.search(text):
            raise UserError(f"{taken} a snapshot in `{texts.rel(path)}`. {fix}")
    for path in texts.yaml_paths():
        text = texts.text(path) or ""
        if "asset_key" in text and seed in text:
            if (where := _yaml_key_user(texts.load(path), seed, source)) is not None:
                raise UserError(f"{taken} {where} in `{texts.rel(path)}`. {fix}")


def _yaml_key_user(data: Any, seed: str, source: str) -> str | None:
    """What in a properties file's DATA has asset key [SEED] (not SOURCE's table SEED)."""
    for src in dbt_yaml.declared_sources(data):
        for table in src.get("tables") or []:
            if not isinstance(table, dict) or dbt_yaml.asset_key_of(table) != [seed]:
                continue
            if (str(src["name"]), str(table.get("name"))) != (source, seed):
                return f"the source table `{src['name']}.{table.get('name')}`"
    for key in ("models", "snapshots", "seeds"):
        for node in (data or {}).get(key) or [] if isinstance(data, dict) else []:
            if isinstance(node, dict) and dbt_yaml.asset_key_of(node) == [seed]:
                return f"`{node.get('name')}`"
    return None
