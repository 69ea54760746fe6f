"""The versions a generated project's pyproject.toml asks for.

Dagster releases its libraries in lockstep: dagster X.Y.Z with dagster-webserver X.Y.Z, and
dagster-dbt, dagster-duckdb, dagster-postgres at 0.Y'.Z (each pinning dagster==X.Y.Z). Left
unpinned, an install from an index whose newest releases are out of step (dagster newer than
any dagster-dbt allows) backtracks for minutes; pinned to the versions init ran with, it
resolves at once and installs what was tested. dbt packages are held to the minor series in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

# Packages with dagster's own version (the rest of Dagster's libraries have dagster-dbt's).
_CORE = frozenset(
    {"dagster", "dagster-webserver", "dagster-graphql", "dagster-pipes", "dagster-dg-cli"}
)
DBT_CORE_FALLBACK = ">=1.8,<1.12"


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Pins:
    dagster: str | None  # dagster's version here (dagster-webserver's too)
    libraries: str | None  # dagster-dbt's version here (dagster-duckdb's, dagster-postgres's)

    def dagster_req(self, name: str) -> str:
        """NAME pinned in lockstep with the Dagster init ran with (unpinned if unknown)."""
        version = self.dagster if name in _CORE else self.libraries
        return f"{name}=={version}" if version else name


def current_pins() -> Pins:
    return Pins(installed_version("dagster"), installed_version("dagster-dbt"))


def dbt_req(name: str, fallback: str = DBT_CORE_FALLBACK) -> str:
    """NAME held to the minor series installed here, e.g. `dbt-core>=1.11,<1.12` (NAME may
    carry extras: `dbt-spark[PyHive]`)."""
    version = installed_version(name.split("[", 1)[0])
    parts = (version or "").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return f"{name}{fallback}"
    major, minor = int(parts[0]), int(parts[1])
    return f"{name}>={major}.{minor},<{major}.{minor + 1}"
