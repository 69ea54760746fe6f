"""Where the dbt project is, how dbt is called, and which manifest the assets read.

The dbt project is parsed when these definitions load under `dagster dev` (or `dg dev`),
or with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 (as `dbtscaffold dev` sets it); the parse is
skipped when nothing dbt reads has changed since the last one. DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=0
turns it off everywhere; then the dbt project's target/manifest.json is used.
"""

import os
from pathlib import Path

from dagster_dbt import DbtCliResource

from .manifest import parse_on_load_enabled, prepare_manifest

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DBT_PROJECT_DIR_ENV = "DBTSCAFFOLD_DBT_PROJECT_DIR"

_HERE = Path(__file__).resolve().parent

# Relative to this file, so this project and the dbt project can move together; else a
# copy packaged next to this file. DBTSCAFFOLD_DBT_PROJECT_DIR overrides both.
_DBT_PROJECT_DIR_CANDIDATES = [
    _HERE.joinpath({{ cookiecutter.dbt_project_dir_parts_py }}),
    _HERE / "dbt_project",
]


def _find_dbt_project_dir() -> Path:
    override = os.environ.get(DBT_PROJECT_DIR_ENV)
    candidates = [Path(override)] if override else _DBT_PROJECT_DIR_CANDIDATES
    for candidate in candidates:
        if (candidate / "dbt_project.yml").is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"dbt project not found (looked in: {tried}); set {DBT_PROJECT_DIR_ENV} to its folder."
    )


DBT_PROJECT_DIR = _find_dbt_project_dir()
DBT_PROFILES_DIR = (
    Path(os.environ["DBT_PROFILES_DIR"]).expanduser()
    if os.environ.get("DBT_PROFILES_DIR")
    else {{ cookiecutter.profiles_dir_py }}
)
DBT_TARGET_PATH = DBT_PROJECT_DIR / {{ cookiecutter.target_path_py }}

dbt = DbtCliResource(
    project_dir=os.fspath(DBT_PROJECT_DIR),
    profiles_dir=os.fspath(DBT_PROFILES_DIR),
)

if parse_on_load_enabled():
    DBT_MANIFEST_PATH = prepare_manifest(
        DBT_PROJECT_DIR, DBT_PROFILES_DIR, DBT_TARGET_PATH, packages={{ cookiecutter.packages_py }}
    )
else:
    DBT_MANIFEST_PATH = DBT_TARGET_PATH / "manifest.json"
    if not DBT_MANIFEST_PATH.is_file():
        raise FileNotFoundError(
            f"{DBT_MANIFEST_PATH} does not exist and parse on load is off. Run `dbtscaffold dev` "
            f"or `dagster dev` (they parse the dbt project when the definitions load), set "
            f"{PARSE_ON_LOAD_ENV}=1, or run `dbt parse` in the dbt project first."
        )
