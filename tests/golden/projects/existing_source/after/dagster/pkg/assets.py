"""Assets of pkg."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset
from dagster_dbt import DbtCliResource, dbt_assets

from . import warehouse
from .constants import DBT_MANIFEST_PATH


@dbt_assets(manifest=DBT_MANIFEST_PATH)
def shop_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


# Added by `dbtscaffold convert-seed raw_customers`: the dbt seed became the source table
# raw.raw_customers, loaded from data/raw_customers.csv in this project.
@asset(
    key=["raw_customers"],
    kinds={"duckdb"},
    description="Customers of the shop, one row each.",
)
def raw_customers(context: AssetExecutionContext) -> MaterializeResult:
    rows = warehouse.load_csv(
        Path(__file__).resolve().parent.parent / "data" / "raw_customers.csv",
        schema="raw",
        table="raw_customers",
        column_types={"id": "bigint", "signup_date": "date"},
        delimiter=",",
    )
    context.log.info(f"Loaded {rows} rows into raw.raw_customers")
    return MaterializeResult(metadata={"dagster/row_count": rows})
