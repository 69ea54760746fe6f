"""Every dbt model of {{ cookiecutter.dbt_project_name_py_doc }} as a Dagster asset."""

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from {{ cookiecutter.project_name }}.constants import DBT_MANIFEST_PATH

# The data tests of a dbt source are asset checks of the asset behind it (like the tests of
# a seed that `dbtscaffold convert-seed` turned into a source and its loader asset).
translator = DagsterDbtTranslator(DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


@dbt_assets(manifest=DBT_MANIFEST_PATH, dagster_dbt_translator=translator)
def {{ cookiecutter.dbt_assets_name }}(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
