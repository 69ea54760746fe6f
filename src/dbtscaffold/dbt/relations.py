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


def rendered(value: Any) -> str | None:
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
    custom = rendered(config.get("schema"))
    schema = target_schema if not custom else f"{target_schema}_{custom}"
    alias = rendered(config.get("alias")) or seed
    database = rendered(config.get("database")) or target_database
    return Relation(database, schema, alias)


def parsed_relation(project_dir: Path, profiles_dir: Path, project: str, seed: str) -> Relation:
    """The relation of SEED in a manifest of `dbt parse`, written to a temporary folder."""
    from dbtscaffold.proc import run
    from dbtscaffold.runtime.parse import dbt_command

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
