"""Load a CSV with dbt's own seed loading, on any dbt adapter (see loaders.py).

`load_csv_with_dbt` runs `dbt seed` of that one CSV in a throwaway dbt project whose only seed
has the relation and the config (column_types, delimiter, quote_columns) of the seed it
replaces, so the adapter's own type conversion, quoting, batching and table creation apply.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .profiles import profile_name


class SeedLoadError(RuntimeError):
    """The CSV could not be loaded (the message says why, in one line)."""


# The throwaway project's macros: the seed's schema and alias are used as given (they are
# the relation dbt resolved for the seed it replaces), not run through the user's naming.
_NAMING_MACROS = """\
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ custom_schema_name | trim }}
{%- endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
  {{ custom_alias_name | trim }}
{%- endmacro %}
"""
_LOADER_PROJECT = "dbtscaffold_seed_load"


def _dbt_executable() -> str:
    """The `dbt` of this interpreter's environment, else the one on PATH (as dagster-dbt)."""
    here = Path(sys.executable).parent / ("dbt.exe" if os.name == "nt" else "dbt")
    found = str(here) if here.is_file() else shutil.which("dbt")
    if not found:
        raise SeedLoadError("no `dbt` executable found: install dbt-core in this environment")
    return found


def _check_reachable(config: Mapping[str, Any]) -> None:
    """One clear line when the target names a host and port nothing answers on (dbt would
    print a page of retries and a driver's traceback instead)."""
    host, port = config.get("host"), config.get("port")
    if not host or not port or str(config.get("method", "")).lower() in ("http", "odbc"):
        return
    try:
        with socket.create_connection((str(host), int(port)), timeout=10):
            return
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    raise SeedLoadError(
        f"cannot connect to {config.get('type')} at {host}:{port} (dbt target "
        f"{config.get('_target')!r}): {reason}; start the server or fix the target in "
        "profiles.yml"
    )


def _dbt_failure(project: Path, output: str) -> str:
    """The reason a `dbt seed` failed: its result's message, else its last error lines."""
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError, TypeError):
        results = json.loads((project / "target" / "run_results.json").read_text("utf-8"))
        message = str(results["results"][0]["message"] or "")
        if message:
            return " ".join(message.split())
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return " ".join((errors or lines)[-3:])[:2000] or "dbt exited with an error"


@contextlib.contextmanager
def _loader_folder(name: str) -> Iterator[Path]:
    """The throw-away project's folder: kept in the temp folder between loads when it can be,
    else (no temp folder to keep it in) a new one each time."""
    base = Path(tempfile.gettempdir()) / "dbtscaffold-seed-load"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        folder = base / name
        folder.mkdir(exist_ok=True)
    except OSError:
        with tempfile.TemporaryDirectory(prefix="dbtscaffold-load-") as tmp:
            yield Path(tmp)
        return
    yield folder


def load_csv_with_dbt(
    config: Mapping[str, Any],
    project_dir: Path,
    profiles_dir: Path,
    csv_path: Path,
    *,
    schema: str,
    table: str,
    column_types: Mapping[str, str],
    delimiter: str,
    quote_columns: bool | None = None,
) -> int:
    """Load CSV_PATH into SCHEMA.TABLE with `dbt seed`, on any adapter.

    A `dbt seed` in a subprocess, not dbt's programmatic runner in this process: the runner
    would be about 3 s faster per load (no interpreter and dbt start-up), but it changes
    process-wide state (the working folder, which dbt-duckdb resolves `path:` against,
    dbt's flags and event logging) inside Dagster's step process. The subprocess runs in
    the dbt project's folder, as dagster-dbt runs dbt, so relative paths in profiles.yml
    mean what they mean to `dbt build`.
    """
    _check_reachable(config)
    seed_config: dict[str, Any] = {"+schema": schema, "+alias": table}
    if column_types:
        seed_config["+column_types"] = dict(column_types)
    if delimiter != ",":
        seed_config["+delimiter"] = delimiter
    if quote_columns is not None:
        seed_config["+quote_columns"] = bool(quote_columns)
    # One folder per dbt project, target and relation, kept between loads, so that dbt's
    # partial parse skips parsing its own macros again (about 2 s of every `dbt seed`). Loads
    # into one relation never run at once: loaders.py holds the schema's lock around this.
    key = json.dumps([str(Path(project_dir).resolve()), str(config.get("_target")), schema, table])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    with _loader_folder(digest) as loader:
        (loader / "seeds").mkdir(exist_ok=True)
        (loader / "macros").mkdir(exist_ok=True)
        (loader / "macros" / "naming.sql").write_text(_NAMING_MACROS, encoding="utf-8")
        project = {  # JSON is YAML: no quoting rules to get wrong
            "name": _LOADER_PROJECT,
            "version": "1.0",
            "config-version": 2,
            "profile": profile_name(project_dir),
            "seed-paths": ["seeds"],
            "macro-paths": ["macros"],
            "seeds": {_LOADER_PROJECT: seed_config},
        }
        (loader / "dbt_project.yml").write_text(json.dumps(project), encoding="utf-8")
        seed_file = loader / "seeds" / "data.csv"
        seed_file.unlink(missing_ok=True)
        (loader / "target" / "run_results.json").unlink(missing_ok=True)  # an earlier load's
        try:
            seed_file.symlink_to(csv_path.resolve())
        except OSError:  # no symlinks here (Windows without the privilege)
            shutil.copyfile(csv_path, seed_file)
        cmd = [
            _dbt_executable(), "seed", "--project-dir", str(loader),
            "--profiles-dir", str(Path(profiles_dir).resolve()),
            "--target", str(config["_target"]), "--target-path", str(loader / "target"),
            "--log-path", str(loader / "logs"), "--no-use-colors",
        ]  # fmt: skip
        env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        proc = subprocess.run(
            cmd,
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if proc.returncode != 0:
            raise SeedLoadError(
                f"`dbt seed` of {csv_path.name} into {schema}.{table} failed (dbt target "
                f"{config.get('_target')!r}): {_dbt_failure(loader, proc.stdout + proc.stderr)}"
            )
        results = json.loads((loader / "target" / "run_results.json").read_text("utf-8"))
        result = results["results"][0]
        rows = (result.get("adapter_response") or {}).get("rows_affected")
        if rows is None:
            match = re.search(r"\d+", str(result.get("message") or ""))
            rows = match.group(0) if match else -1
        return int(rows)
