"""dagster-dbt's `DbtProjectComponent`, with dbtscaffold's parse on load and dbt run in place.

dagster-dbt's component is state-backed: every `dg` command copies the whole dbt project into
`<defs>/.local_defs_state/` and dbt runs in that copy, so a DuckDB `path:` relative to the dbt
project (and the tables a converted seed's loader writes there) lands in a folder the next
command deletes. This subclass keeps dg's model and changes three things:

- where the dbt project exists (a checkout), the definitions are built from it and dbt runs
  in it, as `DbtProject` does outside a deployment; the state is only used where the dbt
  project is not (an installed wheel or image);
- the manifest is prepared by `ParseOnLoadPreparer` (parse only when something dbt reads
  changed; parse on load on under `dg dev`, `dagster dev` or DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1);
- `dg utils refresh-defs-state` writes the state without dbt's output, DuckDB files or a
  Python project nested in the dbt project; `dg dev` does not refresh it on every load.
"""

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtProjectComponent as _DbtProjectComponent
from dagster_dbt.errors import (
    DagsterDbtProjectNotFoundError,
    DagsterDbtProjectYmlFileNotFoundError,
)

from .parse import prepare_manifest
from .preparer import ParseOnLoadPreparer

_SKIPPED = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.pyo", "*.duckdb", "*.duckdb.wal")


def _ignore(directory: str, names: list[str]) -> set[str]:
    """What the state's copy of the dbt project leaves out (shutil.copytree's `ignore`)."""
    here = Path(directory)
    skipped = set(_SKIPPED(directory, names))
    if (here / "dbt_project.yml").is_file():  # dbt's output; the manifest is copied on its own
        skipped.update(n for n in ("logs", "target") if n in names and (here / n).is_dir())
    for name in names:  # a Python project (this Dagster project) or an environment
        if any((here / name / f).is_file() for f in ("pyproject.toml", "pyvenv.cfg")):
            skipped.add(name)
    return skipped


@dataclasses.dataclass
class DbtProjectComponent(_DbtProjectComponent):
    """Every dbt model of a dbt project as a Dagster asset (see this module's docstring)."""

    def _source_project(self) -> Any:
        """The dbt project itself (a `DbtProject`), or None where only the state has it."""
        try:
            return self.dbt_project
        except (DagsterDbtProjectNotFoundError, DagsterDbtProjectYmlFileNotFoundError):
            return None  # installed from a wheel: its folder is gone, or is site-packages

    @property
    def defs_state_config(self) -> Any:
        # The dbt project itself is used wherever it exists, so `dg dev` need not copy it.
        base = super().defs_state_config
        return type(base)(key=base.key, management_type=base.management_type, refresh_if_dev=False)

    def write_state_to_path(self, state_path: Path) -> None:
        project = self.dbt_project
        manifest = prepare_manifest(project, always=True)
        copy = state_path.parent / "project"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(project.project_dir, copy, ignore=_ignore, symlinks=True)
        packaged_manifest = copy / project.target_path / "manifest.json"
        packaged_manifest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest, packaged_manifest)
        state_path.touch()

    def build_defs_from_state(
        self, context: dg.ComponentLoadContext, state_path: Path | None
    ) -> dg.Definitions:
        source = self._source_project()
        if source is None:
            return super().build_defs_from_state(context, state_path)
        ParseOnLoadPreparer().prepare_if_dev(source)
        return super().build_defs_from_state(context, None)
