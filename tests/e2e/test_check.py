"""`dbtscaffold check` on the tutorial's layout, healthy and broken for real, writing nothing.

One project for the module: the example, `cd jaffle_shop && dbtscaffold init --project-name
jaffle_dagster`, and one load with parse on load so the manifest is current. Each failure
test breaks it for real (a file edited or removed, a variable set), runs the CLI, checks
that the right check fails with a fix that says what to do and that no byte under the
test's folders changed, and puts the project back. `check --no-load` runs in this process
(Typer's CliRunner); a check that loads the definitions runs the installed CLI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.helpers.cli import BIN, invoke_ok, run_cli, run_tool
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "check.schema.json").read_text(encoding="utf-8"))
DAGSTER = "jaffle_dagster"
IDS = [
    "projects",
    "profiles",
    "target",
    "env_vars",
    "adapters",
    "dbt_executable",
    "parse_on_load",
    "manifest",
    "asset_keys",
    "seeds",
    "runtime_copy",
    "fast_loaders",
    "deploy",
    "definitions",
]
BOX = set("─│┌┐└┘├┤┬┴┼━┃┏┓┗┛╭╮╯╰")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Iterator[tuple[Path, Path, Path]]:
    """(root, dbt project, Dagster project inside it), with a current manifest."""
    root = tmp_path_factory.mktemp("check")
    with pytest.MonkeyPatch.context() as mp:
        # The environment of the `isolation` fixture (function-scoped, so not usable here):
        # the fingerprint covers DBT_* variables, so the parse must see the same ones.
        mp.setenv("HOME", str(tmp_path_factory.mktemp("fixture_home")))
        mp.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("fixture_dagster_home")))
        for name in ("DBT_PROFILES_DIR", "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD", "DBT_TARGET"):
            mp.delenv(name, raising=False)
        mp.delenv("JAFFLE_SHOP_DUCKDB_PATH", raising=False)
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        mp.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
        mp.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        run_cli("example", "jaffle_shop", cwd=root, check=0)
        dbt_dir = root / "jaffle_shop"
        run_cli("init", "--project-name", DAGSTER, cwd=dbt_dir, check=0)
        dagster_dir = dbt_dir / DAGSTER
        run_tool(
            "dagster",
            "definitions",
            "validate",
            "-m",
            f"{DAGSTER}.definitions",
            cwd=dagster_dir,
            env={"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        )
    assert (dbt_dir / "target" / "dbtscaffold_fingerprint.json").is_file()
    yield root, dbt_dir, dagster_dir


@pytest.fixture(autouse=True)
def no_dbt_target(monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)


@contextlib.contextmanager
def changed(path: Path, text: str | None = None, append: str | None = None) -> Iterator[None]:
    """PATH rewritten to TEXT (or with APPEND added, or removed when both are None), then restored."""
    original = path.read_bytes()
    try:
        if text is None and append is None:
            path.unlink()
        else:
            new = text if text is not None else original.decode("utf-8") + append
            path.write_text(new, encoding="utf-8")
        yield
    finally:
        path.write_bytes(original)


@contextlib.contextmanager
def created(folder: Path, files: dict[str, str]) -> Iterator[None]:
    """FILES (name: text) written into the new FOLDER, which is removed afterwards."""
    assert not folder.exists()
    folder.mkdir()
    try:
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        yield
    finally:
        shutil.rmtree(folder)


def check(*args, cwd: Path, root: Path, home: Path, env=None, expect: int) -> dict | str:
    """Run `dbtscaffold check ARGS` in CWD (ENV added to ours); assert EXPECT and that
    nothing was written. `--no-load` runs in this process, the rest through the installed CLI.

    Returns the parsed JSON (with --json) or stdout.
    """
    homes = [home, Path(os.environ["DAGSTER_HOME"])]
    before = [tree_hash(p, ignore=()) for p in (root, *homes)]
    if "--no-load" in args:
        # In this process (Typer's CliRunner): the same checks without a Python start-up.
        # The checks that load the definitions run through the installed script.
        proc = invoke_ok("check", *args, cwd=cwd, env=env)
    else:
        proc = run_cli("check", *args, cwd=cwd, env=env)
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr
    after = [tree_hash(p, ignore=()) for p in (root, *homes)]
    assert after[0] == before[0], "check wrote into the projects"
    assert after[1:] == before[1:], "check wrote into HOME or DAGSTER_HOME"
    if "--json" not in args:
        return proc.stdout
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    assert [c["id"] for c in report["checks"]] == IDS
    assert report["status"] == ("fail" if expect == 1 else report["status"])
    return report


def by_id(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


def failing(report: dict) -> set[str]:
    return {c["id"] for c in report["checks"] if c["status"] == "fail"}


# --- healthy ----------------------------------------------------------------------------


def test_healthy_example_passes_every_check(project, isolation):
    root, dbt_dir, dagster_dir = project
    report = check("--json", cwd=dagster_dir, root=root, home=isolation, expect=0)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    # The one remark is the hint that the three seeds could become Dagster assets, and a
    # hint leaves the whole report ok.
    assert statuses == {i: ("hint" if i == "seeds" else "ok") for i in IDS}, report
    assert report["status"] == "ok"
    checks = by_id(report)
    assert report["dagster_project_dir"] == str(dagster_dir.resolve())
    assert report["dbt_project_dir"] == str(dbt_dir.resolve())
    assert (
        "dbtscaffold convert-seed raw_customers raw_orders raw_payments" in checks["seeds"]["fix"]
    )
    assert "is current" in checks["manifest"]["message"]
    assert "8 assets, 29 asset checks" in checks["definitions"]["message"]
    assert all(c["fix"] == "" for c in report["checks"] if c["status"] == "ok")
    assert checks["definitions"]["seconds"] > 0


@pytest.mark.parametrize("where", [".", "models/staging"])
def test_no_load_from_the_dbt_project_prints_plain_rows(project, isolation, where):
    root, dbt_dir, _ = project
    out = check("--no-load", cwd=dbt_dir / where, root=root, home=isolation, expect=0)
    assert not BOX & set(out), out
    rows = {line.split()[1]: line.split()[0] for line in out.splitlines() if line[:1].strip()}
    assert list(rows) == IDS
    assert rows["definitions"] == "skip"
    assert rows["projects"] == "ok"
    assert "fix: `dbtscaffold convert-seed raw_customers" in out


def test_projects_named_by_options_from_elsewhere(project, isolation, tmp_path):
    root, dbt_dir, dagster_dir = project
    named = check(
        "--json",
        "--no-load",
        "--dagster-project-dir",
        dagster_dir,
        "--dbt-project-dir",
        dbt_dir,
        cwd=tmp_path,
        root=root,
        home=isolation,
        expect=0,
    )
    assert by_id(named)["projects"]["status"] == "ok"
    other = tmp_path / "other"
    shutil.copytree(dbt_dir, other, ignore=shutil.ignore_patterns(DAGSTER, "target"))
    wrong = check(
        "--json",
        "--no-load",
        "--dagster-project-dir",
        dagster_dir,
        "--dbt-project-dir",
        other,
        cwd=tmp_path,
        root=root,
        home=isolation,
        expect=1,
    )
    assert failing(wrong) == {"projects"}
    assert "orchestrates" in by_id(wrong)["projects"]["message"]
    assert "--dbt-project-dir" in by_id(wrong)["projects"]["fix"]


# --- broken, one way at a time ----------------------------------------------------------


def test_missing_profiles_yml(project, isolation):
    root, dbt_dir, dagster_dir = project
    with changed(dbt_dir / "profiles.yml"):
        report = check("--json", "--no-load", cwd=dagster_dir, root=root, home=isolation, expect=1)
    checks = by_id(report)
    assert checks["profiles"]["status"] == "fail"
    assert "No profiles.yml found" in checks["profiles"]["message"]
    assert "create profiles.yml" in checks["profiles"]["fix"]
    assert "DBT_PROFILES_DIR" in checks["profiles"]["fix"]
    assert checks["target"]["status"] == "skip"


def test_unknown_target(project, isolation):
    root, _, dagster_dir = project
    report = check(
        "--json",
        "--no-load",
        cwd=dagster_dir,
        root=root,
        home=isolation,
        env={"DBT_TARGET": "prod"},
        expect=1,
    )
    target = by_id(report)["target"]
    assert target["status"] == "fail"
    assert "`prod` (DBT_TARGET=prod) is not in profile `jaffle_shop`" in target["message"]
    assert target["fix"] == "set DBT_TARGET to one of `dev`, `postgres`, or unset it"


PROD_TARGET = """\
    prod:
      type: postgres
      host: db.example.com
      port: 5432
      user: loader
      password: "{{ env_var('JAFFLE_SHOP_PROD_PASSWORD') }}"
      dbname: jaffle_shop
      schema: analytics
      threads: 4
