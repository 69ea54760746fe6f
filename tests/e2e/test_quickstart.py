"""`dbtscaffold quickstart` end to end: example, init, convert-seed, materialize, table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.example import duckdb_counts
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MARTS = {"customers": 100, "orders": 99}
ASSETS = {
    "raw_customers": "Python asset",
    "raw_orders": "dbt seed",
    "raw_payments": "dbt seed",
    "stg_customers": "dbt model",
    "stg_orders": "dbt model",
    "stg_payments": "dbt model",
    "customers": "dbt model",
    "orders": "dbt model",
}
# What a run changes by design: the warehouse, dbt's and Dagster's own state.
VOLATILE_DIRS = (".dbtscaffold", ".dagster_home", "target", "logs", "__pycache__")


def table_rows(stdout: str) -> dict[str, tuple[str, str, str]]:
    """{asset: (built by, table, rows)} from the table quickstart prints."""
    rows = {}
    for line in stdout.splitlines():
        # Piped, the table is plain text aligned with spaces (a Rich table on a terminal).
        cells = [c.strip() for c in re.split(r"\s{2,}", line) if c.strip()]
        if len(cells) == 4 and cells[0] in ASSETS:
            rows[cells[0]] = (cells[1], cells[2], cells[3])
    return rows


def stable_tree(root: Path) -> dict[str, str]:
    return {
        k: v
        for k, v in tree_hash(root, ignore=VOLATILE_DIRS).items()
        if not k.endswith((".duckdb", ".duckdb.wal"))
    }


def test_quickstart_in_an_empty_folder_then_again(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    first = run_cli("quickstart", cwd=work, check=0)
    root = work / "dbtscaffold-quickstart"
    dbt_dir = root / "jaffle_shop"
    dagster_dir = root / "jaffle_shop_dagster"

    for n in range(1, 6):
        assert f"[{n}/5]" in first.stderr
    assert "Materialized 8 assets" in first.stderr
    assert "cd dbtscaffold-quickstart/jaffle_shop_dagster && dbtscaffold dev" in first.stderr
    rows = table_rows(first.stdout)
    assert set(rows) == set(ASSETS), first.stdout
    # Piped: plain text, and only the result (the table) on stdout.
    assert not re.search("[\u2500-\u257f]", first.stdout + first.stderr)
    assert first.stdout.splitlines()[0].startswith("Assets built by run "), first.stdout
    assert len(first.stdout.splitlines()) == 2 + len(ASSETS)
    for name, built_by in ASSETS.items():
        assert rows[name][0] == built_by
        assert rows[name][1] == f"main.{name}"
    for name, count in MARTS.items():
        assert rows[name][2] == str(count)
    assert rows["raw_customers"][2] == "100"

    # Every mart is in the DuckDB file, with the rows the table claims.
    marts = {p.stem for p in (dbt_dir / "models" / "marts").glob("*.sql")}
    assert marts == set(MARTS)
    db = dbt_dir / "jaffle_shop.duckdb"
    assert duckdb_counts(db, marts) == MARTS
    # The seed went through Dagster: a Python asset loads it from the Dagster project.
    assert (dagster_dir / "data" / "raw_customers.csv").is_file()
    assert not (dbt_dir / "seeds" / "raw_customers.csv").exists()
    assert "Traceback" not in first.stderr

    # Run twice: everything is reused, nothing is rewritten or removed, and it builds again.
    before = stable_tree(root)
    second = run_cli("quickstart", cwd=work, check=0)
    assert "reusing the example dbt project" in second.stderr
    assert "reusing the Dagster project" in second.stderr
    assert "Nothing to do: `raw_customers` already converted." in second.stderr
    assert table_rows(second.stdout) == rows
    assert stable_tree(root) == before
    assert duckdb_counts(db, marts) == MARTS


def test_quickstart_stops_on_something_else_in_the_way(tmp_path):
    root = tmp_path / "qs"
    (root / "jaffle_shop").mkdir(parents=True)
    (root / "jaffle_shop" / "notes.txt").write_text("mine\n")
    before = tree_hash(root)
    proc = run_cli("quickstart", root, check=1)
    assert proc.stderr.splitlines()[-1] == (
        f"error: `{root / 'jaffle_shop'}` exists and is not the example dbt project; run "
        "quickstart in another folder."
    )
    assert "Traceback" not in proc.stderr
    assert tree_hash(root) == before


def test_quickstart_refuses_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    proc = run_cli("quickstart", f, check=1)
    assert proc.stderr == f"error: `{f}` is a file; pass a folder to quickstart.\n"
