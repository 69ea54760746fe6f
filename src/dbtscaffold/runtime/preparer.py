"""dagster-dbt's preparer hook with dbtscaffold's parse on load: parse only when something dbt
reads changed, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD honoured both ways, a missing manifest said."""

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
