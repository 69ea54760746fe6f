"""A `dbtscaffold dev` session whose UI reloads the code location every second while
`convert-seed` and then `undo` change the project: every reload loads the old graph or the
new one, never an error and never a mix, and the reloads after each change show its graph.

A real `dbtscaffold dev` on a free loopback port; a thread sends the UI's GraphQL
`reloadRepositoryLocation` (what Reload definitions does) once a second and records what
the location then serves: the asset keys with the op that makes each (raw_customers is made
by the dbt op while it is a seed, by its own loader op once converted) and the keys each
depends on, or the load error. The changes run with DBTSCAFFOLD_TEST_APPLY_DELAY (a sleep
before each file operation, see changes/apply.py), so that reloads land inside them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.cli import CLI, isolated_env
from tests.helpers.dev import (
    LOCATIONS,
    NODES_QUERY,
    STOP_LIMIT,
    Dev,
    graphql,
    reload_entry,
    wait_gone,
)
from tests.helpers.ports import free_port
from tests.helpers.projects import DAGSTER, DBT, copy_template

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups"),
    pytest.mark.slow,
    pytest.mark.dev_server,
]

RELOAD_EVERY = 1.0  # seconds between the end of one reload and the next
APPLY_DELAY = "0.15"  # seconds before each file operation of a change
Graph = frozenset  # of (asset key, op names, dependency keys)


def _graph(port: int) -> Graph:
    nodes = graphql(port, NODES_QUERY)["data"]["assetNodes"]
    return Graph(
        (
            "/".join(n["assetKey"]["path"]),
            tuple(sorted(n["opNames"])),
            tuple(sorted("/".join(k["path"]) for k in n["dependencyKeys"])),
        )
        for n in nodes
    )


def _reload(port: int, name: str) -> Graph | str:
    """Reload location NAME; the graph it serves then, or its error as text."""
    done = reload_entry(port, name)
    if done["__typename"] != "WorkspaceLocationEntry":
        return f"reload answered {done}"
    [entry] = graphql(port, LOCATIONS)["data"]["workspaceOrError"]["locationEntries"]
    error = entry["locationOrLoadError"]
    if error and error["__typename"] == "PythonError":
        chain = " | ".join(c["error"]["message"] for c in error["errorChain"])
        return f"{error['message'].strip()} {chain}".strip()
    return _graph(port)


class Reloader(threading.Thread):
    """Reloads the location every RELOAD_EVERY seconds until stopped; keeps every result."""

    def __init__(self, port: int, name: str) -> None:
        super().__init__(daemon=True)
        self.port, self.name = port, name
        self.results: list[tuple[float, float, Graph | str]] = []  # (start, end, result)
        self.halt = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                start = time.monotonic()
                result = _reload(self.port, self.name)
                self.results.append((start, time.monotonic(), result))
                shown = result[:300] if isinstance(result, str) else f"{len(result)} assets"
                print(f"reload {len(self.results)}: {time.monotonic() - start:.1f} s, {shown}")
                self.halt.wait(RELOAD_EVERY)
        except Exception as e:  # noqa: BLE001 - reported by the test, not lost in the thread
            self.failure = e

    def wait_for_reloads(self, n: int, timeout: float = 300) -> None:
        """Until N more reloads have finished."""
        target = len(self.results) + n
        deadline = time.monotonic() + timeout
        while len(self.results) < target:
            assert self.failure is None, self.failure
            assert time.monotonic() < deadline, "the reloads stopped"
            time.sleep(0.1)


def _change(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    start = time.monotonic()
    done = subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        env=dict(env, DBTSCAFFOLD_TEST_APPLY_DELAY=APPLY_DELAY),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return start, time.monotonic()


def test_reloads_while_convert_seed_and_undo_apply_see_old_or_new_graph(template, tmp_path):
    root = copy_template(template, tmp_path / "w")
    dagster_dir = root / DAGSTER
    env = isolated_env(tmp_path)
    port = free_port()
    dev = Dev(["--port", port], cwd=dagster_dir, env=env)
    reloader = None
    try:
        dev.wait_for("Dagster UI ready")
        [entry] = graphql(port, LOCATIONS)["data"]["workspaceOrError"]["locationEntries"]
        seed_graph = _graph(port)
        ops = {key: op for key, op, _ in seed_graph}
        assert ops["raw_customers"] == ops["stg_customers"], ops  # one dbt op makes both

        reloader = Reloader(port, entry["name"])
        reloader.start()
        reloader.wait_for_reloads(1)
        windows = []
        converted: Graph | None = None
        for step in ("convert-seed raw_customers", "undo"):
            windows.append(_change(step.split(), root / DBT, env))
            print(f"{step}: {windows[-1][1] - windows[-1][0]:.1f} s")
            reloader.wait_for_reloads(2)
            last = reloader.results[-1][2]
            assert not isinstance(last, str), last
            if step == "undo":
                assert last == seed_graph, "after undo, the seed's graph again"
            else:
                converted = last
                assert converted != seed_graph
                ops = {key: op for key, op, _ in converted}
                assert ops["raw_customers"] != ops["stg_customers"], ops  # its own loader op
        reloader.halt.set()
        reloader.join(timeout=300)
        assert reloader.failure is None, reloader.failure

        results = reloader.results
        errors = [r for _, _, r in results if isinstance(r, str)]
        mixed = [
            r for _, _, r in results if not isinstance(r, str) and r not in (seed_graph, converted)
        ]
        during = [r for s, e, r in results if any(s < we and e > ws for ws, we in windows)]
        print(
            f"{len(results)} reloads, {len(during)} overlapping a change "
            f"(windows {[round(e - s, 1) for s, e in windows]} s); errors {len(errors)}"
        )
        assert not errors, errors[0]
        assert not mixed, sorted(mixed[0] ^ seed_graph)
        assert converted in [r for _, _, r in results]  # after convert-seed, the new graph
        assert during, "no reload overlapped a change, so this proved nothing"

        pgid = dev.dagster_pgid()
        dev.watch()
        os.kill(dev.popen.pid, signal.SIGINT)
        _, left = wait_gone(pgid, dev.seen, STOP_LIMIT)
        assert dev.finish() == 0, dev.stderr
        assert not left, left
    finally:
        if reloader is not None:
            reloader.halt.set()
        dev.kill_all()
