"""`init --layout components`: the project `create-dagster` + `dg scaffold defs` would write.

The tutorial's steps, as a new user runs them: inside the bundled example, `dbtscaffold init
--layout components`, `pip install -e .` (a real editable install into a venv that sees this
one's packages, so dg can import the project by name), then dg's own commands: `dg check
defs`, `dg list defs`, `dg launch --assets '*'` with the example's row counts read from
DuckDB; `convert-seed raw_customers` puts its loader in defs/ where dg finds it, `dg launch`
again gives the same counts and column types, and `undo` restores every byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers.cli import BIN, run, run_cli
from tests.helpers.dev import serve_with_dbtscaffold_dev, upstream
from tests.helpers.example import ALL_ASSETS, ROWS, duckdb_counts
from tests.helpers.trees import tree_hash

pytestmark = pytest.mark.e2e

DAGSTER = "jaffle_dagster"
# What a user reads and edits; _dbtscaffold/ (the runtime copy) and .dbtscaffold/ are ours.
USER_FACING = {
    ".gitignore",
    "README.md",
    "pyproject.toml",
    f"src/{DAGSTER}/__init__.py",
    f"src/{DAGSTER}/definitions.py",
    f"src/{DAGSTER}/defs/__init__.py",
    f"src/{DAGSTER}/defs/jaffle_shop/defs.yaml",
    f"src/{DAGSTER}/defs/schedules.py",
    "tests/test_definitions.py",
    "tests/test_schedules.py",
}
# Not part of what undo restores: dbt's and DuckDB's output, dg's state, bytecode.
UNTRACKED = (".dbtscaffold", "target", "logs", "__pycache__", ".local_defs_state", "venv")


def generated_files(project: Path) -> set[str]:
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def components_project(root: Path, *extra: str) -> tuple[Path, Path]:
    run_cli("example", "jaffle_shop", cwd=root, check=0)
    dbt_dir = root / "jaffle_shop"
    run_cli(
        "init", "--layout", "components", "--project-name", DAGSTER, *extra, cwd=dbt_dir, check=0
    )
    return dbt_dir, dbt_dir / DAGSTER


def test_init_components_writes_dgs_layout_under_150_lines(tmp_path):
    _, project = components_project(tmp_path)
    files = generated_files(project)
    runtime = {f for f in files if f.startswith(f"src/{DAGSTER}/_dbtscaffold/")}
    assert files - runtime - {".dbtscaffold/generated.json"} == USER_FACING
    assert f"src/{DAGSTER}/_dbtscaffold/component.py" in runtime
    lines = {f: len((project / f).read_text().splitlines()) for f in sorted(USER_FACING)}
    print(json.dumps(lines, indent=1), sum(lines.values()))
    assert sum(lines.values()) < 150, lines
    defs_yaml = (project / f"src/{DAGSTER}/defs/jaffle_shop/defs.yaml").read_text()
    assert f"type: {DAGSTER}._dbtscaffold.component.DbtProjectComponent" in defs_yaml
    assert 'project: "{{ context.project_root }}/.."' in defs_yaml
    pyproject = (project / "pyproject.toml").read_text()
    assert 'directory_type = "project"' in pyproject and 'layout = "components"' in pyproject
    assert "dagster-dg-cli==" in pyproject
    # No machine path in anything generated.
    for f in files:
        assert str(tmp_path) not in (project / f).read_text(errors="replace"), f


def test_project_scaffold_layout_components_and_its_errors(tmp_path):
    run_cli("example", "jaffle_shop", cwd=tmp_path, check=0)
    dbt_dir = tmp_path / "jaffle_shop"
    before = tree_hash(dbt_dir, ignore=())
    dry = run_cli("init", "--layout", "components", "--dry-run", cwd=dbt_dir, check=0)
    assert "defs.yaml" in dry.stdout
    assert tree_hash(dbt_dir, ignore=()) == before

    bad = run_cli("init", "--layout", "pythonic", cwd=dbt_dir)
    assert bad.returncode == 2 and "`pythonic` is not a layout" in bad.stderr

    run_cli("project", "scaffold", "--layout", "components", "--project-name", DAGSTER,
            cwd=dbt_dir, check=0)  # fmt: skip
    assert (dbt_dir / DAGSTER / "src" / DAGSTER / "defs" / "jaffle_shop" / "defs.yaml").is_file()
    again = run_cli("init", "--layout", "components", "--project-name", DAGSTER, "--force",
                    cwd=dbt_dir, check=0)  # fmt: skip
    assert "Nothing to do" in again.stderr
    # init never turns one layout into the other.
    after = tree_hash(dbt_dir, ignore=())
    other = run_cli("init", "--project-name", DAGSTER, "--force", cwd=dbt_dir)
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert [line for line in other.stderr.splitlines() if line.strip()] == [
        (
            f"error: `{dbt_dir / DAGSTER}` is a components-layout project; pass --layout "
            'components (README.md, "Two layouts", says how to move between them).'
        )
    ]
    assert tree_hash(dbt_dir, ignore=()) == after


# --- the tutorial with dg --------------------------------------------------------------


def editable_venv(project: Path | None, where: Path) -> Path:
    """A venv that sees this one's packages, with PROJECT (if any) installed editable: its bin/.

    `pip install -e .` as the generated README says, without an index: the venv reads this
    environment's site-packages through a .pth file.
    """
    import sysconfig

    venv = where / "venv"
    subprocess.run([BIN / "python", "-m", "venv", "--without-pip", venv], check=True)
    site = Path(subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())  # fmt: skip
    (site / "parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if project is None:
        return venv / "bin"
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
         "--no-build-isolation", "--no-index", "-e", project],
        check=True, capture_output=True,
    )  # fmt: skip
    return venv / "bin"


def dg(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # The venv's python runs dg (the venv sees this environment's dagster-dg-cli).
    proc = subprocess.run(
        [bin_dir / "python", "-c", "from dagster_dg_cli.cli import main; main()", *args],
        cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
        env=dict(
            os.environ,
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            VIRTUAL_ENV=str(bin_dir.parent),
        ),
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"dg {' '.join(args)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def listed(bin_dir: Path, project: Path) -> tuple[dict[str, dict], list[dict]]:
    """`dg list defs --json`, once: {asset key: asset} and the asset checks."""
    out = dg(bin_dir, "list", "defs", "--json", cwd=project).stdout
    defs = json.loads(out[out.index("{") :])
    return {a["asset_key"]: a for a in defs["assets"]}, defs["asset_checks"]


def source_tree(dbt_dir: Path) -> dict[str, str]:
    """The dbt and Dagster projects' files, without what dbt, DuckDB, dg and pip write."""
    files = tree_hash(dbt_dir, ignore=UNTRACKED)
    return {f: h for f, h in files.items() if ".duckdb" not in f and ".egg-info" not in f}


