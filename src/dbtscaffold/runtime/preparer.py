"""dagster-dbt's preparer hook (`DbtProjectPreparer`) with dbtscaffold's parse on load.

dagster-dbt's own `DbtProject.prepare_if_dev()` runs `dbt parse` on every load under
`dagster dev` (seconds to minutes) and never when DAGSTER_DBT_PARSE_PROJECT_ON_LOAD is set
outside it. This preparer parses only when something dbt reads changed (see parse.py), honours
the variable both ways, and says what to do when parse on load is off and the manifest is
missing.
"""

from __future__ import annotations

from typing import Any

from dagster_dbt import DbtProjectPreparer

from .parse import parse_on_load_enabled, prepare_manifest


class ParseOnLoadPreparer(DbtProjectPreparer):
    """Prepares a dagster_dbt.DbtProject's manifest the way `dbtscaffold dev` expects."""

    def using_dagster_dev(self) -> bool:
        return parse_on_load_enabled()

    def prepare_if_dev(self, project: Any) -> None:
        prepare_manifest(project)

    def prepare(self, project: Any) -> None:
        prepare_manifest(project, always=True)
