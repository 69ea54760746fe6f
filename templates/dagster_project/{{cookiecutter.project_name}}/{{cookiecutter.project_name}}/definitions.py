"""The Dagster definitions: the dbt models, the seed loaders and the dbt resource."""

from dagster import Definitions, load_assets_from_modules
from dagster_dbt import DbtCliResource

from {{ cookiecutter.project_name }} import assets, seed_assets
from {{ cookiecutter.project_name }}.constants import dbt_project

defs = Definitions(
    assets=load_assets_from_modules([assets, seed_assets]),
    resources={"dbt": DbtCliResource(project_dir=dbt_project)},
)
