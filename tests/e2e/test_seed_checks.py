"""A failing test of a converted seed behaves as it did on the seed: it fails its own asset
check (now on the loader asset), and dbt builds and skips the same models as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PACKAGE = "jaffle_dagster"
BUILT = re.compile(r"^\s*built\s+(\S+)\s*$", re.MULTILINE)
FAILED = re.compile(r"Asset check `(\w+)` on `(\w+)` failed")


def _duplicate_first_row(csv: Path) -> None:
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join([*lines, lines[1]]))


def _materialize(dagster_dir: Path, db: Path) -> tuple[set[str], set[tuple[str, str]]]:
    """(assets built, (asset, check) pairs that failed) of a materialize that fails."""
    proc = run_cli("materialize", cwd=dagster_dir, env={"JAFFLE_SHOP_DUCKDB_PATH": str(db)},
                   check=1, timeout=900)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    failed = {(asset, check) for check, asset in FAILED.findall(out)}
    return set(BUILT.findall(out)), failed


def test_a_failing_seed_test_fails_its_check_on_the_loader_and_builds_what_it_built(tmp_path):
    dbt_dir = tmp_path / "jaffle_shop"
    run_cli("example", dbt_dir, check=0)
    run_cli("init", "--project-name", PACKAGE, cwd=dbt_dir, check=0)
    dagster_dir = dbt_dir / PACKAGE
    _duplicate_first_row(dbt_dir / "seeds" / "raw_customers.csv")  # breaks `unique` on id
    built_before, failed_before = _materialize(dagster_dir, tmp_path / "before.duckdb")

    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    built_after, failed_after = _materialize(dagster_dir, tmp_path / "after.duckdb")

    assert failed_before == {("raw_customers", "unique_raw_customers_id")}
    assert failed_after == {("raw_customers", "source_unique_jaffle_shop_raw_customers_id")}
    # The other models are built either way; those below the broken table are skipped by
    # dbt either way (dbt build does not build on a relation whose test failed).
    assert built_after == built_before
    assert {"raw_customers", "stg_orders", "orders"} <= built_after
    assert "customers" not in built_after
