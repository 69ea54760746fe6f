"""Assets that load the CSV files of former dbt seeds; `dbtscaffold convert-seed` adds them."""
