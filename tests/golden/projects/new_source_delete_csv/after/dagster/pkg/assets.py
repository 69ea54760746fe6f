"""Assets of pkg."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset
from dagster_dbt import DbtCliResource, dbt_assets

from . import warehouse
from .constants import DBT_MANIFEST_PATH


@dbt_assets(manifest=DBT_MANIFEST_PATH)
def shop_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


# Added by `dbtscaffold convert-seed raw_a`: the dbt seed became the source table
# main.raw_a, loaded from data/raw_a.csv in this project.
@asset(
    key=["raw_a"],
    kinds={"duckdb"},
    description="The former dbt seed raw_a, loaded from data/raw_a.csv.",
)
def raw_a(context: AssetExecutionContext) -> MaterializeResult:
    rows = warehouse.load_csv(
        Path(__file__).resolve().parent.parent / "data" / "raw_a.csv",
        schema="main",
        table="raw_a",
        column_types={},
        delimiter=",",
    )
    context.log.info(f"Loaded {rows} rows into main.raw_a")
    return MaterializeResult(metadata={"dagster/row_count": rows})


# Added by `dbtscaffold convert-seed raw_b`: the dbt seed became the source table
# main.raw_b, loaded from data/raw_b.csv in this project.
@asset(
    key=["raw_b"],
    kinds={"duckdb"},
    description="The former dbt seed raw_b, loaded from data/raw_b.csv.",
)
def raw_b(context: AssetExecutionContext) -> MaterializeResult:
    rows = warehouse.load_csv(
        Path(__file__).resolve().parent.parent / "data" / "raw_b.csv",
        schema="main",
        table="raw_b",
        column_types={},
        delimiter=";",
    )
    context.log.info(f"Loaded {rows} rows into main.raw_b")
    return MaterializeResult(metadata={"dagster/row_count": rows})
