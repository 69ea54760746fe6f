"""The Dagster definitions: every asset in assets.py, and the dbt resource."""

from dagster import Definitions, load_assets_from_modules

from . import assets
from .constants import dbt

defs = Definitions(
    assets=load_assets_from_modules([assets]),
    resources={"dbt": dbt},
)