"""


def test_unset_env_var_without_default_in_a_target_not_in_use(project, isolation):
    root, dbt_dir, dagster_dir = project
    with changed(dbt_dir / "profiles.yml", append=PROD_TARGET):
        report = check("--json", "--no-load", cwd=dagster_dir, root=root, home=isolation, expect=1)
    checks = by_id(report)
    env_vars = checks["env_vars"]
    assert env_vars["status"] == "fail"
    assert "`JAFFLE_SHOP_PROD_PASSWORD` (target `prod`: password)" in env_vars["message"]
    assert "dbt-core#4947" in env_vars["message"]
    assert env_vars["fix"].startswith("export JAFFLE_SHOP_PROD_PASSWORD=")
    assert checks["target"]["status"] == "ok"  # the target in use is still `dev`
    # profiles.yml is something dbt reads: the manifest no longer matches it.
    assert "profiles.yml changed" in checks["manifest"]["message"]


SNOWFLAKE_TARGET = """\
    snow:
      type: snowflake
      account: xy12345
      user: loader
      password: secret
      database: jaffle_shop
      warehouse: transforming
      schema: analytics
      threads: 4
"""


def test_missing_adapter(project, isolation):
    root, dbt_dir, dagster_dir = project
    with changed(dbt_dir / "profiles.yml", append=SNOWFLAKE_TARGET):
        unused = check("--json", "--no-load", cwd=dagster_dir, root=root, home=isolation, expect=1)
        used = check(
            "--json",
            "--no-load",
            cwd=dagster_dir,
            root=root,
            home=isolation,
            env={"DBT_TARGET": "snow"},
            expect=1,
        )
    # Not in use: a warning (the project's dependencies name it; dbt loads only the target's).
    assert by_id(unused)["adapters"]["status"] == "warn"
    assert "dbt-snowflake (target `snow`)" in by_id(unused)["adapters"]["message"]
    adapters = by_id(used)["adapters"]
    assert adapters["status"] == "fail"
    assert "dbt-snowflake is not installed" in adapters["message"]
    assert "pip install dbt-snowflake" in adapters["fix"]


def test_stale_manifest_after_a_model_edit(project, isolation):
    root, dbt_dir, dagster_dir = project
    model = dbt_dir / "models" / "staging" / "stg_orders.sql"
    with changed(model, append="\n-- a comment is an edit too\n"):
        report = check("--json", cwd=dagster_dir, root=root, home=isolation, expect=1)
        on = check(
            "--json",
            cwd=dbt_dir,
            root=root,
            home=isolation,
            env={"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"},
            expect=0,
        )
    assert failing(report) == {"manifest"}
    manifest = by_id(report)["manifest"]
    assert "stale" in manifest["message"]
    assert "models/staging/stg_orders.sql changed" in manifest["message"]
    assert "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 dagster definitions validate" in manifest["fix"]
    # Loading would parse (and write target/): the load is skipped and says why.
    definitions = by_id(report)["definitions"]
    assert definitions["status"] == "skip"
    assert "manifest is stale" in definitions["message"]
    # With parse on load on, the next load parses: a warning, not a failure.
    assert by_id(on)["manifest"]["status"] == "warn"
    assert "the next load parses" in by_id(on)["manifest"]["message"]
    assert by_id(on)["definitions"]["status"] == "skip"


HAND_LOADER = '''

from dagster import asset


@asset(key=["raw_customers"])
def raw_customers_by_hand():
    """A loader written while raw_customers is still a dbt seed."""
'''


def test_duplicate_asset_key(project, isolation):
    root, _, dagster_dir = project
    with changed(dagster_dir / DAGSTER / "seed_assets.py", append=HAND_LOADER):
        report = check("--json", "--no-load", cwd=dagster_dir, root=root, home=isolation, expect=1)
    assert failing(report) == {"asset_keys"}
    keys = by_id(report)["asset_keys"]
    assert "`raw_customers`: dbt seed `raw_customers` (seeds/raw_customers.csv)" in keys["message"]
    assert f"{DAGSTER}/seed_assets.py:raw_customers_by_hand" in keys["message"]
    assert "dbtscaffold convert-seed raw_customers" in keys["fix"]


def test_definitions_that_raise(project, isolation):
    root, _, dagster_dir = project
    definitions = dagster_dir / DAGSTER / "definitions.py"
    boom = '\nraise RuntimeError("the warehouse password is not configured")\n'
    with changed(definitions, append=boom):
        lines = definitions.read_text(encoding="utf-8").splitlines()
        out = check(cwd=dagster_dir, root=root, home=isolation, expect=1)
    at = f"{DAGSTER}/definitions.py:{lines.index(boom.strip()) + 1}"
    rows = out.splitlines()
    line = next(ln for ln in rows if ln.startswith("fail "))
    assert line.split()[1] == "definitions", out
    assert "RuntimeError: the warehouse password is not configured" in line
    assert f"at {at}" in line
    fix = rows[rows.index(line) + 1]
    assert fix.strip().startswith(f"fix: fix the error at {at}, then rerun")


def test_runtime_copy_of_another_version_warns(project, isolation):
    # As an older dbtscaffold's init wrote it: another __version__, and the record of that init.
    root, dbt_dir, dagster_dir = project
    init = dagster_dir / DAGSTER / "_dbtscaffold" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    old = "\n".join(
        '__version__ = "0.1.0"' if ln.startswith("__version__") else ln for ln in text.split("\n")
    )
    record_path = dagster_dir / ".dbtscaffold" / "generated.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record[f"{DAGSTER}/_dbtscaffold/__init__.py"] = hashlib.sha256(old.encode()).hexdigest()
    with changed(init, text=old), changed(record_path, text=json.dumps(record, indent=2)):
        report = check("--json", "--no-load", cwd=dbt_dir, root=root, home=isolation, expect=0)
    copy = by_id(report)["runtime_copy"]
    assert copy["status"] == "warn"
    assert "is dbtscaffold 0.1.0's runtime, intact" in copy["message"]
    assert copy["fix"] == (
        "refresh it: `dbtscaffold init --project-name jaffle_dagster --force`, then commit the diff"
    )


def test_edited_runtime_copy_fails(project, isolation):
    root, dbt_dir, dagster_dir = project
    parse = dagster_dir / DAGSTER / "_dbtscaffold" / "parse.py"
    with changed(parse, append="# my fix\n"):
        report = check("--json", "--no-load", cwd=dbt_dir, root=root, home=isolation, expect=1)
    assert failing(report) == {"runtime_copy"}
    copy = by_id(report)["runtime_copy"]
    assert copy["message"] == (
        f"{DAGSTER}/{DAGSTER}/_dbtscaffold: parse.py edited since init wrote it (the copy is "
        "dbtscaffold's code)"
    )
    assert copy["fix"] == (
        "restore it: `dbtscaffold init --project-name jaffle_dagster --force` (move your change "
        "into your own module)"
    )


def test_incompatible_runtime_copy_fails(project, isolation):
    # The project imports a name the copy does not export (a copy older than the project's code).
    root, dbt_dir, dagster_dir = project
    assets = dagster_dir / DAGSTER / "assets.py"
    text = assets.read_text(encoding="utf-8")
    newer = text.replace("import ParseOnLoadPreparer", "import ParseOnLoadPreparer, prepare_v9")
    with changed(assets, text=newer):
        report = check("--json", "--no-load", cwd=dbt_dir, root=root, home=isolation, expect=1)
    assert "runtime_copy" in failing(report)
    copy = by_id(report)["runtime_copy"]
    assert copy["message"].endswith("lacks `prepare_v9`, which the project imports from it")
    assert copy["fix"] == "refresh it: `dbtscaffold init --project-name jaffle_dagster --force`"


DAGSTER_YAML = """\
storage:
  postgres:
    postgres_db:
      username: dagster
      password:
        env: DAGSTER_PG_PASSWORD
      hostname: localhost
      db_name: dagster
      port: 5432
      params:
        scheme: postgresql+psycopg2
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
"""
GRPC_WORKSPACE = """\
load_from:
  - grpc_server:
      host: localhost
      port: 4266
      location_name: jaffle_dagster
