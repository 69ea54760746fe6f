"""The dbt target in use (DBT_TARGET, else the profile's `target:`), rendered as dbt would."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dbtscaffold.dbt.project import DbtProjectInfo, ProfileInfo
from dbtscaffold.errors import UserError
from dbtscaffold.runtime.profiles import TARGET_ENV, ProfileError, target_name

# Seed, source and schema names go into SQL, YAML and Python: plain identifiers only.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TargetInfo:
    """The dbt target in use at conversion time (values rendered with env_var())."""

    name: str
    type: str
    config: dict[str, object]

    def duckdb_catalog(self) -> str | None:
        """The catalog name dbt-duckdb gives the database: `database:`, else the file's stem."""
        if self.type != "duckdb":
            return None
        db = self.config.get("database")
        if isinstance(db, str) and db:
            return db
        path = str(self.config.get("path") or ":memory:")
        return "memory" if path == ":memory:" else Path(path.split("?", 1)[0]).stem

    def schema_name(self) -> str:
        """The target's schema as dbt uses it (dbt-duckdb's default is `main`)."""
        value = self.config.get("schema")
        return str(value) if value not in (None, "") else "main"

    def database(self) -> str | None:
        """The target's database (DuckDB: its catalog), None when unknown."""
        if self.type == "duckdb":
            return self.duckdb_catalog()
        value = self.config.get("dbname") or self.config.get("database")
        return str(value) if value else None

    def schema(self) -> str | None:
        value = self.config.get("schema")
        return value if isinstance(value, str) and NAME_RE.match(value) else None


def _render_profile_value(value: object) -> object:
    """VALUE rendered as dbt renders profiles.yml; a value dbt could not render stays as is."""
    from dbtscaffold.runtime.profiles import ProfileError, render

    try:
        return render(value)
    except ProfileError:
        return value


def read_target(dbt: DbtProjectInfo) -> TargetInfo:
    """The dbt target in use (DBT_TARGET, else the profile's default), as dbt would read it."""
    from dbtscaffold.dbt.project import find_profiles, read_profile

    profile = read_profile(find_profiles(dbt.dir), dbt.profile)
    try:
        name = target_name(profile.default_target)
    except ProfileError as e:
        raise UserError(
            f"`target:` of profile `{profile.name}` cannot be rendered: {e}; set {TARGET_ENV} or fix it."
        ) from None
    if name not in profile.targets:
        raise UserError(
            f"Target `{name}` not found in profile `{profile.name}` of `{profile.location.path}`; "
            f"fix {TARGET_ENV} or `target:`."
        )
    config = {str(k): _render_profile_value(v) for k, v in profile.targets[name].items()}
    return TargetInfo(name, str(config.get("type", "")).strip().lower(), config)


def missing_adapter_message(target: str, adapter: str) -> str | None:
    """Why TARGET's dbt adapter cannot be used (its package is not installed), else None."""
    from dbtscaffold.runtime.loaders import adapter_installed, adapter_package

    if adapter and adapter_installed(adapter):
        return None
    package = adapter_package(adapter) if adapter else "dbt-<adapter>"
    return (
        f"dbt target `{target}` is of type `{adapter or '?'}`, and its dbt adapter is not "
        f"installed: `pip install {package}`, then run this again. Nothing was changed."
    )


_ENV_VAR_RE = re.compile(
    r"""env_var\(\s*(['"])(?P<name>[A-Za-z_][A-Za-z0-9_]*)\1"""
    r"""\s*(?:,\s*(['"])(?P<default>[^'"\n]*)\3\s*)?\)"""
)


@dataclass(frozen=True)
class DuckdbPath:
    """Where a DuckDB target's database file is, as far as a deployment is concerned.

    `env` names the variable the `path:` reads with env_var() (None if it reads none);
    `relative` is True when the path, rendered with that variable unset, is relative to
    the dbt project folder, which is inside site-packages once the project is packaged.
    """

    target: str
    raw: str
    env: str | None
    file_name: str
    relative: bool


def duckdb_path(profile: ProfileInfo) -> DuckdbPath | None:
    """The DuckDB path of PROFILE's default target (else its first DuckDB target), or None."""
    names = [
        n for n, cfg in profile.targets.items() if str(cfg.get("type", "")).lower() == "duckdb"
    ]
    if not names:
        return None
    name = profile.default_target if profile.default_target in names else names[0]
    raw = str(profile.targets[name].get("path") or ":memory:")
    m = _ENV_VAR_RE.search(raw)
    rendered = (m.group("default") or "") if m else raw
    local = rendered not in ("", ":memory:") and ":" not in rendered.split("/", 1)[0]
    relative = local and not Path(rendered).expanduser().is_absolute()
    file_name = Path(rendered.split("?", 1)[0]).name if local else ""
    if not re.fullmatch(r"[\w.-]+", file_name):  # it goes into README commands
        file_name = "warehouse.duckdb"
    return DuckdbPath(name, raw, m.group("name") if m else None, file_name, relative)
