"""`dbtscaffold dev` end to end: a real `dagster dev` on a free loopback port.

Each test starts the installed CLI in its own session, reads its output, asks the UI's
GraphQL endpoint what it loaded, signals it, and then checks through psutil: no process of
the `dagster dev` group, and no descendant seen while it ran, may be left. Processes are
remembered as psutil.Process objects (pid and creation time), so a pid reused meanwhile is
neither taken for a survivor nor killed at clean-up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import BIN, CLI, EXAMPLE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups"),
]

PACKAGE = "jaffle_shop_dagster"
DBT_MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
ALL_ASSETS = {*DBT_MODELS, "raw_customers", "raw_orders", "raw_payments"}
READY_TIMEOUT = 180
STOP_LIMIT = 15.0


# --- helpers ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """os.environ minus the user's Dagster/dbt settings, with HOME in ROOT."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "DBT_", "JAFFLE_SHOP_"))
    }
    home = root / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        COLUMNS="200",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def scaffold(root: Path) -> Path:
    """The example dbt project and its Dagster project under ROOT; return the latter."""
    dbt_dir = root / "jaffle_shop"
    shutil.copytree(EXAMPLE, dbt_dir)
    subprocess.run(
        [str(CLI), "init", "--dbt-project-dir", str(dbt_dir), "--output-dir", str(root)],
        env=isolated_env(root),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return root / PACKAGE


def is_living(p: psutil.Process) -> bool:
    """P still runs: the same pid and creation time, and not a zombie."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # ZombieProcess included
        return False
    except psutil.AccessDenied:
        return True


def living(procs) -> list[int]:
    return sorted(p.pid for p in procs if is_living(p))


def descendants(root: int) -> dict[int, psutil.Process]:
    try:
        return {p.pid: p for p in psutil.Process(root).children(recursive=True)}
    except psutil.NoSuchProcess:
        return {}


def group(pgid: int) -> list[int]:
    """Living processes whose process group is PGID."""
    out = []
    for pid in psutil.pids():
        try:
            if pid > 0 and os.getpgid(pid) == pgid and is_living(psutil.Process(pid)):
                out.append(pid)
        except (OSError, psutil.Error):
            pass
    return out


def graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


ASSETS_QUERY = """
{ assetNodes { assetKey { path } isMaterializable } }
"""


class Dev:
    """`dbtscaffold dev` running in its own session, its stderr collected by a thread."""

    def __init__(self, args, cwd: Path, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            [str(CLI), "dev", *map(str, args)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self.seen: dict[int, psutil.Process] = {}
        self._threads = [
            threading.Thread(target=self._pump, args=(self.popen.stderr, self.err), daemon=True),
            threading.Thread(target=self._pump, args=(self.popen.stdout, self.out), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def watch(self) -> None:
        """Remember every descendant alive right now."""
        self.seen.update(descendants(self.popen.pid))

    def wait_for(self, text: str, timeout: float = READY_TIMEOUT) -> float:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            self.watch()
            if self.popen.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(
                    f"dbtscaffold dev exited {self.popen.returncode}:\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout} s:\n{self.stderr}")
            time.sleep(0.1)
        return time.monotonic() - self.started

    def dagster_pgid(self) -> int:
        """The process group of `dagster dev` (the child of dbtscaffold)."""
        kids = psutil.Process(self.popen.pid).children()
        assert kids, "dbtscaffold dev has no child"
        # The first it started (orphans that re-parent to it are children too).
        return os.getpgid(min(kids, key=lambda k: k.create_time()).pid)

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            for t in self._threads:
                t.join(timeout=5)

    def kill_all(self) -> None:
        """Test clean-up only: nothing we started may outlive the test, even on failure."""
        procs = {**self.seen, **descendants(self.popen.pid)}
        for p in procs.values():
            try:
                p.kill()  # psutil refuses a pid that now belongs to another process
            except psutil.Error:
                pass
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def wait_gone(
    pgid: int | None, others: dict[int, psutil.Process], limit: float
) -> tuple[float, list[int]]:
    """Seconds until no process of PGID nor of OTHERS lives (or LIMIT), and any left."""
    start = time.monotonic()
    while True:
        left = sorted(set(group(pgid) if pgid else []) | set(living(others.values())))
        if not left or time.monotonic() - start > limit:
            return time.monotonic() - start, left
        time.sleep(0.05)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One initialized example shared by the dev tests of this module (each starts fresh)."""
    return scaffold(tmp_path_factory.mktemp("dev"))


# --- serving and stopping ---------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_dev_serves_every_model_and_stops_on_signal(project, tmp_path, sig):
    port = free_port()
    env = isolated_env(tmp_path)  # no DAGSTER_HOME: dev must use the project's .dagster_home
    dev = Dev(
        ["--dagster-project-dir", project, "--port", port, "--", "--log-level", "info"],
        cwd=tmp_path,
        env=env,
    )
    try:
        ready = dev.wait_for("Dagster UI ready")
        line = next(l for l in dev.err if "Dagster UI ready" in l)
        assert f"http://127.0.0.1:{port}" in line
        assert "8 assets loaded" in line, line
        assert line.endswith("`dbtscaffold -v dev` shows Dagster's own output."), line

        nodes = graphql(port, ASSETS_QUERY)["data"]["assetNodes"]
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert DBT_MODELS <= keys, keys

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/asset-groups", timeout=10) as r:
            page = r.read().decode()
        assert r.status == 200 and "<html" in page.lower()

        # What dev promised the child: parse on load, a persistent home, this venv first.
        pgid = dev.dagster_pgid()
        leader = psutil.Process(pgid)
        leader_env = leader.environ()
        assert leader_env["DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"] == "1"
        assert leader_env["DAGSTER_HOME"] == str(project / ".dagster_home")
        assert leader_env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
        assert leader.cmdline()[-2:] == ["--log-level", "info"]
        assert (project / ".dagster_home").is_dir()
        # A large project's first parse runs in the code server: its start-up limit is raised,
        # in a dagster.yaml the instance running now was built from.
        from dagster import DagsterInstance

        with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
            assert instance.code_server_process_startup_timeout == 1800
        assert pgid != os.getpgid(dev.popen.pid)  # dagster dev has a group of its own

        dev.watch()
        assert len(dev.seen) >= 4, dev.seen  # dagster dev, code server, webserver, daemon
        os.kill(dev.popen.pid, sig)
        took, left = wait_gone(pgid, dev.seen, STOP_LIMIT)
        code = dev.finish()
        print(f"{sig.name}: ready in {ready:.1f} s, all processes gone in {took:.1f} s")
        assert not left, f"still running after {STOP_LIMIT} s: {left}\n{dev.stderr}"
        assert code == 0, dev.stderr
        assert "Stopped dagster dev" in dev.stderr
        assert "Traceback" not in dev.stderr
    finally:
        dev.kill_all()


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


LAUNCH_ALL = """
mutation {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "%s", repositoryName: "__repository__",
               jobName: "__ASSET_JOB", assetSelection: [%s]},
    mode: "default"}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def test_dev_lets_a_run_in_progress_stop_then_leaves_nothing(project, tmp_path):
    port = free_port()
    dev = Dev(
        ["--dagster-project-dir", project, "--port", port], cwd=tmp_path, env=isolated_env(tmp_path)
    )
    try:
        dev.wait_for("Dagster UI ready")
        nodes = graphql(port, ASSETS_QUERY)["data"]["assetNodes"]
        keys = ", ".join(json.dumps({"path": n["assetKey"]["path"]}) for n in nodes)
        keys = keys.replace('"path"', "path")
        launched = graphql(port, LAUNCH_ALL % (PACKAGE, keys))["data"]["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched

        # Wait until dbt itself is running under the run worker, then ask dev to stop.
        deadline = time.monotonic() + READY_TIMEOUT
        while not any(Path(a).name == "dbt" for p in dev.seen.values() for a in _cmdline(p)[:2]):
            assert time.monotonic() < deadline, "dbt never started"
            dev.watch()
            time.sleep(0.1)
        pgid = dev.dagster_pgid()
        os.kill(dev.popen.pid, signal.SIGTERM)
        took, left = wait_gone(pgid, dev.seen, 45)
        code = dev.finish()
        print(f"run in progress: all processes gone {took:.1f} s after SIGTERM")
        assert not left, f"still running: {left}\n{dev.stderr}"
        assert code == 0, dev.stderr
        assert "waiting for the run in progress to stop" in dev.stderr
        assert "Traceback" not in dev.stderr
        from dagster import DagsterInstance, DagsterRunStatus

        with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
            run = instance.get_run_by_id(launched["run"]["runId"])
        assert run is not None and run.status == DagsterRunStatus.CANCELED, run
    finally:
        dev.kill_all()


# --- broken definitions -------------------------------------------------------------


def _break_model(dagster_dir: Path) -> tuple[Path, str, str]:
    sql = dagster_dir.parent / "jaffle_shop" / "models" / "marts" / "customers.sql"
    original = sql.read_text()
    sql.write_text(original + "\n-- {{ ref('no_such_model') }}\n")
    return sql, "no_such_model", original


def _break_python(dagster_dir: Path) -> tuple[Path, str, str]:
    assets = dagster_dir / PACKAGE / "assets.py"
    original = assets.read_text()
    assets.write_text(original + "\nraise ValueError('assets.py is broken on purpose')\n")
    return assets, "assets.py is broken on purpose", original


LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError {
        message errorChain { error { message } } } } } } } }
"""
RELOAD = """
mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename ... on WorkspaceLocationEntry { loadStatus } } }
"""


def reload_entry(port: int, name: str) -> dict:
    """Reload the code location NAME as the UI's button does; what the mutation answers."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": RELOAD, "variables": {"name": name}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)["data"]["reloadRepositoryLocation"]


def reload_location(port: int, name: str) -> set[str]:
    """Reload the code location NAME as the UI's button does; the asset keys it has then."""
    done = reload_entry(port, name)
    assert done["__typename"] == "WorkspaceLocationEntry", done
    nodes = graphql(port, ASSETS_QUERY)["data"]["assetNodes"]
    return {"/".join(n["assetKey"]["path"]) for n in nodes}


@pytest.mark.parametrize("breaker", [_break_model, _break_python], ids=["dbt-model", "python"])
def test_dev_keeps_the_ui_up_with_broken_definitions_until_a_fix_is_reloaded(tmp_path, breaker):
    project = scaffold(tmp_path)
    broken, needle, original = breaker(project)
    port = free_port()
    dev = Dev(["--port", port], cwd=project, env=isolated_env(tmp_path))
    try:
        dev.wait_for("Dagster UI running at")
        # The UI answers, with the code location in error.
        [entry] = graphql(port, LOCATIONS)["data"]["workspaceOrError"]["locationEntries"]
        error = entry["locationOrLoadError"]
        assert error["__typename"] == "PythonError", entry
        assert needle in " ".join(
            [error["message"], *(c["error"]["message"] for c in error["errorChain"])]
        )
        assert dev.stderr.count("failed to load") == 1, dev.stderr  # said once
        assert "click Reload definitions in the UI" in dev.stderr
        assert needle in dev.stderr
        assert "Dagster UI ready" not in dev.stderr

        broken.write_text(original)  # the fix, then Reload definitions
        assert ALL_ASSETS == reload_location(port, entry["name"])
        dev.wait_for(f"Definitions of `{PACKAGE}` loaded: 8 assets.", timeout=30)

        if breaker is _break_model:
            # convert-seed while dev runs says to reload; the reload shows the new asset.
            done = subprocess.run(
                [str(CLI), "convert-seed", "raw_payments"],
                cwd=project,
                env=isolated_env(tmp_path),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert "`dagster dev` is running for this project: click Reload definitions" in (
                done.stderr
            )
            assert ALL_ASSETS == reload_location(port, entry["name"])

        pgid = dev.dagster_pgid()
        dev.watch()
        os.kill(dev.popen.pid, signal.SIGINT)  # Ctrl-C
        _, left = wait_gone(pgid, dev.seen, STOP_LIMIT)
        code = dev.finish()
        assert not left, f"left behind: {left}\n{dev.stderr}"
        assert code == 0, dev.stderr
        assert "Stopped dagster dev" in dev.stderr
        assert "Traceback" not in dev.stderr
    finally:
        dev.kill_all()


def _signal_mask(pid: int, kind: str) -> int:
    """The SigIgn (ignored) or SigCgt (caught) mask of PID."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {kind}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_dev_in_the_background_of_a_script_stops_on_the_first_sigint(project, tmp_path):
    """`dbtscaffold dev &` in a script has SIGINT ignored; one SIGINT still stops it all."""
    port = free_port()
    err, go = tmp_path / "dev.err", tmp_path / "go"
    script = f"""
        {CLI} dev --dagster-project-dir {project} --port {port} 2> {err} &
        pid=$!
        echo "pid $pid"
        while [ ! -e {go} ]; do sleep 0.05; done
        echo sent
        kill -INT $pid
        wait $pid
        echo "code $?"
    """
    shell = subprocess.Popen(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=isolated_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen: dict[int, psutil.Process] = {}
    pid = None
    try:
        assert shell.stdout is not None
        pid = int(shell.stdout.readline().split()[1])
        deadline = time.monotonic() + READY_TIMEOUT
        while "Dagster UI ready" not in (err.read_text() if err.exists() else ""):
            assert time.monotonic() < deadline and shell.poll() is None, err.read_text()
            seen.update(descendants(pid))
            time.sleep(0.1)
        seen.update(descendants(pid))
        sigint, sigquit = 1 << (signal.SIGINT - 1), 1 << (signal.SIGQUIT - 1)
        # bash starts a background job with SIGINT and SIGQUIT ignored; dbtscaffold then
        # catches SIGINT itself, so SIGQUIT is what still shows it.
        assert _signal_mask(pid, "SigIgn") & sigquit, "not started as a background job"
        dagster_dev = min(psutil.Process(pid).children(), key=lambda c: c.create_time())
        assert not _signal_mask(dagster_dev.pid, "SigIgn") & sigint, "the child ignores SIGINT"
        assert _signal_mask(dagster_dev.pid, "SigCgt") & sigint, "no SIGINT handler in the child"
        go.touch()
        assert shell.stdout.readline().strip() == "sent"
        sent = time.monotonic()
        code = shell.stdout.readline().strip()
        took = time.monotonic() - sent
        _, left = wait_gone(None, seen, STOP_LIMIT)
    finally:
        for p in seen.values():
            try:
                p.kill()
            except psutil.Error:
                pass
        shell.kill()
    stderr = err.read_text()
    print(f"background dev: stopped {took:.1f} s after SIGINT\n{stderr}")
    assert code == "code 0", stderr
    assert took < 10, stderr
    assert re.search(r"Stopped dagster dev in [\d.]+ s \(SIGINT\)\.", stderr), stderr
    assert not left, f"left behind: {left}"


# --- preflight errors -----------------------------------------------------------------


def test_dev_busy_port_is_one_line(project, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [str(CLI), "dev", "--dagster-project-dir", str(project), "--port", str(port)],
            env=isolated_env(tmp_path),
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr == (
        f"error: Port {port} on 127.0.0.1 is already in use; stop what uses it or pass "
        f"--port {port + 1}.\n"
    )


def test_dev_without_a_project_is_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [str(CLI), "dev", "--port", str(free_port())],
        cwd=empty,
        env=isolated_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: No Dagster project found here")
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr

    proc = subprocess.run(
        [str(CLI), "dev", "--dagster-project-dir", str(tmp_path / "missing")],
        cwd=empty,
        env=isolated_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert (
        proc.stderr == f"error: Dagster project folder `{tmp_path / 'missing'}` does not exist.\n"
    )


def test_dev_without_dagster_webserver_is_one_line(project, tmp_path):
    # The package hidden from this interpreter, exactly as if it were not installed.
    code = (
        "import sys; sys.modules['dagster_webserver'] = None; "
        "from dbtscaffold.cli import main; sys.argv[0] = 'dbtscaffold'; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "dev", "--dagster-project-dir", str(project)],
        env=isolated_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: dagster-webserver is not installed in ")
    assert "pip install dagster-webserver" in proc.stderr
    assert proc.stderr.count("\n") == 1
