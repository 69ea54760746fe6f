"""Shared pieces of the reliability suites: a scaffolded template, tree snapshots, mounts.

Every suite here runs the installed CLI in subprocesses against a copy of one scaffolded
example (the dbt project plus the Dagster project `init` made for it). The template is
built once per module (once per xdist worker) and copied per case with shutil.copytree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli

DBT = "jaffle_shop"
DAGSTER = "jaffle_shop_dagster"
PACKAGE = "jaffle_shop_dagster"

# Folders that are not part of what a command promises to keep: Python's bytecode cache,
# dbt's own output, Dagster's instance folder.
NOISE_DIRS = frozenset({"__pycache__", "target", "logs", ".dagster_home"})
STATE = ".dbtscaffold"


def snapshot(root: Path, *, state: bool = False) -> dict[str, str]:
    """{relative path: sha256 | "dir" | "link:<target>"} of everything under ROOT.

    Without STATE, the `.dbtscaffold` folders (journals, backups, the lock) are left out;
    with it, only the lock file is (holding a lock leaves the file, by design).
    """
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in NOISE_DIRS and (state or d != STATE))
        rel = here.relative_to(root).as_posix()
        out[rel + "/"] = "dir"
        for d in dirnames:
            p = here / d
            if p.is_symlink():
                out[(here / d).relative_to(root).as_posix()] = "link:" + os.readlink(p)
        for f in sorted(filenames):
            p = here / f
            key = p.relative_to(root).as_posix()
            if here.name == STATE and f == "lock":
                continue
            if p.is_symlink():
                out[key] = "link:" + os.readlink(p)
            else:
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def digest(snap: dict[str, str]) -> str:
    """One short hash for a whole snapshot (what the case records print)."""
    return hashlib.sha256(json.dumps(snap, sort_keys=True).encode()).hexdigest()[:16]


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


def build_template(root: Path) -> Path:
    """ROOT/jaffle_shop (the example) and ROOT/jaffle_shop_dagster (after init); ROOT."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLE, root / DBT)
    run_cli("init", "--dbt-project-dir", root / DBT, "--output-dir", root, check=0, timeout=300)
    return root


def copy_template(template: Path, dest: Path) -> Path:
    """A fresh copy of TEMPLATE's two projects in DEST (which may already exist, empty)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (DBT, DAGSTER):
        shutil.copytree(template / name, dest / name, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One scaffolded example per module (and per xdist worker); copy it, never edit it."""
    return build_template(tmp_path_factory.mktemp("template"))


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


@pytest.fixture
def mounts():
    problem = mount_problem()
    if problem:
        pytest.skip(f"needs mount (tmpfs, read-only bind): {problem}")
    m = Mounts()
    try:
        yield m
    finally:
        m.undo()


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