def column_types(db: Path, table: str) -> list[tuple[str, str]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = "select column_name, data_type from information_schema.columns where table_name = ?"
        return con.execute(sql + " order by ordinal_position", [table]).fetchall()
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.venv
def test_tutorial_with_dg_then_convert_seed_then_undo(tmp_path):
    dbt_dir, project = components_project(tmp_path)
    bin_dir = editable_venv(project, tmp_path)
    db = dbt_dir / "jaffle_shop.duckdb"

    assert "All definitions loaded successfully" in dg(bin_dir, "check", "defs", cwd=project).stdout
    assets, _ = listed(bin_dir, project)
    assert set(assets) == ALL_ASSETS
    assert all("dbt" in a["kinds"] for a in assets.values())
    dg(bin_dir, "launch", "--assets", "*", cwd=project)
    # dbt ran in the dbt project itself: the database is there, and outlives the next command.
    assert duckdb_counts(db) == ROWS
    types = column_types(db, "raw_customers")
    assert types == [("id", "INTEGER"), ("first_name", "VARCHAR"), ("last_name", "VARCHAR")]

    before = source_tree(dbt_dir)
    run_cli("convert-seed", "raw_customers", cwd=project, check=0)
    loader = project / "src" / DAGSTER / "defs" / "seed_assets.py"
    assert loader.is_file() and (project / "data" / "raw_customers.csv").is_file()
    assets, checks = listed(bin_dir, project)  # one `dg list defs` for the assets and checks
    assert set(assets) == ALL_ASSETS
    assert "dbt" not in assets["raw_customers"]["kinds"]  # a Python asset now, upstream:
    assert assets["stg_customers"]["dependency_keys"] == ["raw_customers"]
    assert {c["name"] for c in checks if c["asset_key"] == "raw_customers"} == {
        "source_unique_jaffle_shop_raw_customers_id",
        "source_not_null_jaffle_shop_raw_customers_id",
    }  # the seed's tests, still asset checks

    db.unlink()  # every table below is built by this launch
    dg(bin_dir, "launch", "--assets", "*", cwd=project)
    assert duckdb_counts(db) == ROWS
    assert column_types(db, "raw_customers") == types

    run_cli("undo", cwd=project, check=0)
    assert source_tree(dbt_dir) == before


# --- dbtscaffold dev, materialize and check on the components layout ----------------------


@pytest.mark.slow
@pytest.mark.dev_server
@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
def test_dev_runs_dg_dev_and_stops_with_nothing_left(tmp_path):
    _, project = components_project(tmp_path)
    run_cli("convert-seed", "raw_customers", cwd=project, check=0)
    # Not installed: `dbtscaffold dev` puts src/ on the code server's path itself.
    nodes = serve_with_dbtscaffold_dev(project, tmp_path)
    assert set(nodes) == ALL_ASSETS
    assert upstream(nodes["stg_customers"]) == {"raw_customers"}
    assert nodes["raw_customers"]["opNames"] == ["raw_customers"]  # the loader, not dbt


def check_json(project: Path) -> dict:
    proc = run_cli("--no-color", "check", "--json", cwd=project)
    assert proc.returncode in (0, 1), proc.stderr
    return {c["id"]: c for c in json.loads(proc.stdout)["checks"]} | {
        "status": json.loads(proc.stdout)["status"]
    }


@pytest.mark.slow
def test_materialize_and_check_json_in_both_layouts(tmp_path):
    for layout in ("python", "components"):
        root = tmp_path / layout
        root.mkdir()
        run_cli("example", "jaffle_shop", cwd=root, check=0)
        dbt_dir = root / "jaffle_shop"
        run_cli("init", "--layout", layout, "--project-name", DAGSTER, cwd=dbt_dir, check=0)
        project = dbt_dir / DAGSTER
        first = check_json(project)
        assert first["status"] == "fail" and first["manifest"]["status"] == "fail"  # no parse yet
        run_cli("convert-seed", "raw_customers", cwd=project, check=0)
        run_cli("materialize", cwd=project, check=0)
        assert duckdb_counts(dbt_dir / "jaffle_shop.duckdb") == ROWS, layout
        checks = check_json(project)
        # Remarks only: the seeds hint (which leaves the status ok), dbt on PATH (a warning).
        assert checks["status"] in ("ok", "warn"), (layout, checks)
        assert {c["status"] for c in checks.values() if isinstance(c, dict)} <= {
            "ok",
            "hint",
            "warn",
            "skip",
        }
        for name in ("projects", "manifest", "asset_keys", "runtime_copy", "definitions"):
            assert checks[name]["status"] == "ok", (layout, checks[name])
        assert "8 assets" in checks["definitions"]["message"], checks["definitions"]
        assert "1 Python asset," in checks["asset_keys"]["message"], checks["asset_keys"]


# --- package: a wheel that runs where the source dbt project does not exist ---------------


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return sorted(n for n in z.namelist() if ".dist-info/" not in n)


def wheel_venv(wheel: Path, where: Path) -> Path:
    """A venv that sees this one's packages, with WHEEL installed (not editable): its bin/."""
    bin_dir = editable_venv(None, where)
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel],
        check=True, capture_output=True,
    )  # fmt: skip
    return bin_dir


