"""Where a converted seed's source reads: the seed's relation, moved by --schema, checked.

dbt/relations.py tells where dbt builds a seed; convert-seed then reads that relation (or
the one --schema names) from a source table, in plain names and the target's database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.dbt.relations import Relation, rendered, seed_relation
from dbtscaffold.dbt.target import TargetInfo
from dbtscaffold.errors import UserError

_PLAIN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def converted_relation(
    dbt: DbtProjectInfo, seed: str, config: dict[str, Any], macro_texts: Iterable[str],
    target: TargetInfo, schema: str | None,
) -> tuple[Relation, str | None]:  # fmt: skip
    """Where the converted SEED is loaded: where dbt builds it with CONFIG (its schema and
    alias through dbt's naming), or in SCHEMA (--schema), with a warning on that move."""
    return moved_relation(seed_relation(dbt, seed, config, macro_texts, target), schema, seed)


def moved_relation(rel: Relation, schema: str | None, seed: str) -> tuple[Relation, str | None]:
    """REL in SCHEMA (convert-seed --schema; None: REL), and a warning on what that means."""
    if schema is None or schema == rel.schema:
        return rel, None
    old, new = f"{rel.schema}.{rel.identifier}", f"{schema}.{rel.identifier}"
    warning = (
        f"--schema moves the data of seed `{seed}`: its source and loader use `{new}`, not "
        f"`{old}` where dbt built it; `{old}` remains with its old rows (drop it when nothing "
        "reads it)."
    )
    return Relation(rel.database, schema, rel.identifier), warning


def check_source_reads(
    rel: Relation, source: Any, table: Any, seed: str, source_name: str, where: str,
    target: TargetInfo,
) -> None:  # fmt: skip
    """A UserError unless SOURCE (None: a new one) and TABLE can read REL, in plain names."""
    built = f"{rel.schema}.{rel.identifier}"
    database = target.database()
    if rel.database and database and rel.database.lower() != database.lower():
        raise UserError(
            f"Seed `{seed}` is built in database `{rel.database}`, not in the target's "
            f"`{database}`; convert-seed loads into the target's database only."
        )
    if source is not None and source.get("database"):
        try:
            named = rendered(source["database"])
        except LookupError:
            raise UserError(
                f"The {where} sets `database: {source['database']}`, which cannot be resolved "
                "here; set the variables it reads and retry."
            ) from None
        if not database or (named or "").lower() != database.lower():
            raise UserError(
                f"The {where} reads database `{named}`, not the target's "
                f"`{database or '?'}`; convert-seed loads into the target's own database "
                "only. Point `database:` at it (or remove it), or pass another --source-name."
            )
    if source is not None:
        schema = str(source.get("schema") or source_name)
        if schema.lower() != rel.schema.lower():
            raise UserError(
                f"Seed `{seed}` is built in `{built}`, but {where} reads schema `{schema}`; "
                "pass --source-name to declare it in another source (a new one reads "
                f"schema `{rel.schema}`)."
            )
        identifier = str((table or {}).get("identifier") or rel.identifier)
        if identifier != rel.identifier:
            raise UserError(
                f"Seed `{seed}` is built in `{built}`, but source table `{source_name}."
                f"{seed}` reads `{identifier}`; fix its `identifier:` or pass --source-name."
            )
    for name, what in ((rel.schema, "schema"), (rel.identifier, "table name")):
        if not _PLAIN_RE.match(name):
            raise UserError(
                f"Seed `{seed}` is built in the {what} `{name}`, which is not a plain name; "
                "convert-seed writes plain names only (rename it in the target or the "
                "seed's config)."
            )
