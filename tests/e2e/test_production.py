"""From laptop to production (issue 12): package, install elsewhere, deploy on PostgreSQL.

One generated project for the module: the example in the tutorial's layout (the Dagster
project nested in the dbt project), `init --schedule '* * * * *'`, `convert-seed
raw_customers`, `package` twice, `deploy`. Then the wheel and deploy/ go to another folder,
the source tree is moved away, and the wheel is installed into a fresh venv there (uv, with
this environment's versions as constraints, so it resolves from the cache). There:

- the definitions load without dbt and `dagster asset materialize --select '*'` builds every
  asset (row counts read from DuckDB), writing nothing inside site-packages;
- the production topology: a real PostgreSQL, the code server from that venv, and
  dagster-webserver and dagster-daemon from this one, with DAGSTER_HOME the generated deploy/.
  A run launched over GraphQL reaches SUCCESS and is in PostgreSQL's `runs` table; the
  every-minute schedule makes the daemon launch a run that succeeds. Every wait is bounded,
  and every process is stopped by process group at the end, its port free again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.helpers.cli import BIN, CLI, UV_CACHE, isolated_env, run, write_constraints
from tests.helpers.dev import descendants, graphql, group, living
from tests.helpers.example import ROWS, duckdb_counts
from tests.helpers.ports import free_port
from tests.helpers.postgres import query
from tests.helpers.trees import tree_hash

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups"),
    pytest.mark.slow,
    pytest.mark.venv,
    pytest.mark.network,  # `shipped` installs the wheel's dependencies from the package index
    pytest.mark.dev_server,
    pytest.mark.postgres,
]

PACKAGE = "jaffle_dagster"
SCHEDULE = "materialize_dbt_models_schedule"
LOAD_TIMEOUT = 240  # the code server up and its location loaded in the webserver
RUN_TIMEOUT = 300  # a dbt build of the example in a run worker, on a busy 2-core machine
STOP_LIMIT = 30.0


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return sorted(n for n in z.namelist() if ".dist-info/" not in n)


@dataclass
class Shipped:
    root: Path
    laptop_project: Path  # where the Dagster project was (moved away now)
    server: Path  # the other folder: wheel, deploy/, venv
    venv: Path
    wheel: Path
    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    first_tree: dict[str, str]
    second_tree: dict[str, str]
    first_wheel: list[str]
    deploy_port: int
    env: dict[str, str]  # of the server: its venv first on PATH, no dbtscaffold

    @property
    def site_package(self) -> Path:
        [pkg] = self.venv.glob(f"lib/python*/site-packages/{PACKAGE}")
        return pkg

    def server_env(self, **extra: str) -> dict[str, str]:
        return {**self.env, **extra}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Shipped:
    root = tmp_path_factory.mktemp("production")
    env = isolated_env(root)
    laptop = root / "laptop"
    laptop.mkdir()
    run([CLI, "example", "jaffle_shop"], cwd=laptop, env=env)
    dbt_dir = laptop / "jaffle_shop"
    run([CLI, "init", "--project-name", PACKAGE, "--schedule", "* * * * *"], cwd=dbt_dir, env=env)
    project = dbt_dir / PACKAGE
    run([CLI, "convert-seed", "raw_customers"], cwd=project, env=env)

    ignore = (".dbtscaffold", "dist")
    first = run([CLI, "package"], cwd=project, env=env)
    [wheel] = (project / "dist").glob("*.whl")
    first_tree, first_wheel = tree_hash(project, ignore), wheel_names(wheel)
    second = run([CLI, "package"], cwd=project, env=env)
    # A second run holds the packaged copy's parse-on-load lock (a load of that copy may be
    # running), whose empty lock files stay in the copy's target/; they are never packed
    # (the wheel's target/ holds only manifest.json, checked below).
    second_tree = {
        k: v
        for k, v in tree_hash(project, ignore).items()
        if not Path(k).name.startswith(".dbtscaffold_parse.")
    }
    deploy_port = free_port()
    run([CLI, "deploy", "--port", deploy_port], cwd=project, env=env)

    server = root / "server"
    server.mkdir()
    shutil.copy2(wheel, server / wheel.name)
    shutil.copytree(project / "deploy", server / "deploy")
    laptop.rename(root / "laptop-gone")  # the source dbt project no longer exists

    venv = server / "venv"
    uv_env = dict(env, UV_CACHE_DIR=UV_CACHE, UV_PYTHON_DOWNLOADS="never")
    uv = shutil.which("uv", path=str(BIN))
    assert uv, "uv is a test dependency (pip install -e '.[test]')"
    run([uv, "venv", "-q", "--python", sys.executable, venv], cwd=server, env=uv_env)
    run(
        [uv, "pip", "install", "-q", "--python", venv / "bin" / "python"]
        + ["-c", write_constraints(root / "constraints.txt"), f"{server / wheel.name}[deploy]"],
        cwd=server,
        env=uv_env,
        timeout=900,
    )
    server_env = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    server_env.update(
        PATH=os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"]),
        # Absolute paths outside site-packages, as the generated README says to set them.
        JAFFLE_SHOP_DUCKDB_PATH=str(server / "warehouse" / "jaffle_shop.duckdb"),
        DBT_TARGET_PATH=str(server / "dbt-target"),
    )
    (server / "warehouse").mkdir()
    return Shipped(
        root,
        project,
        server,
        venv,
        server / wheel.name,
        first,
        second,
        first_tree,
        second_tree,
        first_wheel,
        deploy_port,
        server_env,
    )


# --- package ------------------------------------------------------------------------


def test_package_twice_is_safe_and_packs_only_what_dbt_needs(shipped):
    # The files written are results (stdout); progress and next steps go to stderr.
    assert "create  jaffle_dagster/jaffle_dagster/dbt_project/dbt_project.yml" in (
        shipped.first.stdout + shipped.first.stderr
    )
    assert "Built dist/jaffle_dagster-0.1.0-py3-none-any.whl" in shipped.first.stderr
    assert "is up to date" in shipped.second.stderr, shipped.second.stderr
    second = shipped.second.stdout + shipped.second.stderr
    assert "create " not in second and "update " not in second
    assert shipped.second_tree == shipped.first_tree  # the second run changed nothing
    names = wheel_names(shipped.wheel)
    assert names == shipped.first_wheel
    copy = f"{PACKAGE}/dbt_project/"
    assert f"{copy}dbt_project.yml" in names
    assert f"{copy}profiles.yml" in names
    assert f"{copy}target/manifest.json" in names
    assert f"{copy}models/staging/stg_customers.sql" in names
    assert f"{copy}seeds/raw_orders.csv" in names  # still a dbt seed
    assert f"{PACKAGE}/data/raw_customers.csv" in names  # the converted one, for its loader
    assert f"{PACKAGE}/schedules.py" in names
    packed = [n[len(copy) :] for n in names if n.startswith(copy)]
    for part in packed:
        # Nor the Dagster project nested in the dbt project, dbt's output, DuckDB files.
        assert not part.startswith((f"{PACKAGE}/", "logs/", "dbt_packages/")), part
        assert not part.startswith("target/") or part == "target/manifest.json", part
        assert not part.endswith((".duckdb", ".user.yml")), part
    assert "JAFFLE_SHOP_DUCKDB_PATH" in shipped.first.stderr


def test_the_wheel_loads_and_materializes_where_the_source_does_not_exist(shipped, tmp_path):
    assert not shipped.laptop_project.exists()
    env = shipped.server_env(DAGSTER_HOME=str(tmp_path))  # a plain local instance
    python = shipped.venv / "bin" / "python"
    probe = (
        "import json, importlib.util as u; import jaffle_dagster.constants as c; "
        "print(json.dumps([str(c.dbt_project.project_dir), str(c.dbt_project.manifest_path), "
        "u.find_spec('dbtscaffold') is None]))"
    )
    before = tree_hash(shipped.site_package, ignore=("__pycache__",))
    project_dir, manifest, no_dbtscaffold = json.loads(
        run([python, "-c", probe], cwd=shipped.server, env=env).stdout.splitlines()[-1]
    )
    assert Path(project_dir) == shipped.site_package / "dbt_project"
    assert Path(manifest) == shipped.site_package / "dbt_project" / "target" / "manifest.json"
    assert no_dbtscaffold
    dagster = shipped.venv / "bin" / "dagster"
    module = ["-m", f"{PACKAGE}.definitions"]
    run([dagster, "definitions", "validate", *module], cwd=shipped.server, env=env)
    # Loading parsed nothing: no dbt run wrote into the packaged project.
    assert tree_hash(shipped.site_package, ignore=("__pycache__",)) == before

    started = time.monotonic()
    run([dagster, "asset", "materialize", *module, "--select", "*"], cwd=shipped.server, env=env)
    print(f"materialize from the wheel: {time.monotonic() - started:.1f} s")
    assert duckdb_counts(Path(env["JAFFLE_SHOP_DUCKDB_PATH"])) == ROWS
    # dbt's artifacts went to DBT_TARGET_PATH, the database to JAFFLE_SHOP_DUCKDB_PATH.
    assert tree_hash(shipped.site_package, ignore=("__pycache__",)) == before
    assert not list(shipped.venv.rglob("*.duckdb"))


# --- the production topology ---------------------------------------------------------


class Service:
    """A long-running command in its own session, logging to a file."""

    def __init__(self, name: str, cmd: list, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [str(c) for c in cmd],
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
        return self.log.read_text(errors="replace")[-6000:]

    def watch(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.popen.returncode}:\n{self.output()}")
        self.seen.update(descendants(self.popen.pid))

    def signal(self, sig: int) -> None:
        for pid in [*group(self.pgid), *living(self.seen.values())]:
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def left(self) -> list[int]:
        return sorted(set(group(self.pgid)) | set(living(self.seen.values())))


def stop_all(services: list[Service]) -> tuple[float, list[int]]:
    """SIGINT, then SIGTERM, then SIGKILL to every group: (seconds, pids left)."""
    started = time.monotonic()
    for s in services:
        try:
            s.seen.update(descendants(s.popen.pid))
        except psutil.Error:
            pass
    for sig, wait in ((signal.SIGINT, STOP_LIMIT), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        for s in services:
            s.signal(sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(s.left() for s in services):
            time.sleep(0.1)
        if not any(s.left() for s in services):
            break
    for s in services:
        try:
            s.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    return time.monotonic() - started, sorted(p for s in services for p in s.left())


def port_is_free(port: int) -> bool:
    """A server could listen on PORT again (connections in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def wait_until(what: str, check, timeout: float, services: list[Service], interval=1.0):
    """CHECK() until it returns something truthy, within TIMEOUT s (services must live)."""
    deadline = time.monotonic() + timeout
    while True:
        for s in services:
            s.watch()
        try:
            value = check()
        except OSError:  # not listening yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {s.name}\n{s.output()}" for s in services)
            raise AssertionError(f"{what}: not within {timeout} s\n{logs}")
        time.sleep(interval)


WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
ASSETS = "{ assetNodes { assetKey { path } } }"
LAUNCH = """
mutation { launchRun(executionParams: {
    selector: {repositoryLocationName: "%s", repositoryName: "__repository__",
               jobName: "__ASSET_JOB", assetSelection: [%s]}}) {
  __typename ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message }
} }
"""
RUN = '{ runOrError(runId: "%s") { __typename ... on Run { status } } }'
SCHEDULED_RUNS = """
{ runsOrError(filter: {tags: [{key: "dagster/schedule_name", value: "%s"}]}) {
    ... on Runs { results { runId status } } } }
"""
SCHEDULE_STATE = """
{ scheduleOrError(scheduleSelector: {repositoryLocationName: "%s",
    repositoryName: "__repository__", scheduleName: "%s"}) {
    ... on Schedule { scheduleState { status } } } }
"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def location_loaded(port: int) -> bool:
    entries = graphql(port, WORKSPACE)["data"]["workspaceOrError"].get("locationEntries") or []
    if [e["name"] for e in entries] != [PACKAGE] or entries[0]["loadStatus"] != "LOADED":
        return False
    error = entries[0]["locationOrLoadError"]
    assert error["__typename"] == "RepositoryLocation", error
    return True


@pytest.fixture
def dagster_database(pg_server):  # noqa: F811 (the fixture imported above)
    """A fresh database for the Dagster instance's storage."""
    import psycopg2

    from tests.helpers.postgres import PgServer

    name = f"dagster_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = psycopg2.connect(**pg_server.dsn())
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield PgServer(pg_server.host, pg_server.port, pg_server.user, pg_server.password, name)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def test_production_topology_on_postgres(shipped, dagster_database, tmp_path):
    started = time.monotonic()
    db = dagster_database
    deploy = shipped.server / "deploy"
    env = shipped.server_env(
        DAGSTER_HOME=str(deploy),
        DAGSTER_POSTGRES_HOST=db.host,
        DAGSTER_POSTGRES_PORT=str(db.port),
        DAGSTER_POSTGRES_DB=db.dbname,
        DAGSTER_POSTGRES_USER=db.user,
        DAGSTER_POSTGRES_PASSWORD=db.password,
        JAFFLE_SHOP_DUCKDB_PATH=str(tmp_path / "jaffle_shop.duckdb"),
    )
    # The webserver and the daemon need no project code: this environment's Dagster.
    ours = dict(env, PATH=os.pathsep.join([str(BIN), "/usr/bin", "/bin"]))
    code_port, web_port = shipped.deploy_port, free_port()
    workspace = ["-w", deploy / "workspace.yaml"]
    services: list[Service] = []
    try:
        code = Service(
            "code-server",
            [shipped.venv / "bin" / "dagster", "code-server", "start"]
            + ["-m", f"{PACKAGE}.definitions", "-h", "127.0.0.1", "-p", code_port],
            shipped.server,
            env,
            tmp_path,
        )
        services.append(code)
        health = [BIN / "dagster", "api", "grpc-health-check", "-p", code_port, "-h", "127.0.0.1"]
        wait_until(
            "code server serving",
            lambda: run(health, cwd=tmp_path, env=ours, check=None).returncode == 0,
            LOAD_TIMEOUT,
            services,
        )
        services.append(
            Service(
                "webserver",
                [BIN / "dagster-webserver", *workspace, "-h", "127.0.0.1", "-p", web_port],
                shipped.server,
                ours,
                tmp_path,
            )
        )
        services.append(
            Service(
                "daemon",
                [BIN / "dagster-daemon", "run", *workspace],
                shipped.server,
                ours,
                tmp_path,
            )
        )
        wait_until("location loaded", lambda: location_loaded(web_port), LOAD_TIMEOUT, services)
        ready = time.monotonic() - started
        state = graphql(web_port, SCHEDULE_STATE % (PACKAGE, SCHEDULE))["data"]
        assert state["scheduleOrError"]["scheduleState"]["status"] == "RUNNING", state

        nodes = graphql(web_port, ASSETS)["data"]["assetNodes"]
        assert {n["assetKey"]["path"][-1] for n in nodes} == set(ROWS)
        # A run of the loader alone (no dbt: quick); the schedule's run then builds everything.
        selection = '{path: ["raw_customers"]}'
        launched = graphql(web_port, LAUNCH % (PACKAGE, selection))["data"]["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]

        def status():
            return (graphql(web_port, RUN % run_id)["data"]["runOrError"] or {}).get("status")

        final = wait_until(
            "launched run done", lambda: status() in DONE and status(), RUN_TIMEOUT, services
        )
        assert final == "SUCCESS", "\n".join(s.output() for s in services)
        launched_took = time.monotonic() - started
        assert query(db, "select status from runs where run_id = %s", (run_id,)) == [("SUCCESS",)]
        assert query(
            db,
            "select count(*) from event_logs where run_id = %s and dagster_event_type = %s",
            (run_id, "ASSET_MATERIALIZATION"),
        ) == [(1,)]

        def scheduled():
            runs = graphql(web_port, SCHEDULED_RUNS % SCHEDULE)["data"]["runsOrError"]["results"]
            done = [r for r in runs if r["status"] in DONE]
            return done[0] if done else None

        # A tick every minute; its run may wait in the queue for the one above (one at a time).
        tick = wait_until("scheduled run done", scheduled, RUN_TIMEOUT, services)
        assert tick["status"] == "SUCCESS", tick
        [(job,)] = query(db, "select pipeline_name from runs where run_id = %s", (tick["runId"],))
        assert job == "materialize_dbt_models"
        assert duckdb_counts(tmp_path / "jaffle_shop.duckdb") == ROWS
        print(
            f"topology: ready {ready:.1f} s, launched run done {launched_took:.1f} s, "
            f"scheduled run done {time.monotonic() - started:.1f} s after start"
        )
    finally:
        took, left = stop_all(services)
        print(f"topology: every process stopped in {took:.1f} s")
    assert not left, f"still running: {left}"
    assert all(port_is_free(p) for p in (code_port, web_port))
