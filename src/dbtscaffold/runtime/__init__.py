"""What a generated Dagster project runs: parse on load, and the seed loaders.

`dbtscaffold init` copies this package byte for byte into `<package>/_dbtscaffold/` of
every project it generates (and `init --force` refreshes the copy), so the project needs
no dbtscaffold installed. It imports nothing from the rest of dbtscaffold, and only the
standard library when imported; PyYAML, Jinja, DuckDB, psycopg2 and dagster-dbt are imported
by the functions (and the preparer module) that use them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0.dev0"

# name -> submodule; imported on first use, so that importing this package stays instant.
_EXPORTS = {
    "find_dbt_project_dir": "project",
    "find_profiles_dir": "project",
    "load_csv": "loaders",
    "ParseOnLoadPreparer": "preparer",
    "parse_on_load_enabled": "parse",
    "prepare_manifest": "parse",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


__all__ = [
    "ParseOnLoadPreparer",
    "__version__",
    "find_dbt_project_dir",
    "find_profiles_dir",
    "load_csv",
    "parse_on_load_enabled",
    "prepare_manifest",
]
