"""Every dbt model of {{ cookiecutter.dbt_project_name_py_doc }} as a Dagster asset."""

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from {{ cookiecutter.project_name }}.constants import DBT_MANIFEST_PATH


@dbt_assets(manifest=DBT_MANIFEST_PATH)
def {{ cookiecutter.dbt_assets_name }}(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
