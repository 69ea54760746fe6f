"""What a generated Dagster project runs, copied into its `<package>/_dbtscaffold/` by `init`
(dagster_project/generated.py: COPIED). Importing it imports nothing; a name loads its module."""

from typing import Any

__version__ = "0.2.0.dev0"
__all__ = ["ParseOnLoadPreparer", "__version__", "load_csv"]
_EXPORTS = {"ParseOnLoadPreparer": "preparer", "load_csv": "loaders"}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
