"""`load_csv`: a CSV into the warehouse of the dbt target in use, as `dbt seed` builds it: with
dbt's own seed loading on every adapter, with a faster loader of their own (one transaction)
on DuckDB and PostgreSQL unless DBTSCAFFOLD_SEED_LOADER=dbt."""

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .parse import render, run_dbt
from .locks import LockBusyError, acquire, lock_timeout

LOADER_ENV = "DBTSCAFFOLD_SEED_LOADER"
# Adapter types whose PyPI package is not `dbt-<type>` (with `_` as `-`).
ADAPTER_PACKAGE_EXCEPTIONS = {"athena": "dbt-athena-community", "layer": "dbt-layer-bigquery"}


class WarehouseError(RuntimeError):
    """The CSV cannot be loaded into the dbt target (the message says why, in one line)."""


class Seed(NamedTuple):
    """What to load, and the config of the dbt seed it replaces."""

    csv: Path
    schema: str
    table: str
    column_types: dict[str, str]
    delimiter: str
    quote_columns: bool | None


def adapter_package(target_type: str) -> str:
    """The PyPI package that provides a dbt adapter type."""
    t = target_type.strip().lower()
    return ADAPTER_PACKAGE_EXCEPTIONS.get(t, "dbt-" + t.replace("_", "-"))


def adapter_installed(kind: str) -> bool:
    """Whether the dbt adapter of type KIND is importable here (without importing it)."""
    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(f"dbt.adapters.{kind}") is not None
    return False


def target_config(project_dir: Path, profiles_dir: Path, target: str | None) -> dict[str, Any]:
    """The rendered output of the target dbt would use (TARGET, DBT_TARGET, the profile's
    `target:`), with its name under `_target` and the profile's under `_profile`."""
    import jinja2
    import yaml

    def read(path: Path) -> Any:
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise WarehouseError(f"cannot read {path}: {e}") from e

    def rendered(value: Any) -> Any:
        try:
            return render(value)
        except KeyError as e:
            raise WarehouseError(f"env_var({e}) is used but it is not set and has no default")
        except jinja2.TemplateError as e:
            raise WarehouseError(f"cannot render {value!r}: {e}") from e

    dbt_project = read(project_dir / "dbt_project.yml")
    name = str(rendered(dbt_project.get("profile") or dbt_project.get("name")))
    path = profiles_dir / "profiles.yml"
    profile = read(path).get(name)
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        raise WarehouseError(f"profile {name!r} with `outputs:` not found in {path}")
    chosen = str(
        target or os.environ.get("DBT_TARGET") or rendered(profile.get("target")) or "default"
    )
    if chosen not in profile["outputs"]:
        raise WarehouseError(f"target {chosen!r} not found in profile {name!r} of {path}")
    config = {k: rendered(v) for k, v in profile["outputs"][chosen].items()}
    config["type"] = str(config.get("type") or "").strip().lower()
    return {**config, "_target": chosen, "_profile": name}


def read_csv_like_dbt_seed(seed: Seed, adapter: Any) -> tuple[list[str], list[str], Any]:
    """(names, types, rows) of the seed's CSV as `dbt seed` reads it and ADAPTER (a dbt adapter
    class) types it, its `column_types` winning: for the fast loaders, load_<type>.py."""
    from dbt_common.clients.agate_helper import from_csv

    given = seed.column_types
    table = from_csv(str(seed.csv), text_columns=list(given), delimiter=seed.delimiter)
    names = list(table.column_names)
    types = [given.get(n) or adapter.convert_agate_type(table, i) for i, n in enumerate(names)]
    return names, types, table.rows


def quote(identifier: str, mark: str = '"') -> str:
    return mark + identifier.replace(mark, mark * 2) + mark


def duckdb_database(config: Mapping[str, Any], project_dir: Path) -> str:
    """A dbt-duckdb target's database (a relative `path` is relative to the dbt project)."""
    path = str(config.get("path") or ":memory:")
    if path == ":memory:":
        raise WarehouseError(
            f"dbt target {config['_target']!r} uses an in-memory DuckDB database, which Dagster "
            "cannot share with dbt; set `path:` to a file in profiles.yml"
        )
    if ":" in path.split("/", 1)[0] and not Path(path).drive:  # md:, s3://, ...
        return path
    return str(project_dir / Path(path).expanduser())


# The throw-away project's macros: the seed's schema and alias as dbt resolved them, as given.
_NAMING_MACROS = """\
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ custom_schema_name | trim }}
{%- endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
  {{ custom_alias_name | trim }}
{%- endmacro %}
"""


