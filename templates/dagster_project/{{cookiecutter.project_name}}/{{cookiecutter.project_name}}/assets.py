"""Assets of {{ cookiecutter.project_name }}: every dbt model, plus any asset you add here."""

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from .constants import DBT_MANIFEST_PATH


@dbt_assets(manifest=DBT_MANIFEST_PATH)
def {{ cookiecutter.dbt_assets_name }}(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
