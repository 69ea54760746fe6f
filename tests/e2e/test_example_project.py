"""End-to-end check that the bundled example dbt project builds with DuckDB."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

EXAMPLE_DIR = Path(__file__).parents[2] / "src/dbtscaffold/example"
DBT = Path(sys.executable).parent / "dbt"

pytestmark = [pytest.mark.slow]


@pytest.mark.e2e
def test_example_project_builds(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    if not DBT.exists():
        pytest.skip(f"dbt executable not found at {DBT}")

    project = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE_DIR, project)
    home = tmp_path / "home"
    home.mkdir()

    env = dict(os.environ)
    env.pop("DBT_PROFILES_DIR", None)
    env.pop("JAFFLE_SHOP_DUCKDB_PATH", None)
    env["HOME"] = str(home)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"

    result = subprocess.run(
        [str(DBT), "build", "--profiles-dir", "."],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"dbt build failed ({result.returncode})\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )

    db_path = project / "jaffle_shop.duckdb"
    assert db_path.is_file()

    def scalar(con, sql: str):
        rows = con.execute(sql).fetchall()
        assert len(rows) == 1, rows
        return rows[0][0]

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        assert scalar(con, "select count(*) from customers") == 100
        assert scalar(con, "select count(*) from orders") == 99
        order_total = scalar(con, "select sum(amount) from orders")
        payments_cents = scalar(con, "select sum(amount) from raw_payments")
    finally:
        con.close()

    assert Decimal(str(order_total)) == Decimal(payments_cents) / 100