"""
TYPO_WORKSPACE = """\
load_from:
  - python_module:
      module_name: jaffle_dagster.definitons
      working_directory: ..
"""


@pytest.mark.parametrize(
    ("workspace", "status", "words"),
    [
        (GRPC_WORKSPACE, "ok", "grpc_server localhost:4266 (serving jaffle_dagster.definitions)"),
        (TYPO_WORKSPACE, "fail", "module `jaffle_dagster.definitons` not found"),
        ("load_from: [\n", "fail", "deploy/workspace.yaml is not valid YAML"),
    ],
)
def test_deploy_files(project, isolation, workspace, status, words):
    root, _, dagster_dir = project
    files = {"dagster.yaml": DAGSTER_YAML, "workspace.yaml": workspace}
    with created(dagster_dir / "deploy", files):
        report = check(
            "--json",
            "--no-load",
            cwd=dagster_dir,
            root=root,
            home=isolation,
            expect=1 if status == "fail" else 0,
        )
    deploy = by_id(report)["deploy"]
    assert deploy["status"] == status, deploy
    assert words in deploy["message"]
    if status == "ok":
        assert "deploy/dagster.yaml (PostgreSQL storage)" in deploy["message"]
    else:
        assert failing(report) == {"deploy"}
        assert deploy["fix"]


def test_no_project_here(project, isolation, tmp_path):
    root, _, _ = project
    empty = tmp_path / "empty" / "deeper"
    empty.mkdir(parents=True)
    report = check("--json", cwd=empty, root=root, home=isolation, expect=1)
    assert failing(report) == {"projects"}
    assert "run `dbtscaffold init`" in by_id(report)["projects"]["fix"]
    assert report["dagster_project_dir"] is None
    assert {c["status"] for c in report["checks"][1:]} <= {"ok", "hint", "warn", "skip"}


def test_usage_error_exits_2(tmp_path):
    proc = run_cli("check", "--no-such-option", cwd=tmp_path)
    assert proc.returncode == 2
    assert "No such option" in proc.stderr
