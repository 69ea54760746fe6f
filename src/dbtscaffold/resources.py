"""Where the shipped templates, the bundled example, the runtime and the load probe live."""

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


def load_probe() -> Path:
    """workers/load_probe.py, the script `check` runs (as `python -c` source) to load a project."""
    return _PKG / "workers" / "load_probe.py"
