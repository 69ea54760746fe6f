"""Names in a generated project: the package's name, and identifiers made from dbt names."""

from __future__ import annotations

import keyword
import re
import sys

# Modules a generated project name must not shadow besides the standard library's.
RESERVED_MODULE_NAMES = frozenset(
    {
        "dagster",
        "dagster_dbt",
        "dagster_duckdb",
        "dagster_webserver",
        "dagster_graphql",
        "dagster_pipes",
        "dagster_shared",
        "dbt",
        "dbt_common",
        "dbt_adapters",
        "duckdb",
        "psycopg2",
        "dbtscaffold",
        "cookiecutter",
        "typer",
        "rich",
        "ruamel",
        "jinja2",
        "yaml",
        "pydantic",
        "sqlalchemy",
        "click",
        "pandas",
        "setuptools",
        "pip",
        "test",
        "tests",
    }
)


def _stdlib_names() -> frozenset[str]:
    return frozenset(getattr(sys, "stdlib_module_names", ()))


def name_problem(name: str, *, shadowing: bool = False) -> str | None:
    """Why NAME cannot be a generated Python package name, or None if it can.

    With SHADOWING (--ignore-package-conflict), a name that shadows a module is allowed.
    """
    if not name:
        return "is empty"
    if not name.isidentifier() or not name.isascii():
        return "is not a valid Python identifier (letters, digits and underscores; not starting with a digit)"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    return None if shadowing else shadow_problem(name)


def shadow_problem(name: str) -> str | None:
    """Which module NAME, as a top-level package, would shadow (None: none)."""
    if name in _stdlib_names():
        return "would shadow the standard-library module of the same name"
    if name in RESERVED_MODULE_NAMES or name.replace("-", "_") in RESERVED_MODULE_NAMES:
        return "would shadow a package the project depends on"
    return None


def to_identifier(text: str) -> str:
    """A Python identifier derived from TEXT (for function names built from dbt names)."""
    s = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or "dbt"
    if s[0].isdigit():
        s = "_" + s
    if keyword.iskeyword(s):
        s += "_"
    return s


def py_literal(value: object) -> str:
    """A Python literal meaning exactly VALUE, strings double-quoted like the generated code."""
    if isinstance(value, str):
        r = repr(value)
        if r.startswith("'") and '"' not in value:
            r = '"' + r[1:-1].replace("\\'", "'") + '"'
        return r
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)
