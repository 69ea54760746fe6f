"""The locks' give-up path: another real process holds a lock, and a change gives up.

A `python` process takes the lock with flock(), as another dbtscaffold command (the
Dagster project's `.dbtscaffold/lock`) or a definitions load (the dbt project's
`target/.dbtscaffold_parse.lock`, shared) would, and keeps it. `convert-seed` and `undo`
then wait DBTSCAFFOLD_LOCK_TIMEOUT seconds (1 here, 30 by default) and stop with one line
that names the lock and the pid holding it, exit 1, no traceback, and every file of both
projects (the state folder's journals and backups included) exactly as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.projects import DAGSTER, DBT, STATE, copy_template, snapshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock, /proc/locks"),
    pytest.mark.slow,
]

HOLD = r"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX if sys.argv[2] == "exclusive" else fcntl.LOCK_SH)
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""
TIMEOUT = {"DBTSCAFFOLD_LOCK_TIMEOUT": "1"}


class Holder:
    """A real other process holding LOCK (exclusive or shared) until stopped."""

    def __init__(self, lock: Path, mode: str) -> None:
        lock.parent.mkdir(parents=True, exist_ok=True)
        self.popen = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(lock), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.popen.stdout.readline().strip() == "held"

    def stop(self) -> None:
        self.popen.stdin.close()
        self.popen.wait(timeout=30)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1, proc.stderr
    return lines[0]


STATE_LOCK = "another dbtscaffold command"
LOAD_LOCK = "a definitions load"
CASES = [
    (STATE_LOCK, "convert-seed"),
    (STATE_LOCK, "undo"),
    (LOAD_LOCK, "convert-seed"),
    (LOAD_LOCK, "undo"),
]


@pytest.mark.parametrize(("holder_kind", "command"), CASES, ids=[f"{h}-{c}" for h, c in CASES])
def test_a_change_gives_up_on_a_held_lock_in_one_line_and_changes_nothing(
    template, tmp_path, holder_kind, command
):
    root = copy_template(template, tmp_path / "w")
    if command == "undo":
        run_cli("convert-seed", "raw_customers", cwd=root / DBT, check=0)
    args = ["convert-seed", "raw_customers"] if command == "convert-seed" else ["undo"]
    if holder_kind == STATE_LOCK:
        lock = root / DAGSTER / STATE / "lock"
        holder = Holder(lock, "exclusive")
        start = "error: Another dbtscaffold command is changing this project"
    else:  # a load holds the dbt project's change lock shared while it loads
        lock = root / DBT / "target" / ".dbtscaffold_parse.lock"
        holder = Holder(lock, "shared")
        start = f"error: The dbt project `{root / DBT}` is being loaded or parsed"
    try:
        before = snapshot(root, state=True)
        line = _one_line(run_cli(*args, cwd=root / DBT, env=TIMEOUT))
        assert snapshot(root, state=True) == before
        if holder_kind == LOAD_LOCK:  # and the change made no lock file of its own there
            assert sorted(os.listdir(lock.parent)) == [
                ".dbtscaffold_parse.gate",
                ".dbtscaffold_parse.lock",
            ]
    finally:
        holder.stop()
    assert line.startswith(
        f"{start} (lock `{lock}`, held by pid {holder.popen.pid} "
        f"(`{Path(sys.executable).name} -c import fcntl"
    ), line
    assert line.endswith("); wait for it to finish and retry. Nothing was changed."), line
    # Once the lock is free, the same command goes through.
    run_cli(*args, cwd=root / DBT, env=TIMEOUT, check=0)


def test_nothing_to_do_takes_no_lock_and_never_waits(template, tmp_path):
    """A conversion already made is "Nothing to do" at once: no lock file made, no wait on a
    busy one (a read-only checkout, or another command at work, is no reason to fail)."""
    root = copy_template(template, tmp_path / "w")
    run_cli("convert-seed", "raw_customers", cwd=root / DBT, check=0)
    lock = root / DAGSTER / STATE / "lock"
    lock.unlink()
    proc = run_cli("convert-seed", "raw_customers", cwd=root / DBT, env=TIMEOUT, check=0)
    assert "Nothing to do" in proc.stderr
    assert not lock.exists()
    holder = Holder(lock, "exclusive")
    try:
        before = snapshot(root, state=True)
        proc = run_cli("convert-seed", "raw_customers", cwd=root / DBT, env=TIMEOUT, check=0)
        assert "Nothing to do" in proc.stderr
        assert snapshot(root, state=True) == before
    finally:
        holder.stop()
