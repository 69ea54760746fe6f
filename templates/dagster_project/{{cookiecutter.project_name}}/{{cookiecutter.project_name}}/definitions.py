"""The Dagster definitions: the dbt models, the seed loaders{% if cookiecutter.schedule %}, the schedule{% endif %} and the dbt resource."""

from dagster import Definitions, load_assets_from_modules
from dagster_dbt import DbtCliResource

# assets before seed_assets: the manifest is prepared (or waited for, while a change applies)
# when assets is imported, so seed_assets.py is read after it, from the same project state.
from . import assets, seed_assets
from .constants import dbt_project
{%- if cookiecutter.schedule %}
from .schedules import materialize_dbt_models, materialize_dbt_models_schedule
{%- endif %}

defs = Definitions(
    # The dbt assets as dagster-dbt builds them; the seed loaders that convert-seed adds.
    assets=[assets.{{ cookiecutter.dbt_assets_name }}, *load_assets_from_modules([seed_assets])],
{%- if cookiecutter.schedule %}
    jobs=[materialize_dbt_models],
    schedules=[materialize_dbt_models_schedule],
{%- endif %}
    resources={"dbt": DbtCliResource(project_dir=dbt_project)},
)
