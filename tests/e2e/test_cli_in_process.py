"""The CLI in this process (Typer's CliRunner): the fast, error-path and dry-run cases.

These drive the same commands the subprocess tests drive through the installed script, in
addition to them (never instead): a usage error, a user error, a dry run, a no-op and
`check --no-load`, each with its exact output and exit code, and with nothing on disk
changed. They take well under a second each, so they belong to the quick `-m "not slow"` run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import EXAMPLE, invoke
from tests.helpers.trees import tree_hash

pytestmark = pytest.mark.e2e

SEEDS = "`raw_customers`, `raw_orders`, `raw_payments`"


@pytest.fixture(scope="module")
def initialized(tmp_path_factory) -> Path:
    """The example and the Dagster project init made for it (in process): copy, never edit."""
    root = tmp_path_factory.mktemp("in_process")
    shutil.copytree(EXAMPLE, root / "jaffle_shop")
    done = invoke("init", "--dbt-project-dir", root / "jaffle_shop", "--output-dir", root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def projects(initialized, tmp_path) -> tuple[Path, Path]:
    """(dbt project, Dagster project): a fresh copy of `initialized`."""
    for name in ("jaffle_shop", "jaffle_shop_dagster"):
        shutil.copytree(initialized / name, tmp_path / name, symlinks=True)
    return tmp_path / "jaffle_shop", tmp_path / "jaffle_shop_dagster"


def _one_error(done, line: str) -> None:
    assert done.exception is None, done.exception
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: {line}\n"


def test_version_and_help():
    from dbtscaffold import __version__

    done = invoke("--version")
    assert (done.returncode, done.stdout) == (0, f"dbtscaffold {__version__}\n")
    done = invoke("--help")
    assert done.returncode == 0
    for command in ("init", "convert-seed", "undo", "dev", "materialize", "check", "package"):
        assert f" {command} " in done.stdout, done.stdout


@pytest.mark.parametrize(
    "argv",
    [["init", "--no-such-flag"], ["convert-seed"], ["dev", "--port", "abc"], ["nope"]],
    ids=["unknown-flag", "missing-argument", "wrong-type", "unknown-command"],
)
def test_usage_errors_exit_2_and_change_nothing(argv, tmp_path):
    before = tree_hash(tmp_path, ignore=())
    done = invoke(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("usage: dbtscaffold"), lines
    assert "Traceback" not in done.stderr
    assert tree_hash(tmp_path, ignore=()) == before


def test_init_dry_run_lists_the_files_and_writes_nothing(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "jaffle_shop")
    before = tree_hash(tmp_path, ignore=())
    done = invoke("init", "--dbt-project-dir", "jaffle_shop", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert tree_hash(tmp_path, ignore=()) == before
    for name in ("pyproject.toml", "constants.py", "assets.py", "definitions.py"):
        assert name in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--project-name", "class"], "`class` is a Python keyword"),
        (["--project-name", "json"], "`json` would shadow the standard-library"),
        (["--dbt-project-dir", "nope"], "does not exist"),
    ],
    ids=["keyword", "shadows-stdlib", "no-dbt-dir"],
)
def test_init_user_errors_are_one_line(tmp_path, args, line):
    shutil.copytree(EXAMPLE, tmp_path / "jaffle_shop")
    before = tree_hash(tmp_path, ignore=())
    done = invoke("init", "--dbt-project-dir", "jaffle_shop", *args, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert line in done.stderr
    assert tree_hash(tmp_path, ignore=()) == before


def test_convert_seed_dry_run_shows_the_diff_and_writes_nothing(projects, tmp_path):
    dbt_dir, _ = projects
    before = tree_hash(tmp_path, ignore=())
    done = invoke("convert-seed", "raw_customers", "--dry-run", cwd=dbt_dir)
    assert done.returncode == 0, done.stderr
    assert tree_hash(tmp_path, ignore=()) == before
    assert "+    select * from {{ source('jaffle_shop', 'raw_customers') }}" in done.stdout
    assert "rename to jaffle_shop_dagster/data/raw_customers.csv" in done.stdout
    assert "Dry run: nothing was written." in done.stderr


def test_convert_seed_unknown_seed_is_one_line(projects, tmp_path):
    dbt_dir, _ = projects
    before = tree_hash(tmp_path, ignore=())
    done = invoke("convert-seed", "raw_custmers", cwd=dbt_dir)
    _one_error(
        done,
        f"Seed `raw_custmers` not found in `seeds/` (seeds there: {SEEDS}). "
        "Did you mean `raw_customers`?",
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_convert_seed_then_again_then_undo(projects, tmp_path):
    dbt_dir, dagster_dir = projects
    before = tree_hash(tmp_path)
    done = invoke("convert-seed", "raw_orders", cwd=dbt_dir)
    assert done.returncode == 0, done.stderr
    assert (dagster_dir / "data" / "raw_orders.csv").is_file()
    converted = tree_hash(tmp_path, ignore=())
    again = invoke("convert-seed", "raw_orders", cwd=dbt_dir)
    assert (again.returncode, again.stderr.strip()) == (
        0,
        "Nothing to do: `raw_orders` already converted.",
    )
    assert tree_hash(tmp_path, ignore=()) == converted
    undone = invoke("undo", cwd=dagster_dir)
    assert undone.returncode == 0, undone.stderr
    assert tree_hash(tmp_path) == before


def test_undo_with_nothing_to_undo(projects, tmp_path):
    _, dagster_dir = projects
    before = tree_hash(tmp_path, ignore=(), skip_lock=True)  # undo takes the lock: its file stays
    for argv in (["undo", "--dry-run"], ["undo"]):
        done = invoke(*argv, cwd=dagster_dir)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "Nothing to undo.\n")
    assert tree_hash(tmp_path, ignore=(), skip_lock=True) == before


def test_check_no_load_before_the_first_parse_fails_on_the_manifest_only(projects, tmp_path):
    # A project init just made has no manifest, and parse on load is off: the one failure.
    import json

    _, dagster_dir = projects
    before = tree_hash(tmp_path, ignore=())
    done = invoke("check", "--no-load", "--json", cwd=dagster_dir)
    report = json.loads(done.stdout)
    assert (done.returncode, report["status"]) == (1, "fail"), done.stdout
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert [i for i, s in statuses.items() if s == "fail"] == ["manifest"], statuses
    assert statuses["definitions"] == "skip"
    [manifest] = [c for c in report["checks"] if c["id"] == "manifest"]
    assert manifest["message"].startswith("no ../jaffle_shop/target/manifest.json"), manifest
    assert tree_hash(tmp_path, ignore=()) == before


def test_materialize_with_a_dagster_home_that_does_not_exist_is_one_line(
    projects, tmp_path, monkeypatch
):
    _, dagster = projects
    missing = tmp_path / "no-such-home"
    monkeypatch.setenv("DAGSTER_HOME", str(missing))
    before = tree_hash(tmp_path)
    done = invoke("materialize", cwd=dagster)
    _one_error(
        done,
        f"DAGSTER_HOME `{missing}` is not a folder; create it (Dagster keeps runs there) or "
        "unset it to use the project's .dagster_home.",
    )
    assert tree_hash(tmp_path) == before and not missing.exists()
