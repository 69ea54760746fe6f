"""Assets that load the CSV files of former dbt seeds; `dbtscaffold convert-seed` adds them."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from pkg._dbtscaffold import load_csv
from pkg.constants import dbt_project

DATA_DIR = Path(__file__).parent.parent / "data"


@asset(
    key=["raw_customers"],
    kinds={"duckdb"},
    description="Customers of the shop, one row each.",
)
def raw_customers(context: AssetExecutionContext) -> MaterializeResult:
    rows = load_csv(
        dbt_project,
        DATA_DIR / "raw_customers.csv",
        schema="main_raw",
        table="raw_customers",
        column_types={"id": "bigint", "signup_date": "date"},
    )
    context.log.info("Loaded %d rows into %s", rows, "main_raw.raw_customers")
    return MaterializeResult(metadata={"dagster/row_count": rows})
