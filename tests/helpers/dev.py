"""`dbtscaffold dev` in its own session, the UI's GraphQL, and the processes left behind.

Processes are remembered as psutil.Process objects (pid and creation time), so a pid reused
meanwhile is neither taken for a survivor nor killed at clean-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from tests.helpers.cli import CLI, isolated_env
from tests.helpers.ports import free_port

READY_TIMEOUT = 180
STOP_LIMIT = 15.0
NODES_QUERY = "{ assetNodes { assetKey { path } opNames dependencyKeys { path } } }"


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


def asset_nodes(port: int) -> dict[str, dict]:
    """{asset key: node} of what the UI at PORT serves."""
    nodes = graphql(port, NODES_QUERY)["data"]["assetNodes"]
    return {"/".join(n["assetKey"]["path"]): n for n in nodes}


def upstream(node: dict) -> set[str]:
    """The asset keys NODE (of `asset_nodes`) depends on."""
    return {"/".join(k["path"]) for k in node["dependencyKeys"]}


def serve_with_dbtscaffold_dev(dagster_dir: Path, tmp_path: Path) -> dict[str, dict]:
    """`dbtscaffold dev --port P` from DAGSTER_DIR: {asset key: node} it served; stopped by
    SIGINT, with nothing left running."""
    port = free_port()
    dev = Dev(["--port", port], cwd=dagster_dir, env=isolated_env(tmp_path))
    try:
        ready = dev.wait_for("Dagster UI ready")
        nodes = asset_nodes(port)
        pgid = dev.dagster_pgid()
        dev.watch()
        os.kill(dev.popen.pid, signal.SIGINT)
        took, left = wait_gone(pgid, dev.seen, STOP_LIMIT)
        code = dev.finish()
        print(f"dbtscaffold dev: ready in {ready:.1f} s, all gone {took:.1f} s after SIGINT")
        assert not left, f"still running after {STOP_LIMIT} s: {left}\n{dev.stderr}"
        assert code == 0, dev.stderr
        return nodes
    finally:
        dev.kill_all()
