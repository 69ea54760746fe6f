"""Assets that load the CSV files of former dbt seeds; `dbtscaffold convert-seed` adds them."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from ._dbtscaffold import load_csv
from .constants import dbt_project

HERE = Path(__file__).parent
# The project's data/ folder, else the copy `dbtscaffold package` puts in this package.
DATA_DIR = HERE.parent / "data" if (HERE.parent / "data").is_dir() else HERE / "data"


@asset(
    key=["raw_a"],
    kinds={"python", "duckdb"},
    description="The former dbt seed raw_a, loaded from data/raw_a.csv.",
)
def raw_a(context: AssetExecutionContext) -> MaterializeResult:
    rows = load_csv(
        dbt_project,
        DATA_DIR / "raw_a.csv",
        schema="main",
        table="raw_a",
    )
    context.log.info("Loaded %d rows into %s", rows, "main.raw_a")
    return MaterializeResult(metadata={"dagster/row_count": rows})


@asset(
    key=["raw_b"],
    kinds={"python", "duckdb"},
    description="The former dbt seed raw_b, loaded from data/raw_b.csv.",
)
def raw_b(context: AssetExecutionContext) -> MaterializeResult:
    rows = load_csv(
        dbt_project,
        DATA_DIR / "raw_b.csv",
        schema="main",
        table="raw_b",
        delimiter=";",
    )
    context.log.info("Loaded %d rows into %s", rows, "main.raw_b")
    return MaterializeResult(metadata={"dagster/row_count": rows})