@pytest.mark.slow
@pytest.mark.venv
def test_package_builds_a_wheel_that_loads_and_materializes_without_the_source(tmp_path):
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    _, project = components_project(laptop)
    run_cli("convert-seed", "raw_customers", cwd=project, check=0)
    first = run_cli("package", cwd=project, check=0)
    assert "Built dist/jaffle_dagster-0.1.0-py3-none-any.whl" in first.stderr, first.stderr
    assert "JAFFLE_SHOP_DUCKDB_PATH" in first.stderr
    [wheel] = (project / "dist").glob("*.whl")
    names = wheel_names(wheel)
    state = f"{DAGSTER}/defs/.local_defs_state/DbtProjectComponent__..__/"
    for name in ("dg.toml", "data/raw_customers.csv", "defs/jaffle_shop/defs.yaml"):
        assert f"{DAGSTER}/{name}" in names, name
    for name in ("state", "project/dbt_project.yml", "project/profiles.yml"):
        assert state + name in names, name
    packed = [n[len(state) + len("project/") :] for n in names if n.startswith(state + "project/")]
    assert "target/manifest.json" in packed and "seeds/raw_orders.csv" in packed
    for part in packed:  # nor dbt's output, DuckDB files, the Dagster project nested in it
        assert not part.startswith(("target/", "logs/", f"{DAGSTER}/")) or part.endswith(
            "target/manifest.json"
        ), part
        assert not part.endswith(".duckdb"), part

    # Twice: nothing of the project changes, the same wheel.
    ignore = (".dbtscaffold", "dist", "__pycache__")
    tree = tree_hash(project, ignore)
    second = run_cli("package", cwd=project, check=0)
    assert "is up to date" in second.stderr, second.stderr
    assert "create " not in second.stdout + second.stderr
    assert "update " not in second.stdout + second.stderr
    assert tree_hash(project, ignore) == tree
    assert wheel_names(wheel) == names

    server = tmp_path / "server"
    server.mkdir()
    shutil.copy2(wheel, server / wheel.name)
    laptop.rename(tmp_path / "laptop-gone")  # the source dbt project no longer exists
    bin_dir = wheel_venv(server / wheel.name, server)
    [site] = (server / "venv").glob(f"lib/python*/site-packages/{DAGSTER}")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"}
    env.update(
        PATH=os.pathsep.join([str(bin_dir), str(BIN), os.environ["PATH"]]),
        DAGSTER_HOME=str(server),
        JAFFLE_SHOP_DUCKDB_PATH=str(server / "jaffle_shop.duckdb"),
        DBT_TARGET_PATH=str(server / "dbt-target"),
    )
    dagster = [bin_dir / "python", "-m", "dagster"]
    module = ["-m", f"{DAGSTER}.definitions"]
    before = tree_hash(site, ignore=("__pycache__",))
    run([*dagster, "definitions", "validate", *module], cwd=server, env=env)
    # Loading parsed nothing: no dbt run wrote into the installed package.
    assert tree_hash(site, ignore=("__pycache__",)) == before
    started = time.monotonic()
    run([*dagster, "asset", "materialize", *module, "--select", "*"], cwd=server, env=env)
    print(f"materialize from the wheel: {time.monotonic() - started:.1f} s")
    assert duckdb_counts(server / "jaffle_shop.duckdb") == ROWS
    assert tree_hash(site, ignore=("__pycache__",)) == before


def test_package_without_the_package_data_says_what_to_add_in_one_line(tmp_path):
    dbt_dir, project = components_project(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"dg.toml", ', ""))
    before = tree_hash(dbt_dir, ignore=())
    proc = run_cli("package", cwd=project)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        (
            f"error: `[tool.setuptools.package-data]` in `{pyproject}` does not declare what "
            'the wheel needs; add "dg.toml" to its `"*"` list and retry.'
        )
    ]
    assert tree_hash(dbt_dir, ignore=()) == before
