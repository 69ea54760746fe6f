"""Dagster's own tools on a generated project (issue 22).

The steps Dagster's deployment guides run, with nothing of dbtscaffold in them:
`dagster-dbt project prepare-and-package --file <pkg>/constants.py`, then `pip wheel --no-deps .`;
the wheel, installed where the source dbt project no longer exists, loads without parse on load
and materializes the example. And the generated package imports its own modules relatively, so
its definitions import from the folder above the project too.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers.cli import BIN, run_cli, run_tool
from tests.helpers.example import ROWS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.venv]

PACKAGE = "jaffle_dagster"


def tutorial_layout(root: Path) -> Path:
    """`dbtscaffold example` + `init` nested in it, as the tutorial does; the Dagster project."""
    run_cli("example", "jaffle_shop", cwd=root, check=0)
    run_cli("init", "--project-name", PACKAGE, cwd=root / "jaffle_shop", check=0)
    return root / "jaffle_shop" / PACKAGE


def duckdb_counts(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            name: con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    finally:
        con.close()


def test_prepare_and_package_then_pip_wheel_runs_without_the_source(tmp_path):
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    project = tutorial_layout(laptop)
    (project.parent / "jaffle_shop.duckdb").write_bytes(b"a warehouse, never package data")
    # As Dagster's deployment guides run it, from the project folder; the file is loaded on
    # its own (no package around it), so it must import nothing but dagster-dbt.
    prepared = run_tool(
        "dagster-dbt",
        "project",
        "prepare-and-package",
        "--file",
        f"{PACKAGE}/constants.py",
        cwd=project,
    )
    assert "Sync complete" in prepared.stdout, prepared.stdout
    pip_wheel = ("-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "dist")
    run_tool("python", *pip_wheel, ".", cwd=project)
    [wheel] = (project / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert f"{PACKAGE}/dbt_project/dbt_project.yml" in names
    assert f"{PACKAGE}/dbt_project/target/manifest.json" in names
    assert f"{PACKAGE}/dbt_project/models/staging/stg_orders.sql" in names
    copy = f"{PACKAGE}/dbt_project/"
    packed = [n[len(copy) :] for n in names if n.startswith(copy)]
    # Neither the nested Dagster project, nor what dbt and DuckDB write.
    assert not [n for n in packed if n.startswith((f"{PACKAGE}/", "logs/")) or ".duckdb" in n]

    server = tmp_path / "server"
    server.mkdir()
    wheel = Path(wheel.replace(server / wheel.name))
    laptop.rename(tmp_path / "laptop-gone")  # the source dbt project no longer exists
    site = server / "site"
    install = ("-m", "pip", "install", "-q", "--no-deps", "--target", site)
    run_tool("python", *install, wheel, cwd=server)
    env = {
        "PYTHONPATH": str(site),
        "JAFFLE_SHOP_DUCKDB_PATH": str(server / "jaffle_shop.duckdb"),
        "DBT_TARGET_PATH": str(server / "dbt-target"),
        "PATH": f"{BIN}:/usr/bin:/bin",
    }
    probe = (
        f"import json, {PACKAGE}.constants as c; print(json.dumps(str(c.dbt_project.project_dir)))"
    )
    shown = json.loads(run_tool("python", "-c", probe, cwd=server, env=env).stdout)
    assert Path(shown) == site / PACKAGE / "dbt_project"
    module = ["-m", f"{PACKAGE}.definitions"]
    run_tool("dagster", "definitions", "validate", *module, cwd=server, env=env)
    run_tool("dagster", "asset", "materialize", *module, "--select", "*", cwd=server, env=env)
    assert duckdb_counts(server / "jaffle_shop.duckdb") == ROWS


def test_definitions_import_from_the_folder_above_the_project(tmp_path):
    project = tutorial_layout(tmp_path)
    # Not installed: the folder above is on sys.path, the project folder a namespace package.
    code = (
        f"import {PACKAGE}.{PACKAGE}.definitions as d; "
        "print(len(d.defs.resolve_asset_graph().materializable_asset_keys))"
    )
    parse = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"}
    done = run_tool("python", "-c", code, cwd=project.parent, env=parse)
    assert int(done.stdout.strip().splitlines()[-1]) >= len(ROWS)


# --- `project scaffold`: every option of `dagster-dbt project scaffold` ----------------------


def test_project_scaffold_takes_the_anchor_options(example_project, tmp_path):
    # dagster-dbt 0.29's options: --project-name, --dbt-project-dir, --ignore-package-conflict,
    # --use-experimental-dbt-state; and --use-dbt-project-package-data-dir of older releases.
    run_cli(
        "project", "scaffold", "--project-name", "shop", "--dbt-project-dir", example_project,
        "--ignore-package-conflict", "--use-experimental-dbt-state",
        "--use-dbt-project-package-data-dir", cwd=tmp_path, check=0,
    )  # fmt: skip
    package = tmp_path / "shop" / "shop"
    assert 'state_path=Path("target", "state"),' in (package / "constants.py").read_text()
    assert '"build", *dbt.get_defer_args()' in (package / "assets.py").read_text()
    parse = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"}
    run_tool("dagster", "definitions", "validate", "-m", "shop.definitions",
             cwd=tmp_path / "shop", env=parse)  # fmt: skip


@pytest.mark.parametrize("name", ["dagster_dbt", "json"])
def test_project_scaffold_refuses_a_shadowing_name_unless_told(example_project, tmp_path, name):
    args = ("project", "scaffold", "--project-name", name, "--dbt-project-dir", example_project)
    refused = run_cli(*args, cwd=tmp_path, check=1)
    assert refused.stderr.strip().splitlines() == [
        f"error: Project name `{name}` would shadow "
        + ("a package the project depends on" if name == "dagster_dbt" else
           "the standard-library module of the same name")
        + "; choose another with --project-name, or pass --ignore-package-conflict to use it "
        "anyway."
    ]  # fmt: skip
    assert list(tmp_path.iterdir()) == [example_project]
    allowed = run_cli(*args, "--ignore-package-conflict", cwd=tmp_path, check=0)
    assert "(allowed by --ignore-package-conflict)" in allowed.stderr
    assert (tmp_path / name / name / "definitions.py").is_file()
