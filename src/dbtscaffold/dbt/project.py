"""Reading a dbt project: dbt_project.yml, profiles.yml in dbt's order, adapter packages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold.errors import UserError

# Re-exported (`x as x`) for dbt/ and commands/.
from dbtscaffold.runtime.loaders import ADAPTER_PACKAGE_EXCEPTIONS as ADAPTER_PACKAGE_EXCEPTIONS
from dbtscaffold.runtime.loaders import adapter_package as adapter_package

DBT_PROJECT_YML = "dbt_project.yml"
PROFILES_YML = "profiles.yml"

# PyPI packages whose name is not simply dbt-<type> (see docs.getdbt.com/docs/connect-adapters).


@dataclass(frozen=True)
class DbtProjectInfo:
    """What we need from dbt_project.yml."""

    dir: Path
    name: str
    profile: str
    model_paths: tuple[str, ...] = ("models",)
    seed_paths: tuple[str, ...] = ("seeds",)
    test_paths: tuple[str, ...] = ("tests",)
    macro_paths: tuple[str, ...] = ("macros",)
    snapshot_paths: tuple[str, ...] = ("snapshots",)
    analysis_paths: tuple[str, ...] = ("analyses",)
    target_path: str = "target"
    log_path: str = "logs"
    packages_install_path: str = "dbt_packages"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def yml_path(self) -> Path:
        return self.dir / DBT_PROJECT_YML

    def source_paths(self) -> tuple[str, ...]:
        """Every folder dbt reads Jinja-SQL or YAML from (where refs can appear)."""
        return (
            self.model_paths
            + self.seed_paths
            + self.test_paths
            + self.macro_paths
            + self.snapshot_paths
            + self.analysis_paths
        )


@dataclass(frozen=True)
class ProfilesLocation:
    path: Path
    how: str  # "--profiles-dir", "DBT_PROFILES_DIR", "project", "home"


@dataclass(frozen=True)
class ProfileInfo:
    location: ProfilesLocation
    name: str
    default_target: str | None
    targets: dict[str, dict[str, Any]]

    def target_types(self) -> list[str]:
        """Adapter types of every target, de-duplicated, in order of appearance."""
        seen: list[str] = []
        for cfg in self.targets.values():
            t = str(cfg.get("type", "")).strip()
            if t and t not in seen:
                seen.append(t)
        return seen


def load_yaml_file(path: Path, what: str) -> Any:
    """Parse a YAML file safely (duplicate keys and tabs are errors), as a UserError on failure."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} `{path}` does not exist.") from None
    except IsADirectoryError:
        raise UserError(f"{what} `{path}` is a directory, not a file.") from None
    except PermissionError:
        raise UserError(f"Cannot read {what} `{path}`: permission denied.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"{what} `{path}` is not valid UTF-8 (byte {e.start}); save it as UTF-8 and retry."
        ) from None
    from dbtscaffold.dbt.yaml_values import parse_yaml_text

    return parse_yaml_text(text, path, what)


def _str_list(value: Any, key: str, path: Path, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"`{key}` in `{path}` must be a list of folder names.")
    return tuple(value)


