"""The "Using dbt with Dagster" tutorial's layout: the Dagster project inside the dbt project.

`cd jaffle_shop && dbtscaffold init --project-name jaffle_dagster` creates
jaffle_shop/jaffle_dagster/. Everything here is real: the installed CLI, dbt-duckdb,
`dbtscaffold dev` and plain `dagster dev` on a free loopback port, asked over GraphQL
what they loaded, and stopped with nothing of theirs left running.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jinja2
import psutil
import pytest
import yaml

from tests.helpers.cli import BIN, CLI, isolated_env, run, run_cli, run_tool
from tests.helpers.dev import (
    asset_nodes,
    serve_with_dbtscaffold_dev,
    upstream,
    READY_TIMEOUT,
    descendants,
    graphql,
    group,
    wait_gone,
)
from tests.helpers.example import duckdb_counts
from tests.helpers.ports import free_port
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.dev_server]
needs_killpg = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")

DAGSTER = "jaffle_dagster"
DBT_MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
PARSE_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
PLAIN_STOP_LIMIT = 20.0  # plain `dagster dev` gets SIGINT, then SIGKILL after this long

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


# --- helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory) -> Path:
    """`dbtscaffold example jaffle_shop`, once per module: copy it, never edit it."""
    root = tmp_path_factory.mktemp("example")
    run([CLI, "example", "jaffle_shop"], cwd=root, env=isolated_env(root))
    return root / "jaffle_shop"


@pytest.fixture(scope="module")
def nested_template(tmp_path_factory, example_dir) -> Path:
    """The tutorial's steps 1-2, once per module: the dbt project, the Dagster project inside."""
    root = tmp_path_factory.mktemp("nested")
    shutil.copytree(example_dir, root / "jaffle_shop")
    run([CLI, "init", "--project-name", DAGSTER], cwd=root / "jaffle_shop", env=isolated_env(root))
    return root / "jaffle_shop"


@pytest.fixture
def nested(nested_template, tmp_path) -> tuple[Path, Path]:
    """A copy of the tutorial's steps 1-2: (dbt project, Dagster project inside it)."""
    dbt_dir = tmp_path / "jaffle_shop"
    shutil.copytree(nested_template, dbt_dir, symlinks=True)
    return dbt_dir, dbt_dir / DAGSTER


def single_error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line a command that refuses to guess prints; exit 1, no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


def duckdb_file(dbt_dir: Path) -> Path:
    """The database of the profile's default target, read from profiles.yml as dbt does."""
    project = yaml.safe_load((dbt_dir / "dbt_project.yml").read_text())
    profiles = yaml.safe_load((dbt_dir / "profiles.yml").read_text())
    profile = profiles[project.get("profile") or project["name"]]
    output = profile["outputs"][profile["target"]]
    assert output["type"] == "duckdb", output
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = lambda name, default=None: os.environ.get(name, default)
    path = Path(env.from_string(str(output["path"])).render())
    return path if path.is_absolute() else dbt_dir / path  # dbt runs in the dbt project


def without_jinja_comments(sql: str) -> str:
    return re.sub(r"\{#.*?#\}", "", sql, flags=re.DOTALL)


