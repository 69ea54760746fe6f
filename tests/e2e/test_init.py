"""`dbtscaffold init` end to end: real dbt, DuckDB and Dagster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli, run_tool
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PARSE = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"}
GENERATED = {
    ".gitignore",
    ".dbtscaffold/generated.json",
    "README.md",
    "pyproject.toml",
    "jaffle_shop_dagster/__init__.py",
    "jaffle_shop_dagster/assets.py",
    "jaffle_shop_dagster/constants.py",
    "jaffle_shop_dagster/definitions.py",
    "jaffle_shop_dagster/schedules.py",
    "jaffle_shop_dagster/seed_assets.py",
    "jaffle_shop_dagster/_dbtscaffold/__init__.py",
    "jaffle_shop_dagster/_dbtscaffold/load_duckdb.py",  # the example's profile names duckdb
    "jaffle_shop_dagster/_dbtscaffold/load_postgres.py",  # and postgres
    "jaffle_shop_dagster/_dbtscaffold/loaders.py",
    "jaffle_shop_dagster/_dbtscaffold/locks.py",
    "jaffle_shop_dagster/_dbtscaffold/parse.py",
    "jaffle_shop_dagster/_dbtscaffold/preparer.py",
    "tests/test_definitions.py",
    "tests/test_schedules.py",
}


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def duckdb_counts(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(f"select count(*) from main.{t}").fetchall()[0][0]
            for t in ("customers", "orders", "stg_customers", "stg_orders", "stg_payments")
        }
    finally:
        con.close()


def test_init_validate_and_materialize_every_model(initialized):
    """One initialized example (a copy of the session's init): it validates, every dbt model
    (and seed) is an asset of the definitions, and materializing them all builds every table.
    (Was two tests, each with its own init and first dbt parse; test_every_dbt_model_is_an_asset
    is the middle step.)"""
    dbt_dir, dagster_dir = initialized
    assert files(dagster_dir) == GENERATED
    run_tool(
        "dagster",
        "definitions",
        "validate",
        "-m",
        "jaffle_shop_dagster.definitions",
        cwd=dagster_dir,
        env=PARSE,
    )

    # Every dbt model is an asset (the load reuses the manifest the validate parsed).
    code = (
        "from jaffle_shop_dagster.definitions import defs\n"
        "keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())\n"
        "print('\\n'.join(keys))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=dagster_dir,
        env=dict(os.environ, **PARSE),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for model in (
        "customers",
        "orders",
        "stg_customers",
        "stg_orders",
        "stg_payments",
        "raw_customers",
        "raw_orders",
        "raw_payments",
    ):
        assert model in out

    run_tool(
        "dagster",
        "asset",
        "materialize",
        "-m",
        "jaffle_shop_dagster.definitions",
        "--select",
        "*",
        cwd=dagster_dir,
        env=PARSE,
    )
    assert duckdb_counts(dbt_dir / "jaffle_shop.duckdb") == {
        "customers": 100,
        "orders": 99,
        "stg_customers": 100,
        "stg_orders": 99,
        "stg_payments": 113,
    }


def test_generated_project_is_pip_installable(initialized, tmp_path):
    dbt_dir, dagster_dir = initialized
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(dagster_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    installed = target / "jaffle_shop_dagster" / "definitions.py"
    assert installed.is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import jaffle_shop_dagster.definitions as d\n"
        "print(d.__file__)\n"
        "print(len(d.defs.resolve_asset_graph().get_all_asset_keys()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env=dict(os.environ, PYTHONPATH=str(target), **PARSE),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    where, count = proc.stdout.split()
    assert Path(where).resolve() == installed.resolve()
    assert int(count) == 8


def test_load_without_variable_or_manifest_names_both_fixes(initialized):
    dbt_dir, dagster_dir = initialized
    assert not (dbt_dir / "target" / "manifest.json").exists()
    proc = subprocess.run(
        [sys.executable, "-c", "import jaffle_shop_dagster.definitions"],
        cwd=dagster_dir,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD" in last
    assert "dbtscaffold dev" in last
    # With a manifest from `dbt parse`, the same load works without the variable.
    run_tool("dbt", "parse", cwd=dbt_dir)
    subprocess.run(
        [sys.executable, "-c", "import jaffle_shop_dagster.definitions"],
        cwd=dagster_dir,
        check=True,
        capture_output=True,
    )


# profiles.yml only in ~/.dbt (init says so, and the definitions load and dbt parses with it):
# test_tutorial.py's test_no_machine_path_in_generated_files[side-by-side-home], the same
# init (--dbt-project-dir beside the output) and validate with parse on load.


def test_dry_run_shows_files_and_writes_nothing(example_project, tmp_path):
    before = tree_hash(tmp_path)
    proc = run_cli(
        "init", "--dbt-project-dir", example_project, "--output-dir", tmp_path, "--dry-run", check=0
    )
    assert tree_hash(tmp_path) == before
    assert "+++ b/jaffle_shop_dagster/jaffle_shop_dagster/constants.py" in proc.stdout
    assert "+@dbt_assets(manifest=dbt_project.manifest_path" in proc.stdout
    assert "nothing was written" in proc.stderr
    assert "\x1b[" not in proc.stdout + proc.stderr  # plain when piped


def test_force_rewrites_only_generated_files(initialized, tmp_path):
    _, dagster_dir = initialized
    init = ("init", "--dbt-project-dir", tmp_path / "jaffle_shop", "--output-dir", tmp_path)
    (dagster_dir / "notes.txt").write_text("mine\n")
    (dagster_dir / "README.md").unlink()
    rerun = run_cli(*init)
    assert rerun.returncode == 1
    assert "--force" in rerun.stderr
    # Still as generated (or gone): --force writes it again; other files are left alone.
    run_cli(*init, "--force", check=0)
    assert (dagster_dir / "README.md").is_file()
    assert (dagster_dir / "notes.txt").read_text() == "mine\n"
    again = run_cli(*init, "--force", check=0)
    assert "Nothing to do" in again.stderr

    # A generated file the user edited stops --force with one line, and nothing changes.
    assets = dagster_dir / "jaffle_shop_dagster" / "assets.py"
    assets.write_text(assets.read_text() + "# my edit\n")
    before = tree_hash(tmp_path)
    stopped = run_cli(*init, "--force")
    assert stopped.returncode == 1
    [line] = [x for x in stopped.stderr.splitlines() if x.strip()]
    assert "jaffle_shop_dagster/assets.py" in line and "--overwrite" in line
    assert tree_hash(tmp_path) == before
    # --overwrite replaces it, and undo brings the edit back.
    run_cli(*init, "--overwrite", check=0)
    assert "# my edit" not in assets.read_text()
    run_cli("undo", "--dagster-project-dir", dagster_dir, check=0)
    assert assets.read_text().endswith("# my edit\n")


def test_project_scaffold_alias(example_project, tmp_path):
    run_cli(
        "project",
        "scaffold",
        "--project-name",
        "shop",
        "--dbt-project-dir",
        example_project,
        "--output-dir",
        tmp_path,
        check=0,
    )
    assert (tmp_path / "shop" / "shop" / "definitions.py").is_file()
    assert 'module_name = "shop.definitions"' in (tmp_path / "shop" / "pyproject.toml").read_text()


def test_nothing_written_to_home(scaffolded, isolation):
    assert list(isolation.iterdir()) == []


def test_projects_move_together(initialized, tmp_path):
    dbt_dir, dagster_dir = initialized
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(dbt_dir, moved / dbt_dir.name)
    shutil.move(dagster_dir, moved / dagster_dir.name)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from jaffle_shop_dagster import constants as c; print(c.dbt_project.project_dir)",
        ],
        cwd=moved / dagster_dir.name,
        env=dict(os.environ, **PARSE),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == (moved / dbt_dir.name).resolve()


def test_python_m_and_version():
    proc = subprocess.run(
        [sys.executable, "-m", "dbtscaffold", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    from dbtscaffold import __version__

    assert proc.stdout.strip() == f"dbtscaffold {__version__}"


def test_help_imports_no_heavy_modules():
    code = (
        "import sys\n"
        "from dbtscaffold.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('dagster', 'dagster_dbt', 'dbt', 'cookiecutter', 'ruamel', 'jinja2')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="