def read_dbt_project(dbt_project_dir: Path) -> DbtProjectInfo:
    """Read dbt_project.yml in DIR, or raise a UserError saying what is wrong."""
    d = dbt_project_dir
    if not d.exists():
        raise UserError(f"dbt project folder `{d}` does not exist; pass --dbt-project-dir.")
    if not d.is_dir():
        raise UserError(f"dbt project folder `{d}` is not a folder; pass --dbt-project-dir.")
    yml = d / DBT_PROJECT_YML
    if not yml.is_file():
        raise UserError(
            f"No {DBT_PROJECT_YML} in `{d}`; pass --dbt-project-dir pointing at a dbt project."
        )
    raw = load_yaml_file(yml, DBT_PROJECT_YML)
    if not isinstance(raw, dict):
        raise UserError(f"`{yml}` must be a YAML mapping with at least `name:`.")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"`{yml}` has no `name:`; add the dbt project's name.")
    profile = raw.get("profile", name)
    if not isinstance(profile, str) or not profile.strip():
        raise UserError(f"`profile:` in `{yml}` must be a profile name.")

    def paths(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        return _str_list(raw.get(key), key, yml, default)

    def one(key: str, default: str) -> str:
        v = raw.get(key, default)
        if not isinstance(v, str):
            raise UserError(f"`{key}` in `{yml}` must be a folder name.")
        return v

    return DbtProjectInfo(
        dir=d.resolve(),
        name=name.strip(),
        profile=profile.strip(),
        model_paths=paths("model-paths", ("models",)),
        seed_paths=paths("seed-paths", ("seeds",)),
        test_paths=paths("test-paths", ("tests",)),
        macro_paths=paths("macro-paths", ("macros",)),
        snapshot_paths=paths("snapshot-paths", ("snapshots",)),
        analysis_paths=paths("analysis-paths", ("analyses",)),
        target_path=one("target-path", "target"),
        log_path=one("log-path", "logs"),
        packages_install_path=one("packages-install-path", "dbt_packages"),
        raw=raw,
    )


def find_profiles(dbt_project_dir: Path, profiles_dir: Path | None = None) -> ProfilesLocation:
    """Find profiles.yml in dbt's order: --profiles-dir, DBT_PROFILES_DIR, project dir, ~/.dbt."""
    if profiles_dir is not None:
        p = profiles_dir / PROFILES_YML
        if not p.is_file():
            raise UserError(f"No {PROFILES_YML} in `{profiles_dir}` (given by --profiles-dir).")
        return ProfilesLocation(p.resolve(), "--profiles-dir")
    env_dir = os.environ.get("DBT_PROFILES_DIR")
    if env_dir:
        p = Path(env_dir).expanduser() / PROFILES_YML
        if not p.is_file():
            raise UserError(
                f"No {PROFILES_YML} in `{env_dir}` (given by DBT_PROFILES_DIR); "
                "fix the variable or unset it."
            )
        return ProfilesLocation(p.resolve(), "DBT_PROFILES_DIR")
    candidates = [
        (dbt_project_dir / PROFILES_YML, "project"),
        (Path.home() / ".dbt" / PROFILES_YML, "home"),
    ]
    for p, how in candidates:
        if p.is_file():
            return ProfilesLocation(p.resolve(), how)
    raise UserError(
        f"No {PROFILES_YML} found in `{dbt_project_dir}` or `{Path.home() / '.dbt'}`; "
        "create one or pass --profiles-dir."
    )


def read_profile(location: ProfilesLocation, profile_name: str) -> ProfileInfo:
    """Read one profile from profiles.yml without rendering its Jinja."""
    raw = load_yaml_file(location.path, PROFILES_YML)
    if not isinstance(raw, dict):
        raise UserError(f"`{location.path}` must be a YAML mapping of profiles.")
    profiles = {k: v for k, v in raw.items() if k != "config"}
    if profile_name not in profiles:
        known = ", ".join(f"`{k}`" for k in profiles) or "none"
        raise UserError(
            f"Profile `{profile_name}` not found in `{location.path}` (profiles there: {known}); "
            "add it or fix `profile:` in dbt_project.yml."
        )
    prof = profiles[profile_name]
    if (
        not isinstance(prof, dict)
        or not isinstance(prof.get("outputs"), dict)
        or not prof["outputs"]
    ):
        raise UserError(f"Profile `{profile_name}` in `{location.path}` has no `outputs:`.")
    targets: dict[str, dict[str, Any]] = {}
    for tname, cfg in prof["outputs"].items():
        if not isinstance(cfg, dict) or not cfg.get("type"):
            raise UserError(
                f"Target `{tname}` of profile `{profile_name}` in `{location.path}` has no `type:`."
            )
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(cfg["type"])):
            raise UserError(
                f"Target `{tname}` of profile `{profile_name}` in `{location.path}` has an invalid "
                f"`type:` ({str(cfg['type'])!r}); use an adapter name such as `duckdb`."
            )
        targets[str(tname)] = cfg
    default = prof.get("target")
    return ProfileInfo(location, profile_name, str(default) if default else None, targets)


# The extra of an adapter package a connection method needs (dbt-spark's docs: `method: thrift`
# and `http` need PyHive, `odbc` pyodbc, `session` pyspark).
_METHOD_EXTRAS = {
    ("spark", "thrift"): "PyHive",
    ("spark", "http"): "PyHive",
    ("spark", "odbc"): "ODBC",
    ("spark", "session"): "session",
}


def adapter_packages(
    target_types: list[str], targets: Iterable[Mapping[str, Any]] = ()
) -> list[str]:
    """The adapter packages of TARGET_TYPES, each once, with the extras the connection
    methods of TARGETS (the profile's outputs) need: `dbt-spark[PyHive]`."""
    extras: dict[str, set[str]] = {}
    for t in target_types:
        extras.setdefault(adapter_package(t), set())
    for cfg in targets:
        kind = str(cfg.get("type", "")).strip().lower()
        extra = _METHOD_EXTRAS.get((kind, str(cfg.get("method", "")).strip().lower()))
        if extra:
            extras.setdefault(adapter_package(kind), set()).add(extra)
    return [f"{p}[{','.join(sorted(e))}]" if e else p for p, e in extras.items()]


def find_dbt_project_dir(start: Path) -> Path | None:
    """The nearest folder at or above START holding dbt_project.yml (like git finds .git)."""
    for d in (start, *start.parents):
        if (d / DBT_PROJECT_YML).is_file():
            return d
    return None