def _load_with_dbt(config: Mapping[str, Any], project_dir: Path, seed: Seed, profiles: Path) -> int:
    """`dbt seed` of a throw-away project whose only seed is SEED, with its config, run in the
    dbt project's folder (relative paths in profiles.yml mean what they mean to `dbt build`)."""
    host, port = config.get("host"), config.get("port")
    if host and port and str(config.get("method", "")).lower() not in ("http", "odbc"):
        try:  # one line when nothing answers there (dbt would print pages)
            socket.create_connection((str(host), int(port)), timeout=10).close()
        except (OSError, ValueError) as e:
            raise WarehouseError(
                f"cannot connect to {config['type']} at {host}:{port} (dbt target "
                f"{config['_target']!r}): {getattr(e, 'strerror', None) or e}; start the server "
                "or fix the target in profiles.yml"
            ) from None
    conf: dict[str, Any] = dict(schema=seed.schema, alias=seed.table, delimiter=seed.delimiter)
    conf.update(column_types=seed.column_types, quote_columns=seed.quote_columns)
    seeds = {"seed_load": {f"+{k}": v for k, v in conf.items() if v not in ({}, ",", None)}}
    project = {"name": "seed_load", "version": "1.0", "profile": config["_profile"]}
    project.update({"config-version": 2, "seeds": seeds})
    # One folder per user, project, target and relation, kept between loads so that dbt's
    # partial parse skips its own macros (about 2 s); loads into one relation hold _load_lock.
    key = json.dumps([str(project_dir.resolve()), config["_target"], seed.schema, seed.table])
    user = getattr(os, "getuid", lambda: "")()  # the temp folder may be shared with others
    base = Path(tempfile.gettempdir(), f"dbtscaffold-seed-load{user}")
    base.mkdir(mode=0o700, exist_ok=True)
    folder = base / hashlib.sha256(key.encode()).hexdigest()[:20]
    for sub in ("seeds", "macros", "target"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "macros" / "naming.sql").write_text(_NAMING_MACROS, encoding="utf-8")
    (folder / "dbt_project.yml").write_text(json.dumps(project), encoding="utf-8")  # JSON is YAML
    shutil.copyfile(seed.csv, folder / "seeds" / "data.csv")
    results = folder / "target" / "run_results.json"
    results.unlink(missing_ok=True)  # an earlier load's
    args = ["seed", "--project-dir", str(folder), "--target", config["_target"], "--no-use-colors"]
    args += ["--profiles-dir", str(profiles.resolve()), "--log-path", str(folder / "logs")]
    run = run_dbt([*args, "--target-path", str(folder / "target")], project_dir)
    result: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
        result = json.loads(results.read_bytes())["results"][0]
    message = " ".join(str(result.get("message") or "").split())
    if run.returncode != 0:
        lines = [ln.strip() for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
        why = message or " ".join(([ln for ln in lines if "error" in ln.lower()] or lines)[-3:])
        raise WarehouseError(
            f"`dbt seed` of {seed.csv.name} into {seed.schema}.{seed.table} failed (dbt target "
            f"{config['_target']!r}): {why[:2000] or 'dbt exited with an error'}"
        )
    rows = (result.get("adapter_response") or {}).get("rows_affected")
    return int(rows if rows is not None else (re.findall(r"\d+", message) or [-1])[0])


@contextlib.contextmanager
def _load_lock(config: Mapping[str, Any], project_dir: Path, schema: str) -> Iterator[None]:
    """Hold on this machine (a run's steps run on one) the DuckDB file (one writer process), else
    the schema (not every warehouse creates one safely against a twin) a load writes."""
    kind = config["type"]
    if kind == "duckdb":
        what = key = f"the DuckDB file {duckdb_database(config, project_dir)}"
    else:
        what = f"schema {schema} of {kind} target {config['_target']!r}"
        place = ("host", "port", "account", "project", "dbname", "database", "catalog", "path")
        key = json.dumps([kind, *(str(config.get(k)) for k in place), schema])
    name = f"load-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    wait = lock_timeout(600.0)
    try:
        fd = acquire(
            Path(tempfile.gettempdir(), "dbtscaffold-locks", name), exclusive=True, timeout=wait
        )
    except LockBusyError as e:
        raise WarehouseError(
            f"another load into {what} did not finish within {wait:.0f} s ({e}); wait for it or "
            "raise DBTSCAFFOLD_LOCK_TIMEOUT"
        ) from None
    try:
        yield
    finally:
        os.close(fd)


def _fast_loader(kind: str) -> Any:
    """load_KIND.py, a loader of KIND's own (faster than dbt's seed loading, the same table:
    bench/, tests/e2e/test_seed_columns.py), if this copy has it: init copies it where the dbt
    profile names KIND. None: dbt's seed loading."""
    name = f"{__package__}.load_{kind}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def load_csv(
    project: Any,
    csv_path: Path | str,
    *,
    schema: str,
    table: str,
    column_types: Mapping[str, str] | None = None,
    delimiter: str = ",",
    quote_columns: bool | None = None,
    target: str | None = None,
) -> int:
    """Replace SCHEMA.TABLE in the warehouse of PROJECT's dbt target (PROJECT: a
    dagster_dbt.DbtProject) with the rows of CSV_PATH; the number of rows loaded."""
    project_dir, profiles = Path(project.project_dir), Path(project.profiles_dir)
    config = target_config(project_dir, profiles, target or project.target)
    kind = config["type"]
    if not kind or not adapter_installed(kind):
        raise WarehouseError(
            f"dbt target {config['_target']!r} is of type {kind!r}, and its dbt adapter is not "
            f"installed: pip install {adapter_package(kind) if kind else 'dbt-<adapter>'}"
        )
    seed = Seed(Path(csv_path), schema, table, dict(column_types or {}), delimiter, quote_columns)
    if not seed.csv.is_file():
        raise WarehouseError(f"{seed.csv} does not exist; put the data there or edit this loader")
    how = os.environ.get(LOADER_ENV, "").strip().lower()
    if how not in ("", "auto", "dbt"):
        raise WarehouseError(f"{LOADER_ENV}={how!r}: use `dbt` (dbt's seed loading) or unset it")
    fast = _fast_loader(kind) if how != "dbt" else None
    if fast is not None and getattr(fast, "LOCKS_IN_SERVER", False):  # across machines too
        return int(fast.load(config, project_dir, seed))
    with _load_lock(config, project_dir, seed.schema):
        if fast is not None:
            return int(fast.load(config, project_dir, seed))
        return _load_with_dbt(config, project_dir, seed, profiles)
