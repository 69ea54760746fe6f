"""Where the shipped templates and the bundled example live (wheel or source checkout)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """templates/ inside the installed wheel, else the repository's templates/."""
    for candidate in (_PKG / "templates", _PKG.parents[1] / "templates"):
        if (candidate / "dagster_project").is_dir():
            return candidate
    raise FileNotFoundError("dbtscaffold's templates are missing; reinstall dbtscaffold.")


def example_dir() -> Path:
    return _PKG / "example"


def runtime_dir() -> Path:
    """dbtscaffold.runtime, which init copies into every generated project."""
    return _PKG / "runtime"
