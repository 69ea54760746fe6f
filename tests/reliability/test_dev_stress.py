"""`dbtscaffold dev` under stress: start/stop cycles in a row, SIGINT and SIGTERM, on one port.

Every cycle of a run (CYCLES: two runs) starts the installed CLI in its own session on the
run's loopback port, stops it either once the UI is ready or at a random moment of start-up (while `dagster dev`
is still spawning its webserver, daemon and code server), and then requires:

- dbtscaffold exits 0 within STOP_LIMIT seconds, without a traceback,
- no process it started is left: none of the descendants seen while it ran (psutil.Process
  objects, pid and creation time, so a reused pid is not mistaken for a survivor), none in
  `dagster dev`'s process group, and none working in the project folder,
- the port is free again: nothing answers there, it can be listened on, and the run's next
  cycle to wait for the UI starts it on that port.

SIGINT goes to dbtscaffold's whole process group, as a terminal's Ctrl-C does; SIGTERM
to the dbtscaffold process only, as `kill` or a supervisor does.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.cli import CLI, isolated_env
from tests.helpers.dev import is_living
from tests.helpers.ports import free_port
from tests.helpers.projects import DAGSTER, copy_template

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups"),
    pytest.mark.slow,
    pytest.mark.dev_server,
]

READY_TIMEOUT = 240.0
STOP_LIMIT = 15.0
# (signal, when): "ready" = after the UI answers, "startup" = at a random moment before.
# Two runs of cycles in a row, each on a port of its own, so that they run side by side on two
# workers: a stop once ready, then a start to ready on that port; stops during start-up, then
# a start to ready on that port.
CYCLES = {
    "after_ready": [
        (signal.SIGINT, "ready"),
        (signal.SIGTERM, "ready"),
    ],
    "during_startup": [
        (signal.SIGINT, "startup"),
        (signal.SIGTERM, "startup"),
        (signal.SIGINT, "ready"),
    ],
}


def _group(pgids: set[int]) -> list[int]:
    """Living processes whose process group is one of PGIDS."""
    out = []
    for pid in psutil.pids():
        try:
            if pid > 0 and os.getpgid(pid) in pgids and is_living(psutil.Process(pid)):
                out.append(pid)
        except (OSError, psutil.Error):
            pass
    return out


class Watcher:
    """Remembers every descendant of ROOT (psutil.Process: pid and creation time)."""

    def __init__(self, root: int) -> None:
        self.root = psutil.Process(root)
        self.seen: set[psutil.Process] = set()
        self.pgids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scan()
            self._stop.wait(0.1)

    def scan(self) -> None:
        # The root, and each remembered process whose parent is not remembered (orphans):
        # the others are found again below their parents.
        roots = [self.root]
        pids = {p.pid for p in self.seen}
        for p in list(self.seen):
            try:
                if is_living(p) and p.ppid() not in pids:
                    roots.append(p)
            except psutil.Error:
                pass
        for root in roots:
            try:
                kids = root.children(recursive=True)
            except psutil.Error:
                continue
            for kid in kids:
                if kid in self.seen or not is_living(kid):
                    continue
                try:
                    self.pgids.add(os.getpgid(kid.pid))
                except OSError:
                    continue
                self.seen.add(kid)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def survivors(self) -> list[int]:
        left = [p.pid for p in list(self.seen) if is_living(p)]
        left += _group(self.pgids - {os.getpgid(0)})
        return sorted(set(left))

    def kill_all(self) -> None:
        """Clean-up only, so a failing test leaves nothing behind either."""
        for p in list(self.seen):
            try:
                p.kill()  # psutil refuses a pid that now belongs to another process
            except psutil.Error:
                pass


def _in_project(project: Path) -> list[int]:
    found = []
    for p in psutil.process_iter():
        if not is_living(p):
            continue
        try:
            cwd = p.cwd()
        except psutil.Error:
            continue
        if cwd == str(project) or cwd.startswith(str(project) + os.sep):
            found.append(p.pid)
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False  # something still answers
    with socket.socket() as s:
        # As uvicorn and `dbtscaffold dev` do: a port in TIME_WAIT is free to listen on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def project(template, tmp_path_factory) -> Path:
    return copy_template(template, tmp_path_factory.mktemp("stress")) / DAGSTER


def _cycle(
    project: Path, port: int, sig: signal.Signals, when: str, rng: random.Random, tmp: Path
) -> str:
    log = tmp / f"dev-{port}-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        dev = subprocess.Popen(
            [str(CLI), "dev", "--dagster-project-dir", str(project), "--port", str(port)],
            cwd=tmp,
            env=isolated_env(tmp),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    watcher = Watcher(dev.pid)
    try:
        started = time.monotonic()
        if when == "ready":
            while "Dagster UI ready" not in log.read_text(errors="replace"):
                assert dev.poll() is None, log.read_text()
                assert time.monotonic() - started < READY_TIMEOUT, log.read_text()
                time.sleep(0.1)
        else:
            time.sleep(rng.uniform(1.0, 6.0))
            assert dev.poll() is None, log.read_text()
        watcher.scan()
        assert watcher.seen, "dagster dev was not started"
        signalled = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(dev.pid, sig)  # Ctrl-C: the terminal signals the foreground group
        else:
            os.kill(dev.pid, sig)
        code = dev.wait(timeout=STOP_LIMIT + 30)
        deadline = signalled + STOP_LIMIT
        while watcher.survivors() and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - signalled
        watcher.stop()
        text = log.read_text(errors="replace")
        left = watcher.survivors()
        assert not left, f"still running {took:.1f} s after {sig.name}: {left}\n{text}"
        assert took <= STOP_LIMIT, text
        assert code == 0, f"exit {code}\n{text}"
        assert "Traceback" not in text, text
        if when == "ready":
            assert "Stopped dagster dev" in text, text
        assert not _in_project(project), "a process still works in the project folder"
        assert _port_is_free(port), f"port {port} is still taken after {sig.name}"
        return f"{sig.name} at {when}: {len(watcher.seen)} processes, all gone in {took:.1f} s"
    finally:
        watcher.stop()
        watcher.kill_all()
        if dev.poll() is None:
            dev.kill()
            dev.wait(timeout=10)


@pytest.mark.parametrize("cycles", list(CYCLES))
def test_dev_start_stop_cycles(project, tmp_path, cycles):
    port = free_port()
    rng = random.Random(6)
    reports = []
    for i, (sig, when) in enumerate(CYCLES[cycles], 1):
        reports.append(_cycle(project, port, sig, when, rng, tmp_path))
        print(f"cycle {i}: {reports[-1]}")
    assert len(reports) == len(CYCLES[cycles]) >= 2
    assert sum(len(c) for c in CYCLES.values()) >= 5
