"""Assets that load the CSV files of former dbt seeds; `dbtscaffold convert-seed` adds them."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from ._dbtscaffold import load_csv
from .constants import dbt_project

HERE = Path(__file__).parent
# The project's data/ folder, else the copy `dbtscaffold package` puts in this package.
DATA_DIR = HERE.parent / "data" if (HERE.parent / "data").is_dir() else HERE / "data"


@asset(
    key=["raw_customers"],
    kinds={"python", "duckdb"},
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
