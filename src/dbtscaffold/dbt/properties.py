"""dbt property-file edits for convert-seed, built on yaml_edit: text in, text out.

- declare a table in a source (with its Dagster asset key),
- drop a seed's entry from a properties file (its properties move to the table),
- drop a seed's block from dbt_project.yml's `seeds:` config;
and whether the installed dbt-core wants `meta` under `config:`.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from dbtscaffold.dbt.yaml_values import as_dbt_reads
from dbtscaffold.dbt.yaml_edit import (
    Doc,
    LayoutError,
    YamlEditError,
    is_block_map,
    is_block_seq,
    render_map_entry,
    shift_comments,
    trim_trailing_comments,
)

# Keys of a seed's properties that a source table accepts as they are.
TABLE_KEYS = ("description", "columns", "data_tests", "tests", "docs", "identifier", "quoting")
# Config a source table accepts (dbt's TablesConfig).
TABLE_CONFIG_KEYS = frozenset(
    {"enabled", "event_time", "freshness", "loaded_at_field", "loaded_at_query", "meta", "tags"}
)
# Seed config the loader honours.
LOADER_CONFIG_KEYS = ("column_types", "delimiter", "quote_columns")
# Config names dbt accepts for seeds without a `+` in dbt_project.yml.
SEED_CONFIG_NAMES = frozenset(
    {
        "column_types", "delimiter", "quote_columns", "enabled", "tags", "meta", "docs",
        "schema", "alias", "database", "persist_docs", "full_refresh", "grants", "group",
        "pre-hook", "post-hook", "pre_hook", "post_hook", "quoting", "event_time", "contract",
        "materialized",
    }
)  # fmt: skip


def named_index(seq: Any, name: str) -> int | None:
    """The index of the mapping named NAME in the list SEQ, or None."""
    if not isinstance(seq, list):
        return None
    for i, item in enumerate(seq):
        if isinstance(item, dict) and str(item.get("name", "")) == name:
            return i
    return None


def asset_key_of(node: Any) -> list[str] | None:
    """The Dagster asset key a properties file's NODE (a source table, a model...) sets:
    its `config.meta`'s, else its `meta`'s (dbt merges both into the manifest's meta, where
    dagster-dbt reads it: manifest.configured_asset_key); None when it sets none."""
    from dbtscaffold.dbt.manifest import configured_asset_key

    for meta in ((node.get("config") or {}).get("meta"), node.get("meta")):
        if (key := configured_asset_key({"meta": meta})) is not None:
            return list(key)
    return None


def declared_sources(data: Any) -> list[dict[str, Any]]:
    """Every source mapping in a properties file's `sources:`."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        return []
    return [s for s in data["sources"] if isinstance(s, dict) and s.get("name") is not None]


def is_disabled(node: Any) -> bool:
    """Whether NODE (a source or table entry) says `enabled: false`, as dbt reads it (an
    unquoted `no` or `off` too)."""
    cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
    return as_dbt_reads(node.get("enabled")) is False or as_dbt_reads(cfg.get("enabled")) is False


def find_seed_entry(doc: Doc, seed: str) -> Any:
    """SEED's entry under `seeds:` in DOC (comment columns relative to it), or None."""
    data = doc.data
    if not isinstance(data, dict):
        return None
    seeds = data.get("seeds")
    i = named_index(seeds, seed)
    if seeds is None or i is None:
        return None
    if is_block_seq(seeds):
        try:
            return doc.relative_item(seeds, i)
        except YamlEditError:
            pass
    return seeds[i]


# --- the source table -----------------------------------------------------


@dataclass
class MovedProperties:
    """What a seed's properties entry becomes: table keys, table config, loader config."""

    keys: list[tuple[str, Any]] = field(default_factory=list)
    table_config: list[tuple[str, Any]] = field(default_factory=list)
    loader_config: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    comments: dict[str, Any] = field(default_factory=dict)  # end-of-line comments by key


def split_seed_entry(entry: Any) -> MovedProperties:
    """Sort a seed's properties entry into what the source table and the loader take."""
    out = MovedProperties()
    if not isinstance(entry, dict):
        return out
    for key, value in entry.items():
        k = str(key)
        if k == "name":
            continue
        if k in TABLE_KEYS:
            out.keys.append((k, value))
            ca = getattr(entry, "ca", None)
            if ca is not None and key in ca.items:
                out.comments[k] = ca.items[key]
        elif k in ("meta", "tags"):
            out.table_config.append((k, value))
        elif k in LOADER_CONFIG_KEYS:
            out.loader_config[k] = as_dbt_reads(value)
        elif k == "config" and isinstance(value, dict):
            for ck, cv in value.items():
                c = str(ck)
                if c in TABLE_CONFIG_KEYS:
                    out.table_config.append((c, cv))
                elif c in LOADER_CONFIG_KEYS:
                    out.loader_config[c] = as_dbt_reads(cv)
                else:
                    out.dropped.append(f"config.{c}")
        else:
            out.dropped.append(k)
    return out