class PlainDagsterDev:
    """Plain `dagster dev -p PORT` from this venv, in its own session, logging to a file."""

    def __init__(self, port: int, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.log = log
        self.started = time.monotonic()
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [str(BIN / "dagster"), "dev", "-p", str(port)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pgid = self.popen.pid  # a session leader leads its own process group
        self.seen: dict[int, psutil.Process] = {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def watch(self) -> None:
        """Remember every descendant alive right now."""
        self.seen.update(descendants(self.popen.pid))

    def wait_loaded(self, timeout: float = READY_TIMEOUT) -> tuple[float, dict[str, dict]]:
        """Seconds until the code location loaded, and the asset nodes it serves."""
        deadline = time.monotonic() + timeout
        while True:
            self.watch()
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"dagster dev exited {self.popen.returncode}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing loaded within {timeout} s:\n{self.output()}")
            try:
                workspace = graphql(self.port, WORKSPACE_QUERY)["data"]["workspaceOrError"]
            except OSError:  # the webserver is not listening yet
                time.sleep(0.5)
                continue
            entries = workspace.get("locationEntries") or []
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [
                    e["locationOrLoadError"]["message"]
                    for e in entries
                    if e["locationOrLoadError"]["__typename"] == "PythonError"
                ]
                assert not errors, "\n".join(errors)
                assert [e["name"] for e in entries] == [DAGSTER], entries
                return time.monotonic() - self.started, asset_nodes(self.port)
            time.sleep(0.5)

    def stop(self) -> tuple[float, list[int]]:
        """SIGINT to the group, SIGKILL after PLAIN_STOP_LIMIT s: (seconds, pids left)."""
        self.watch()
        # The leader is not reaped before wait() below, so PGID is still this group's.
        os.killpg(self.pgid, signal.SIGINT)
        took, left = wait_gone(self.pgid, self.seen, PLAIN_STOP_LIMIT)
        if left:
            self.kill_group()
            took, left = wait_gone(self.pgid, self.seen, 10)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return took, left

    def kill_group(self) -> None:
        """SIGKILL to the group and to every descendant seen (also test clean-up)."""
        if self.popen.poll() is None:
            os.killpg(self.pgid, signal.SIGKILL)
        procs = {**self.seen, **descendants(self.popen.pid)}
        for pid in group(self.pgid):
            try:
                procs.setdefault(pid, psutil.Process(pid))
            except psutil.Error:
                pass
        for p in procs.values():
            try:
                p.kill()  # psutil refuses a pid that now belongs to another process
            except psutil.Error:
                pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def serve_with_plain_dagster_dev(
    dagster_dir: Path, tmp_path: Path, name: str, extra: dict[str, str] | None = None
) -> dict[str, dict]:
    """Plain `dagster dev -p P` from DAGSTER_DIR: what it served; stopped, nothing left."""
    home = tmp_path / "dagster_home"  # not dagster dev's .tmp_dagster_home_* in the project
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = isolated_env(tmp_path, DAGSTER_HOME=str(home), **(extra or {}))
    dev = PlainDagsterDev(free_port(), dagster_dir, env, tmp_path / f"dagster_dev_{name}.log")
    try:
        ready, nodes = dev.wait_loaded()
        took, left = dev.stop()
        print(f"{name}: loaded in {ready:.1f} s, all gone {took:.1f} s after SIGINT")
        assert not left, f"still running after SIGKILL: {left}\n{dev.output()[-4000:]}"
        return nodes
    finally:
        dev.kill_group()


# --- the tutorial -------------------------------------------------------------------


# The steps in two tests, so that they run side by side on two workers (about 45 s each):
# serving the project as init wrote it, three ways; then, on a project of its own, converting
# a seed, serving it and materializing. The second converts before any server has run (the
# tutorial runs `dbtscaffold dev` first): convert-seed reads the dbt project's files and asks dbt
# in a target path of its own, never target/, so the servers leave nothing it reads.


@needs_killpg
def test_the_tutorial_steps_in_its_layout_serve(nested, tmp_path):
    dbt_dir, dagster_dir = nested
    assert (dagster_dir / "pyproject.toml").is_file()
    assert (dagster_dir / DAGSTER / "definitions.py").is_file()

    # `cd jaffle_dagster && dbtscaffold dev`: every model, and the seeds, from dbt.
    nodes = serve_with_dbtscaffold_dev(dagster_dir, tmp_path)
    assert DBT_MODELS <= set(nodes), sorted(nodes)
    # The seed is built by dbt: the same @dbt_assets op as the models.
    assert nodes["raw_customers"]["opNames"] == nodes["stg_customers"]["opNames"]
    assert upstream(nodes["stg_customers"]) == {"raw_customers"}

    # Plain `dagster dev` reads [tool.dagster] from pyproject.toml; parse on load asked for.
    nodes = serve_with_plain_dagster_dev(dagster_dir, tmp_path, "parse_on", {PARSE_ENV: "1"})
    assert DBT_MODELS <= set(nodes), sorted(nodes)

    # Plain `dagster dev` with nothing set and no manifest: it parses on load by itself.
    shutil.rmtree(dbt_dir / "target")
    nodes = serve_with_plain_dagster_dev(dagster_dir, tmp_path, "unset")
    assert DBT_MODELS <= set(nodes), sorted(nodes)
    assert (dbt_dir / "target" / "manifest.json").is_file()


@needs_killpg
def test_the_tutorial_steps_in_its_layout_convert(nested, tmp_path):
    dbt_dir, dagster_dir = nested

    # `cd ..` (the dbt project) and convert a seed: the Dagster project is found inside it.
    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    sources = yaml.safe_load((dbt_dir / "models" / "sources.yml").read_text())["sources"]
    source = next(s for s in sources if s["name"] == "jaffle_shop")
    table = next(t for t in source["tables"] if t["name"] == "raw_customers")
    meta = table.get("config", {}).get("meta") or table["meta"]
    assert meta["dagster"]["asset_key"] == ["raw_customers"], table
    sql = (dbt_dir / "models" / "staging" / "stg_customers.sql").read_text()
    code = without_jinja_comments(sql)
    assert "source('jaffle_shop', 'raw_customers')" in code, sql
    assert "ref('raw_customers')" not in code and 'ref("raw_customers")' not in code, sql
    # A ref inside a Jinja comment is text, not a dependency: it is left as it was.
    assert sql.startswith("{# based on {{ ref('raw_customers') }}: one row per customer")

    # raw_customers is now a Python asset of the Dagster project, still upstream.
    nodes = serve_with_dbtscaffold_dev(dagster_dir, tmp_path)
    assert DBT_MODELS <= set(nodes), sorted(nodes)
    assert nodes["raw_customers"]["opNames"] != nodes["stg_customers"]["opNames"], nodes
    assert upstream(nodes["stg_customers"]) == {"raw_customers"}

    run_cli("materialize", cwd=dagster_dir, check=0)
    counts = duckdb_counts(duckdb_file(dbt_dir), ("customers", "orders", "raw_customers"))
    assert counts == {"customers": 100, "orders": 99, "raw_customers": 100}


# --- finding the Dagster project --------------------------------------------------


def test_discovery_from_a_subfolder_and_two_projects(nested, tmp_path):
    dbt_dir, dagster_dir = nested
    staging = dbt_dir / "models" / "staging"
    before = tree_hash(tmp_path)

    dry = run_cli("convert-seed", "raw_orders", "--dry-run", cwd=staging, check=0)
    assert "--- a/jaffle_shop/models/staging/stg_orders.sql" in dry.stdout, dry.stdout
    assert '+    select * from {{ source("jaffle_shop", "raw_orders") }}' in dry.stdout
    assert "+++ b/jaffle_shop/jaffle_dagster/jaffle_dagster/" in dry.stdout  # its loader
    assert tree_hash(tmp_path) == before

    run_cli("convert-seed", "raw_orders", cwd=staging, check=0)
    assert list(dagster_dir.rglob("raw_orders.csv"))  # the CSV moved into the Dagster project
    assert not (dbt_dir / "seeds" / "raw_orders.csv").exists()
    run_cli("undo", cwd=dbt_dir / "models", check=0)
    assert tree_hash(tmp_path) == before

    # A second Dagster project for the same dbt project: no guessing between the two.
    run_cli("init", "--project-name", "other_dagster", cwd=dbt_dir, check=0)
    before = tree_hash(tmp_path)
    for cwd in (dbt_dir, staging):
        for args in (["materialize"], ["convert-seed", "raw_orders"]):
            line = single_error_line(run_cli(*args, cwd=cwd))
            assert str((dbt_dir / DAGSTER).resolve()) in line, line
            assert str((dbt_dir / "other_dagster").resolve()) in line, line
            assert "--dagster-project-dir" in line, line
            assert tree_hash(tmp_path) == before, (cwd, args)


# --- parse on load --------------------------------------------------------------------


def test_parse_on_load_off_under_dev_cli(nested):
    dbt_dir, dagster_dir = nested
    manifest = dbt_dir / "target" / "manifest.json"
    assert not manifest.exists()
    validate = ("dagster", "definitions", "validate", "-m", f"{DAGSTER}.definitions")

    off = run_tool(
        *validate, cwd=dagster_dir, env={"DAGSTER_IS_DEV_CLI": "1", PARSE_ENV: "0"}, check=None
    )
    output = off.stdout + off.stderr
    assert off.returncode != 0, output
    assert PARSE_ENV in output and "`dbtscaffold dev`" in output, output
    assert not manifest.exists()

    run_tool(*validate, cwd=dagster_dir, env={"DAGSTER_IS_DEV_CLI": "1"}, check=0)
    assert manifest.is_file()


# --- generated files --------------------------------------------------------------------


FOUND = {
    "project": "in the dbt project",
    "home": "in ~/.dbt",
    "profiles-dir": "given by --profiles-dir",
}


@pytest.mark.parametrize("profiles", list(FOUND))
@pytest.mark.parametrize("layout", ["nested", "side-by-side"])
def test_no_machine_path_in_generated_files(tmp_path, isolation, example_dir, layout, profiles):
    home = isolation
    dbt_dir = tmp_path / "jaffle_shop"
    shutil.copytree(example_dir, dbt_dir)
    options: list[str | Path] = []
    if profiles == "home":
        (home / ".dbt").mkdir()
        shutil.move(dbt_dir / "profiles.yml", home / ".dbt" / "profiles.yml")
    elif profiles == "profiles-dir":
        (tmp_path / "profiles").mkdir()
        shutil.move(dbt_dir / "profiles.yml", tmp_path / "profiles" / "profiles.yml")
        options += ["--profiles-dir", tmp_path / "profiles"]
    if layout == "nested":
        cwd, dagster_dir = dbt_dir, dbt_dir / DAGSTER
    else:
        options += ["--dbt-project-dir", dbt_dir]
        cwd, dagster_dir = tmp_path, tmp_path / DAGSTER
    dbt_before = tree_hash(dbt_dir)

    init = run_cli("init", "--project-name", DAGSTER, *options, cwd=cwd, check=0)
    assert f"Using profiles.yml {FOUND[profiles]}: " in init.stderr, init.stderr

    generated = [p for p in dagster_dir.rglob("*") if p.is_file()]
    assert {p.relative_to(dagster_dir).as_posix() for p in generated} >= {
        "pyproject.toml",
        f"{DAGSTER}/constants.py",
        f"{DAGSTER}/definitions.py",
    }
    here = (tmp_path, home, example_dir.parent)  # the last: where the example was made
    machine_paths = {str(q) for p in here for q in (p, p.resolve())}
    for path in generated:
        data = path.read_bytes()
        for machine_path in machine_paths:
            assert machine_path.encode() not in data, (path, machine_path)
    after = tree_hash(dbt_dir)
    if layout == "nested":
        after = {k: v for k, v in after.items() if k.split("/")[0] != DAGSTER}
    assert after == dbt_before  # init writes nothing into the dbt project but its own folder

    # The generated project finds the dbt project and its profiles.yml: dbt parses.
    run_tool("dagster", "definitions", "validate", cwd=dagster_dir, env={PARSE_ENV: "1"}, check=0)
    assert (dbt_dir / "target" / "manifest.json").is_file()
