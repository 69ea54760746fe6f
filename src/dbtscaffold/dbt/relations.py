"""Where dbt builds a seed: the database, schema and identifier of its relation.

A seed's relation follows from its `schema`, `alias` and `database` config (dbt_project.yml
and the seed's YAML) through the project's `generate_schema_name`, `generate_alias_name`
and `generate_database_name` macros. When the project defines none of them, dbt's default
macros apply, and they are two lines of Jinja each (a custom schema is appended to the
target's schema with `_`); `default_relation` is those lines, because `dbt parse` costs
seconds. When the project overrides one, or a config value is Jinja we cannot render,
`parsed_relation` asks dbt itself: it parses the project into a temporary folder (nothing
in the project changes) and reads the seed's node from that manifest.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.dbt.target import TargetInfo
from dbtscaffold.errors import UserError

_NAMING_MACRO_RE = re.compile(r"\{%-?\s*macro\s+(generate_(?:schema|alias|database)_name)\b")


@dataclass(frozen=True)
class Relation:
    """A relation as dbt names it (database None: the target's own)."""

    database: str | None
    schema: str
    identifier: str


def naming_macros(texts: Iterable[str]) -> list[str]:
    """The naming macros (generate_schema_name, ...) that TEXTS (macro files) define."""
    found: set[str] = set()
    for text in texts:
        if "generate_" in text:
            found.update(_NAMING_MACRO_RE.findall(text))
    return sorted(found)


def _rendered(value: Any) -> str | None:
    """VALUE (a config value) as dbt renders it, or None when only dbt can tell."""
    from dbtscaffold.runtime.profiles import ProfileError, render

    if value is None:
        return None
    try:
        out = render(value)
    except ProfileError:
        raise LookupError(value) from None
    text = str(out).strip()
    if "{{" in text or "{%" in text:
        raise LookupError(value)
    return text


def default_relation(
    seed: str, config: Mapping[str, Any], target_schema: str, target_database: str | None
) -> Relation:
    """The relation dbt's default naming macros give SEED (LookupError: ask dbt)."""
    custom = _rendered(config.get("schema"))
    schema = target_schema if not custom else f"{target_schema}_{custom}"
    alias = _rendered(config.get("alias")) or seed
    database = _rendered(config.get("database")) or target_database
    return Relation(database, schema, alias)


def parsed_relation(project_dir: Path, profiles_dir: Path, project: str, seed: str) -> Relation:
    """The relation of SEED in a manifest of `dbt parse`, written to a temporary folder."""
    from dbtscaffold.proc import run
    from dbtscaffold.runtime.fingerprint import dbt_command

    with tempfile.TemporaryDirectory(prefix="dbtscaffold-parse-") as tmp:
        cmd = [
            *dbt_command(), "parse", "--project-dir", str(project_dir),
            "--profiles-dir", str(profiles_dir), "--target-path", tmp, "--log-path", tmp,
        ]  # fmt: skip
        env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        proc = run(cmd, cwd=project_dir, env=env, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise UserError(
                "`dbt parse` failed, so where the seed's table is cannot be known; fix the "
                "dbt project (see --verbose) and retry.",
                details=tail,
            )
        manifest = json.loads(Path(tmp, "manifest.json").read_text(encoding="utf-8"))
    node = manifest.get("nodes", {}).get(f"seed.{project}.{seed}")
    if not isinstance(node, dict):
        raise UserError(f"dbt does not know seed `{seed}` (is it disabled?); enable it and retry.")
    return Relation(node.get("database"), str(node["schema"]), str(node.get("alias") or seed))


_PLAIN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def seed_relation(
    dbt: DbtProjectInfo, seed: str, config: Mapping[str, Any], macro_texts: Iterable[str],
    target: TargetInfo,
) -> Relation:  # fmt: skip
    """Where dbt builds SEED with CONFIG: dbt's default naming, or dbt itself when the
    project's macros (MACRO_TEXTS) override it or a value is Jinja only dbt can render."""
    from dbtscaffold.dbt.project import find_profiles

    if not naming_macros(macro_texts):
        try:
            return default_relation(seed, config, target.schema_name(), target.database())
        except LookupError:
            pass
    profiles_dir = find_profiles(dbt.dir).path.parent
    return parsed_relation(dbt.dir, profiles_dir, dbt.name, seed)


def moved_relation(rel: Relation, schema: str | None, seed: str, warnings: list[str]) -> Relation:
    """REL in SCHEMA (convert-seed --schema; None: REL), with a warning on what that means."""
    if schema is None or schema == rel.schema:
        return rel
    old, new = f"{rel.schema}.{rel.identifier}", f"{schema}.{rel.identifier}"
    warnings.append(
        f"--schema moves the data of seed `{seed}`: its source and loader use `{new}`, not "
        f"`{old}` where dbt built it; `{old}` remains with its old rows (drop it when nothing "
        "reads it)."
    )
    return Relation(rel.database, schema, rel.identifier)


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
        raise UserError(
            f"The {where} sets `database:`; convert-seed loads into the target's own "
            "database only. Remove `database:` or pass another --source-name."
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