def _asset_meta(key_path: list[str]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    key = CommentedSeq([DoubleQuotedScalarString(k) for k in key_path])
    key.fa.set_flow_style()
    return CommentedMap([("dagster", CommentedMap([("asset_key", key)]))])


def _merge_meta(meta: Any, key: list[str]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    out = meta if isinstance(meta, CommentedMap) else CommentedMap(meta or {})
    dagster = out.get("dagster")
    if not isinstance(dagster, dict):
        out["dagster"] = _asset_meta(key)["dagster"]
    else:
        dagster["asset_key"] = _asset_meta(key)["dagster"]["asset_key"]
    return out


def new_table(
    seed: str, moved: MovedProperties, *, meta_in_config: bool, key: list[str] | None = None
) -> Any:
    """The source table entry for SEED: its moved properties plus the asset key meta (KEY,
    by default [SEED]; no meta for a KEY the table being extended declares already)."""
    from ruamel.yaml.comments import CommentedMap

    table = CommentedMap([("name", seed)])
    for k, v in moved.keys:
        trim_trailing_comments(v)
        table[k] = v
        if k in moved.comments:
            table.ca.items[k] = moved.comments[k]
    trim_trailing_comments(table)
    for _, v in moved.table_config:
        trim_trailing_comments(v)
    config = CommentedMap(moved.table_config)
    own_key = key is not None and key != [seed]  # the extended table's own: already there
    if meta_in_config and not own_key:
        config["meta"] = _merge_meta(config.get("meta"), [seed])
    elif not own_key:
        meta = config.pop("meta", None)
        table["meta"] = _merge_meta(meta, [seed])
    if config:
        table["config"] = config
    return table


def _merge_into(existing: Any, new: Any) -> bool:
    """Add NEW's keys that EXISTING lacks (columns merged by name); True if it changed."""
    changed = False
    for key, value in new.items():
        if key == "name":
            continue
        if key not in existing:
            existing[key] = value
            if key in new.ca.items:
                existing.ca.items[key] = new.ca.items[key]
            changed = True
        elif key == "columns" and isinstance(existing[key], list) and isinstance(value, list):
            names = {str(c.get("name")) for c in existing[key] if isinstance(c, dict)}
            for col in value:
                if isinstance(col, dict) and str(col.get("name")) not in names:
                    existing[key].append(col)
                    changed = True
        elif (
            key in ("config", "meta")
            and isinstance(existing[key], dict)
            and isinstance(value, dict)
        ):
            changed = _merge_into(existing[key], value) or changed
    return changed


def add_source_table(text: str, source: str, table: Any, schema: str | None = None) -> str:
    """TEXT with TABLE declared in source SOURCE (added if missing, with SCHEMA if given)."""
    import copy

    try:
        return _splice_source_table(text, source, copy.deepcopy(table), schema)
    except LayoutError:
        return _rerender_source_table(text, source, table, schema)


def _rerender_source_table(text: str, source: str, table: Any, schema: str | None) -> str:
    """add_source_table for layouts the splicer cannot edit: `sources:` is rendered again."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    doc = Doc(text)
    data = doc.data
    indent = doc.detect_indent()
    sources = data["sources"]
    idx = named_index(sources, source)
    if idx is None:
        head = [("name", source)] + ([("schema", schema)] if schema else [])
        sources.append(CommentedMap([*head, ("tables", CommentedSeq([table]))]))
    else:
        tables = sources[idx].setdefault("tables", CommentedSeq())
        t_idx = named_index(tables, str(table["name"]))
        if t_idx is None:
            tables.append(table)
        elif not _merge_into(tables[t_idx], table):
            return text
    return doc.replace_key(data, "sources", sources, indent)


def _splice_source_table(text: str, source: str, table: Any, schema: str | None) -> str:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    head = [("name", source)] + ([("schema", schema)] if schema else [])
    doc = Doc(text)
    data = doc.data
    indent = doc.detect_indent()
    o, s = indent.offset, indent.sequence

    def new_source() -> Any:
        # TABLE's comments are relative to its dash; in a new source item it sits S
        # columns right of the source's dash.
        shift_comments(table, s)
        return CommentedMap([*head, ("tables", CommentedSeq([table]))])

    if data is None:
        # An empty (or comments-only) file: start a properties file after what is there.
        prefix = text if not text or text.endswith(("\n", "\r")) else text + doc.nl
        src = new_source()
        shift_comments(src, o)
        block = render_map_entry("sources", CommentedSeq([src]), 0, indent, doc.nl)
        return prefix + "version: 2" + doc.nl + doc.nl + block
    if not is_block_map(data):
        raise YamlEditError("the file is not a YAML mapping of dbt properties", 1)
    sources = data.get("sources")
    if "sources" not in data or not (is_block_seq(sources) and sources):
        src = new_source()
        shift_comments(src, o)
        if "sources" not in data:
            return doc.append_top_level("sources", CommentedSeq([src]), indent)
        trim_trailing_comments(sources)
        seq = sources if isinstance(sources, list) else CommentedSeq()
        seq.append(src)
        return doc.replace_key(data, "sources", seq, indent)
    idx = named_index(sources, source)
    if idx is None:
        return doc.append_seq_item(sources, new_source(), indent)
    tables = sources[idx].get("tables")
    if not (is_block_seq(tables) and tables):
        src = doc.relative_item(sources, idx)
        trim_trailing_comments(src)
        seq = tables if isinstance(tables, list) else CommentedSeq()
        shift_comments(table, s)
        seq.append(table)
        src["tables"] = seq
        return doc.replace_seq_item(sources, idx, src, indent)
    t_idx = named_index(tables, str(table["name"]))
    if t_idx is None:
        return doc.append_seq_item(tables, table, indent)
    existing = doc.relative_item(tables, t_idx)
    trim_trailing_comments(existing)
    if not _merge_into(existing, table):
        return text
    return doc.replace_seq_item(tables, t_idx, existing, indent)


def _doc(text: str | Doc) -> Doc:
    """TEXT parsed, or the Doc given (already parsed; the edit may change its data)."""
    return text if isinstance(text, Doc) else Doc(text)


def remove_seed_entry(text: str | Doc, seed: str) -> str:
    """TEXT without SEED's entry under `seeds:` (and without `seeds:` once it is empty)."""
    doc = _doc(text)
    data = doc.data
    seeds = data.get("seeds") if isinstance(data, dict) else None
    idx = named_index(seeds, seed)
    if seeds is None or idx is None:
        return doc.text
    if len(seeds) == 1 and is_block_map(data):
        return doc.delete_key(data, "seeds")
    if is_block_seq(seeds):
        try:
            return doc.delete_seq_item(seeds, idx)
        except LayoutError:
            pass
    del seeds[idx]
    return doc.replace_key(data, "seeds", seeds, doc.detect_indent())


# --- dbt_project.yml ------------------------------------------------------


def _config_items(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(node, dict):
        return out
    for key, value in node.items():
        k = str(key)
        if k.startswith("+"):
            out[k[1:]] = value
        elif k in SEED_CONFIG_NAMES:
            out[k] = value
    return out


def project_seed_config(
    source: str | Doc | dict[str, Any], project: str, folders: tuple[str, ...], seed: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config inherited by SEED from `seeds:` levels above it, config on SEED's own key).

    SOURCE is dbt_project.yml's text, its Doc, or its data as dbt reads it (yaml_values.py).
    """
    data = source if isinstance(source, dict) else as_dbt_reads(_doc(source).data)
    inherited: dict[str, Any] = {}
    node = data.get("seeds") if isinstance(data, dict) else None
    for part in (project, *folders):
        if not isinstance(node, dict):
            return inherited, {}
        inherited.update(_config_items(node))
        node = node.get(part)
    if not isinstance(node, dict):
        return inherited, {}
    inherited.update(_config_items(node))
    leaf = node.get(seed)
    return inherited, _config_items(leaf) if isinstance(leaf, dict) else {}


def remove_project_seed_config(
    text: str | Doc, project: str, folders: tuple[str, ...], seed: str
) -> str:
    """dbt_project.yml without SEED's own block under `seeds:` (and the parents it empties)."""
    doc = _doc(text)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("seeds"), dict):
        return doc.text
    chain: list[tuple[Any, str]] = [(data, "seeds")]
    node = data["seeds"]
    for part in (project, *folders, seed):
        if not isinstance(node, dict) or part not in node:
            return doc.text
        chain.append((node, part))
        node = node[part]
    # Remove the highest key whose mapping would be left empty by removing the seed.
    k = len(chain) - 1
    while k > 0 and len(chain[k][0]) == 1:
        k -= 1
    mapping, key = chain[k]
    if is_block_map(mapping):
        return doc.delete_key(mapping, key)
    # A flow mapping ({a: {b: c}}): edit the data and render `seeds:` again.
    del mapping[key]
    return doc.replace_key(data, "seeds", data["seeds"], doc.detect_indent())


_VERSION_RE = re.compile(r"""^version\s*=\s*["']([^"']+)""", re.MULTILINE)


def _dbt_core_version() -> str:
    """The installed dbt-core's version ('' when there is none)."""
    # dbt/__version__.py says it: importlib.metadata would import the email package and
    # scan every installed distribution, ~0.05 s of each convert-seed.
    for entry in sys.path:
        try:
            with open(os.path.join(entry or ".", "dbt", "__version__.py"), encoding="utf-8") as f:
                m = _VERSION_RE.search(f.read())
        except (OSError, ValueError):
            continue
        if m:
            return m.group(1)
    from importlib import metadata

    try:
        return metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        return ""


def dbt_accepts_meta_in_config() -> bool:
    """True when the installed dbt-core wants `meta` under `config:` (1.10 and later)."""
    try:
        major, minor = (int(p) for p in _dbt_core_version().split(".")[:2])
    except ValueError:
        return True
    return (major, minor) >= (1, 10)
