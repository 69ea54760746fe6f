"""Read-only discovery: dbt_project.yml, profiles.yml, seed paths, [tool.dbtscaffold]."""

from __future__ import annotations

import keyword
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold.errors import UserError

DBT_PROJECT_YML = "dbt_project.yml"
PROFILES_YML = "profiles.yml"

# PyPI packages whose name is not simply dbt-<type> (see docs.getdbt.com/docs/connect-adapters).
ADAPTER_PACKAGE_EXCEPTIONS = {
    "athena": "dbt-athena-community",
    "layer": "dbt-layer-bigquery",
    "synapse": "dbt-synapse",
    "glue": "dbt-glue",
    "ibmdb2": "dbt-ibmdb2",
    "watsonx_presto": "dbt-watsonx-presto",
    "watsonx_spark": "dbt-watsonx-spark",
}

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
    return parse_yaml_text(text, path, what)


def parse_yaml_text(text: str, path: Path, what: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="safe", pure=True)
    try:
        return yaml.load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        problem = " ".join(str(problem).split())
        # ruamel repeats both values of a duplicate key in full: the key is enough.
        problem = re.sub(r'^(found duplicate key ".*?") with value .*$', r"\1", problem)
        raise UserError(
            f"{what} `{path}` is not valid YAML{where}: {problem}; fix it and retry."
        ) from None


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


def adapter_package(target_type: str) -> str:
    """The PyPI package that provides a dbt adapter type."""
    t = target_type.strip().lower()
    return ADAPTER_PACKAGE_EXCEPTIONS.get(t, "dbt-" + t.replace("_", "-"))


def adapter_packages(target_types: list[str]) -> list[str]:
    out: list[str] = []
    for t in target_types:
        pkg = adapter_package(t)
        if pkg not in out:
            out.append(pkg)
    return out


def _stdlib_names() -> frozenset[str]:
    return frozenset(getattr(sys, "stdlib_module_names", ()))


def name_problem(name: str) -> str | None:
    """Why NAME cannot be a generated Python package name, or None if it can."""
    if not name:
        return "is empty"
    if not name.isidentifier() or not name.isascii():
        return "is not a valid Python identifier (letters, digits and underscores; not starting with a digit)"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
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


def relpath(target: Path, start: Path) -> str:
    """TARGET relative to START with forward slashes (both resolved first)."""
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"Cannot read `{path}`: {e}; fix the file and retry.") from None


@dataclass(frozen=True)
class DagsterProjectInfo:
    """A project generated by `dbtscaffold init` (it has [tool.dbtscaffold])."""

    dir: Path
    package: str
    dbt_project_dir: Path
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def package_dir(self) -> Path:
        return self.dir / self.package

    @property
    def state_dir(self) -> Path:
        return self.dir / ".dbtscaffold"


def read_dagster_project(dagster_project_dir: Path) -> DagsterProjectInfo | None:
    """The project in DIR if its pyproject.toml has [tool.dbtscaffold], else None."""
    p = dagster_project_dir / "pyproject.toml"
    if not p.is_file():
        return None
    doc = _load_toml(p)
    cfg = doc.get("tool", {}).get("dbtscaffold")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("dbt_project_dir"), str):
        return None
    package = cfg.get("package") or doc.get("project", {}).get("name", "")
    if not isinstance(package, str) or not package.isidentifier():
        raise UserError(f"`[tool.dbtscaffold] package` in `{p}` must be the Python package name.")
    dbt_dir = (dagster_project_dir / cfg["dbt_project_dir"]).resolve()
    return DagsterProjectInfo(dagster_project_dir.resolve(), package, dbt_dir, cfg)


def _subdirs(d: Path) -> list[Path]:
    """Visible subfolders of D that can hold a project (sorted)."""
    try:
        return sorted(
            c
            for c in d.iterdir()
            if c.is_dir()
            and not c.name.startswith((".", "__"))
            and c.name not in ("node_modules", "target", "logs", "dbt_packages")
        )
    except OSError:
        return []


def _nearby_dirs(start: Path) -> list[Path]:
    """START, its subfolders two levels down, and its siblings."""
    out = [start]
    for c in _subdirs(start):
        out.append(c)
        out.extend(_subdirs(c))
    if start.parent != start:
        out.extend(c for c in _subdirs(start.parent) if c != start)
    return out


def find_dbt_project_dir(start: Path) -> Path | None:
    """The nearest folder at or above START holding dbt_project.yml (like git finds .git)."""
    for d in (start, *start.parents):
        if (d / DBT_PROJECT_YML).is_file():
            return d
    return None


def find_dagster_projects(
    start: Path, dbt_project_dir: Path | None = None
) -> list[DagsterProjectInfo]:
    """Dagster projects for START: the nearest enclosing one, else those near the dbt project.

    Walks up from START like git does; a project that encloses START wins. Otherwise the
    projects at the dbt project (given, or the nearest one enclosing START), two levels
    below it and beside it are candidates; with a dbt project known, only those whose
    [tool.dbtscaffold] points at it.
    """
    start = start.resolve()
    want = dbt_project_dir.resolve() if dbt_project_dir is not None else None
    for d in (start, *start.parents):
        info = read_dagster_project(d)
        if info is not None and (want is None or info.dbt_project_dir == want):
            return [info]
    anchor = want or find_dbt_project_dir(start)
    places = _nearby_dirs(anchor) if anchor is not None else []
    if anchor != start:
        places += _nearby_dirs(start)
    found: dict[Path, DagsterProjectInfo] = {}
    for d in places:
        info = read_dagster_project(d)
        if info is not None and (anchor is None or info.dbt_project_dir == anchor):
            found.setdefault(info.dir, info)
    return list(found.values())


def resolve_dagster_project(
    dagster_project_dir: Path | None, dbt_project_dir: Path | None = None
) -> DagsterProjectInfo:
    """The Dagster project given by the option, or found from the current folder."""
    if dagster_project_dir is not None:
        if not dagster_project_dir.is_dir():
            raise UserError(f"Dagster project folder `{dagster_project_dir}` does not exist.")
        info = read_dagster_project(dagster_project_dir)
        if info is None:
            raise UserError(
                f"`{dagster_project_dir}` is not a dbtscaffold project (no [tool.dbtscaffold] in "
                "its pyproject.toml); run `dbtscaffold init` first."
            )
        return info
    found = find_dagster_projects(Path.cwd(), dbt_project_dir)
    if len(found) > 1:
        names = " and ".join(f"`{i.dir}`" for i in found[:2])
        more = f" (and {len(found) - 2} more)" if len(found) > 2 else ""
        raise UserError(
            f"Found {len(found)} Dagster projects: {names}{more}; pass --dagster-project-dir "
            "to choose one."
        )
    if not found:
        raise UserError(
            "No Dagster project found here (looked for [tool.dbtscaffold] in pyproject.toml here "
            "and above, two levels down, and beside the dbt project); run `dbtscaffold init` or "
            "pass --dagster-project-dir."
        )
    return found[0]


def dagster_module_name(info: DagsterProjectInfo) -> str:
    """The module Dagster loads: [tool.dagster] module_name, else `<package>.definitions`."""
    tool = _load_toml(info.dir / "pyproject.toml").get("tool", {})
    name = tool.get("dagster", {}).get("module_name") if isinstance(tool, dict) else None
    return name if isinstance(name, str) and name else f"{info.package}.definitions"
