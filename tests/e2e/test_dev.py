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
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.helpers.cli import CLI, isolated_env
from tests.helpers.dev import (
    ASSETS_QUERY,
    LOCATIONS,
    READY_TIMEOUT,
    STOP_LIMIT,
    Dev,
    descendants,
    graphql,
    reload_location,
    wait_gone,
)
from tests.helpers.ports import free_port
from tests.helpers.projects import copy_template

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups"),
    pytest.mark.slow,
    pytest.mark.dev_server,
]

PACKAGE = "jaffle_shop_dagster"
DBT_MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
ALL_ASSETS = {*DBT_MODELS, "raw_customers", "raw_orders", "raw_payments"}


@pytest.fixture(scope="module")
def project(tmp_path_factory, initialized_template) -> Path:
    """One initialized example shared by the dev tests of this module (each starts fresh): a
    copy of the session's."""
    return copy_template(initialized_template, tmp_path_factory.mktemp("dev")) / PACKAGE


# --- serving and stopping ---------------------------------------------------------


# SIGINT here; SIGTERM once the UI is ready is cycle 2 of reliability/test_dev_stress.py, which
# asserts all this test asserted of a stop (exit 0, "Stopped dagster dev", no traceback, no
# process of the group nor any descendant seen left), and the port free again.
def test_dev_serves_every_model_and_stops_on_sigint(project, tmp_path):
    sig = signal.SIGINT
    port = free_port()
    env = isolated_env(tmp_path)  # no DAGSTER_HOME: dev must use the project's .dagster_home
    dev = Dev(
        ["--dagster-project-dir", project, "--port", port, "--", "--log-level", "info"],
        cwd=tmp_path,
        env=env,
    )
    try:
        ready = dev.wait_for("Dagster UI ready")
        line = next(ln for ln in dev.err if "Dagster UI ready" in ln)
        assert f"http://127.0.0.1:{port}" in line
        assert "8 assets loaded" in line, line
        assert line.rstrip().endswith("`dbtscaffold -v dev` shows Dagster's own output."), line

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


@pytest.mark.parametrize("breaker", [_break_model, _break_python], ids=["dbt-model", "python"])
def test_dev_keeps_the_ui_up_with_broken_definitions_until_a_fix_is_reloaded(
    initialized, tmp_path, breaker
):
    _, project = initialized
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
