"""A scaffolded example to copy, snapshots of its trees, journals, and mounts (tmpfs, ro).

The reliability suites run the CLI against a copy of one scaffolded example (the dbt project
plus the Dagster project `init` made for it, the session's `initialized_template` of
tests/conftest.py): `copy_template` per case.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.trees import digest, tree_hash

DBT = "jaffle_shop"
DAGSTER = "jaffle_shop_dagster"
PACKAGE = "jaffle_shop_dagster"

# Folders that are not part of what a command promises to keep: Python's bytecode cache,
# dbt's own output, Dagster's instance folder.
NOISE_DIRS = frozenset({"__pycache__", "target", "logs", ".dagster_home"})
STATE = ".dbtscaffold"


def snapshot(root: Path, *, state: bool = False) -> dict[str, str]:
    """The tree hash of ROOT without NOISE_DIRS; without STATE, the `.dbtscaffold` folders
    (journals, backups, the lock) are left out too; with it, only the lock file is (holding
    a lock leaves the file, by design)."""
    return tree_hash(root, NOISE_DIRS if state else NOISE_DIRS | {STATE}, skip_lock=True)


__all__ = ["digest", "snapshot"]


def journals(dagster_dir: Path) -> dict[str, str]:
    """{backup folder: status} of every journal in the Dagster project's state folder."""
    out = {}
    base = dagster_dir / STATE / "backups"
    if base.is_dir():
        for d in sorted(base.iterdir()):
            j = d / "journal.json"
            if j.is_file():
                try:
                    out[d.name] = json.loads(j.read_text()).get("status", "?")
                except ValueError:
                    out[d.name] = "corrupt"
    return out


def copy_template(template: Path, dest: Path) -> Path:
    """A fresh copy of TEMPLATE's two projects in DEST (which may already exist, empty)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (DBT, DAGSTER):
        shutil.copytree(template / name, dest / name, symlinks=True)
    return dest


# --- mounts (tmpfs for a full disk, read-only binds) -------------------------------------


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=False, capture_output=True, text=True, timeout=60)


_MOUNT_PROBE: list[str | None] = []


def mount_problem() -> str | None:
    """None when this process may mount a tmpfs (and bind read-only); else why not."""
    if _MOUNT_PROBE:
        return _MOUNT_PROBE[0]
    reason = None
    if not shutil.which("mount") or not shutil.which("umount"):
        reason = "no mount/umount command"
    else:
        with tempfile.TemporaryDirectory(prefix="dbtscaffold-mount-probe-") as d:
            r = _run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d)
            if r.returncode != 0:
                reason = f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}"
            else:
                _run("umount", d)
    _MOUNT_PROBE.append(reason)
    return reason


class Mounts:
    """Mounts made by one test, all undone at teardown (lazily if something holds them)."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def tmpfs(self, where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        r = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
        assert r.returncode == 0, r.stderr
        self.points.append(where)
        return where

    def read_only(self, where: Path) -> Path:
        """Bind WHERE over itself, read-only: even root gets EROFS there."""
        r = _run("mount", "--bind", str(where), str(where))
        assert r.returncode == 0, r.stderr
        self.points.append(where)
        r = _run("mount", "-o", "remount,bind,ro", str(where))
        assert r.returncode == 0, r.stderr
        return where

    def undo(self) -> None:
        for p in reversed(self.points):
            if _run("umount", str(p)).returncode != 0:
                _run("umount", "-l", str(p))
        self.points.clear()


def fill_disk(filler: Path, leave_pages: int = 0) -> None:
    """Write FILLER until its filesystem is full, then give back LEAVE_PAGES pages (4 KiB)."""
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    if leave_pages:
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - leave_pages * 4096))
