"""A dbt project holding every seed CSV of the example and of the test fixtures, each under
several seed configurations, for comparing the loader with a real `dbt seed` (issue 13).

Each CSV becomes one seed per variant, named `<csv>__<variant>`; a variant's config is
written where users write it (dbt_project.yml per seed or per folder, or the seed's YAML
`config:`), so the test also covers convert-seed carrying it into the loader.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.helpers.cli import EXAMPLE

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "projects"
PROJECT = "fid"

# Not here: the hostile CSV of tests/reliability/test_injection.py, whose quoted column names
# `dbt seed` itself cannot create (dbt does not escape the quotes inside a quoted name).
# What agate and the adapters make of odd values: mixed-case names, decimals, booleans,
# timestamps, dates, empty cells, the text `null`, a quoted delimiter, a leading zero, and a
# non-ASCII capital (PostgreSQL folds only A-Z in an unquoted name).
MIXED = (
    "Code_Id,Label,Price,Is_Active,Created_At,Day,Note,Zip,Ärger\n"
    '1,Alpha,1.50,true,2024-01-02 03:04:05,2024-01-02,null,"01234",ja\n'
    '2,"Beta, quoted",,false,2024-02-03 04:05:06,2024-02-03,,02345,nein\n'
    "3,Gamma,12.25,,2024-03-04 05:06:07,,plain,10000,\n"
)


def fixture_csvs() -> dict[str, tuple[str, str]]:
    """{name: (CSV text, delimiter)} of every seed of the example and of the fixtures."""

    def read(p: Path) -> str:
        return p.read_text(encoding="utf-8")

    return {
        "ex_customers": (read(EXAMPLE / "seeds" / "raw_customers.csv"), ","),
        "ex_orders": (read(EXAMPLE / "seeds" / "raw_orders.csv"), ","),
        "ex_payments": (read(EXAMPLE / "seeds" / "raw_payments.csv"), ","),
        "gold_customers": (
            read(GOLDEN / "existing_source/before/dbt/seeds/raw/raw_customers.csv"),
            ",",
        ),
        "gold_orders": (read(GOLDEN / "existing_source/before/dbt/seeds/raw/raw_orders.csv"), ","),
        "gold_a": (read(GOLDEN / "new_source_delete_csv/before/dbt/seeds/raw_a.csv"), ","),
        "gold_b": (read(GOLDEN / "new_source_delete_csv/before/dbt/seeds/raw_b.csv"), ";"),
        "mixed": (MIXED, ","),
    }


def _rows(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _write_csv(rows: list[list[str]], delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _plain_header(rows: list[list[str]]) -> bool:
    """Unquoted, the names must be SQL identifiers (dbt seed fails on the rest)."""
    return all(n.replace("_", "a").isalnum() and not n[0].isdigit() for n in rows[0])


def _types(header: list[str]) -> dict[str, str]:
    """column_types for a variant: the first column as text, a decimal with its scale."""
    out = {header[0]: "varchar(64)"}
    if "Price" in header:
        out["Price"] = "numeric(12,3)"
    return out


# Variant -> (where its config goes, what it says). The configurations covered:
VARIANTS = {
    "d": "no config: dbt's defaults (quote_columns true on DuckDB and PostgreSQL)",
    "qf": "+quote_columns: false on the seeds' folder in dbt_project.yml",
    "qt": "+quote_columns: true on the seed in dbt_project.yml (mixed-case headers only)",
    "ct": "column_types in the seed's YAML config:",
    "sx": "delimiter ';' (CSV rewritten) + quote_columns false in YAML config:, "
    "+column_types in dbt_project.yml",
}


def write_project(dbt_dir: Path) -> list[str]:
    """A dbt project (DuckDB `dev`, PostgreSQL `postgres`) with every fixture CSV under
    every variant that `dbt seed` accepts; returns the seed names."""
    seeds_dir = dbt_dir / "seeds"
    (seeds_dir / "unquoted").mkdir(parents=True)
    (dbt_dir / "models").mkdir()
    project_seeds: list[str] = []
    yaml_entries: list[str] = []
    names: list[str] = []
    for base, (text, delimiter) in fixture_csvs().items():
        rows = _rows(text, delimiter)
        header = rows[0]
        for variant in VARIANTS:
            if variant in ("qf", "sx") and not _plain_header(rows):
                continue  # unquoted, these names are not valid SQL: dbt seed fails too
            if variant == "qt" and header == [n.lower() for n in header]:
                continue  # the same table as "d" (quote_columns true is the default)
            name = f"{base}__{variant}"
            names.append(name)
            folder = seeds_dir / "unquoted" if variant == "qf" else seeds_dir
            own_delimiter = ";" if variant == "sx" else delimiter
            body = text if own_delimiter == delimiter else _write_csv(rows, own_delimiter)
            (folder / f"{name}.csv").write_text(body, encoding="utf-8")
            config: dict[str, object] = {}
            if own_delimiter != ",":
                config["delimiter"] = own_delimiter
            if variant == "ct":
                config["column_types"] = _types(header)
            if variant == "sx":
                config["quote_columns"] = False
                types = "".join(f"        {_q(k)}: {_q(v)}\n" for k, v in _types(header).items())
                project_seeds.append(f"    {name}:\n      +column_types:\n{types}")
            if variant == "qt":
                project_seeds.append(f"    {name}:\n      +quote_columns: true\n")
            if config:
                yaml_entries.append(f"  - name: {name}\n    config: {_q(config)}\n")
    (dbt_dir / "dbt_project.yml").write_text(
        f"name: {PROJECT}\nprofile: {PROJECT}\nconfig-version: 2\n\n"
        f"seeds:\n  {PROJECT}:\n    unquoted:\n      +quote_columns: false\n"
        + "".join(project_seeds),
        encoding="utf-8",
    )
    (seeds_dir / "_seeds.yml").write_text(
        "version: 2\n\nseeds:\n" + "".join(yaml_entries), encoding="utf-8"
    )
    (dbt_dir / "profiles.yml").write_text(PROFILES, encoding="utf-8")
    return names


def _q(value: object) -> str:
    import json

    return json.dumps(value)  # JSON is YAML: quotes, backslashes and newlines stay exact


# The postgres target reads the variables of tests/helpers/postgres.py's pg_database.
PROFILES = f"""\
{PROJECT}:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{{{ env_var('FID_DUCKDB_PATH', 'fid.duckdb') }}}}"
      threads: 1
    postgres:
      type: postgres
      host: "{{{{ env_var('JAFFLE_SHOP_PG_HOST', '127.0.0.1') }}}}"
      port: "{{{{ env_var('JAFFLE_SHOP_PG_PORT', '5432') | as_number }}}}"
      user: "{{{{ env_var('JAFFLE_SHOP_PG_USER', 'postgres') }}}}"
      password: "{{{{ env_var('JAFFLE_SHOP_PG_PASSWORD', '') }}}}"
      dbname: "{{{{ env_var('JAFFLE_SHOP_PG_DBNAME', 'fid') }}}}"
      schema: "{{{{ env_var('FID_PG_SCHEMA', 'fid') }}}}"
      threads: 4
"""
