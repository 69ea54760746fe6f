"""A source table that already reads a seed's relation under another name (issue 13).

When a project declares, say, `crm.customers` with `schema: main` and `identifier:
raw_customers`, dagster-dbt makes it an asset of its own, and a second source table for the
converted seed would give that one relation two assets. convert-seed extends that table
instead: it gets the seed's asset key and properties, and refs to the seed become
`source('crm', 'customers')`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dbtscaffold.dbt import properties as dbt_yaml
from dbtscaffold.dbt.refs import RefTarget
from dbtscaffold.dbt.relations import Relation


@dataclass(frozen=True)
class DeclaredTable:
    """A source table in a properties file: where, under which names, and its mappings."""

    path: str
    source: str
    table: str
    source_map: Any
    table_map: Any


def _plain(value: Any) -> str | None:
    """VALUE when it is a plain name (a Jinja value is one only dbt can resolve: None)."""
    if value is None:
        return None
    text = str(value).strip()
    return None if "{" in text else text


def _tables(files: Iterable[tuple[str, Any]]) -> Iterable[DeclaredTable]:
    for path, data in files:
        for src in dbt_yaml.declared_sources(data):
            if dbt_yaml.is_disabled(src):
                continue
            for table in src.get("tables") or []:
                named = isinstance(table, dict) and table.get("name") is not None
                if named and not dbt_yaml.is_disabled(table):
                    yield DeclaredTable(path, str(src["name"]), str(table["name"]), src, table)


def table_on_relation(
    files: Iterable[tuple[str, Any]], rel: Relation, database: str | None
) -> DeclaredTable | None:
    """The first enabled source table of FILES ((path, parsed YAML)) that reads REL, in
    plain names as dbt resolves them (schema: the source's name; identifier: the table's)."""
    want_db = (rel.database or database or "").lower()
    for t in _tables(files):
        schema = _plain(t.source_map.get("schema") or t.source)
        identifier = _plain(t.table_map.get("identifier") or t.table)
        db = _plain(t.source_map.get("database"))
        if schema is None or identifier is None or (db and db.lower() != want_db):
            continue
        if (schema.lower(), identifier.lower()) == (rel.schema.lower(), rel.identifier.lower()):
            return t
    return None


def table_with_key(files: Iterable[tuple[str, Any]], key: list[str]) -> DeclaredTable | None:
    """The enabled source table of FILES whose asset key is KEY (a converted seed's)."""
    for t in _tables(files):
        if dbt_yaml.asset_key_of(t.table_map) == key:
            return t
    return None


@dataclass(frozen=True)
class Extension:
    """The source table that a seed extends (TABLE), what refs to the seed become, and the
    line telling the user so."""

    table: DeclaredTable
    ref: SourceTableRef
    info: str


def extend_other_table(
    files: Iterable[tuple[str, Any]], seed: str, rel: Relation, database: str | None, project: str
) -> Extension | None:
    """The source table of FILES that SEED, built in REL, extends (its refs retargeted to
    it); None when no other source table reads REL."""
    found = table_on_relation(files, rel, database)
    if found is None:
        return None
    key = dbt_yaml.asset_key_of(found.table_map)
    gets = f"keeps its asset key `{key}`" if key else f"gets the asset key `{seed}`"
    info = (
        f"Source table `{found.source}.{found.table}` already reads the table of seed `{seed}`: "
        f"it {gets} and the seed's properties, and refs to the seed become "
        f"source('{found.source}', '{found.table}')."
    )
    return Extension(found, SourceTableRef(seed, project, found.source, found.table), info)


@dataclass(frozen=True)
class SourceTableRef(RefTarget):
    """Refs to SEED that become `source(SOURCE, TABLE)`, a table named unlike the seed."""

    table: str = ""

    def replacement(self, quote: str) -> str:
        return f"source({quote}{self.source}{quote}, {quote}{self.table}{quote})"
