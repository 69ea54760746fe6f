"""DuckDB's own loader for `load_csv` (loaders.py), faster than dbt's seed loading: init copies
it into a project whose dbt profile names a duckdb target."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .loaders import Seed, duckdb_database, quote, read_csv_like_dbt_seed


def load(config: Mapping[str, Any], project_dir: Path, seed: Seed) -> int:
    """Replace the seed's table with the rows of its CSV, in one transaction; the row count."""
    from dagster_duckdb import DuckDBResource  # it retries while another process has the file
    from dbt.adapters.duckdb import DuckDBAdapter

    # DuckDB keeps the case of names and matches them ignoring case: quote_columns is moot.
    names, types, _ = read_csv_like_dbt_seed(seed, DuckDBAdapter)
    with DuckDBResource(database=duckdb_database(config, project_dir)).get_connection() as con:
        # Qualified with the catalog: a schema named like the database file is ambiguous.
        catalog = con.execute("select current_database()").fetchall()[0][0]
        schema = f"{quote(catalog)}.{quote(seed.schema)}"
        relation = f"{schema}.{quote(seed.table)}"
        columns = ", ".join(f"{quote(n)} {t}" for n, t in zip(names, types))
        con.execute("begin transaction")  # readers see the old table or the new one
        try:
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create or replace table {relation} ({columns})")
            # As dbt-duckdb's seed loads the rows: DuckDB's CSV reader, into the typed table.
            options = f"format csv, header true, delimiter {quote(seed.delimiter, chr(39))}"
            con.execute(f"copy {relation} from {quote(str(seed.csv), chr(39))} ({options})")
            count = con.execute(f"select count(*) from {relation}").fetchall()[0][0]
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return int(count)
