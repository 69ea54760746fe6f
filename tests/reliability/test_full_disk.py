"""A full disk during `package` and during the parse on load: nothing half-written.

The projects live on a small tmpfs that the test fills to the last few pages before the
command runs, so that the write which fails lands at a different step each time (dbt's own
output, the manifest put in place, the packaged copy). Where mounting is not allowed, the
command runs with RLIMIT_FSIZE instead (SIGXFSZ ignored, so a write past the limit fails
with EFBIG as a full disk fails with ENOSPC), so the test still runs.

- `package`: exit 1, one line naming the cause and what to do, no traceback, and every
  file of both projects (journals and backups too) as before: the plan is all or nothing.
- parse on load: the load fails (or, with room enough, succeeds), target/manifest.json is
  always the last complete manifest, byte for byte, no temp file is left, nothing records
  a fingerprint for a manifest that is not there; with room again, the next load parses.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import CLI
from tests.helpers.projects import (
    DAGSTER,
    DBT,
    PACKAGE,
    Mounts,
    copy_template,
    fill_disk,
    mount_problem,
    snapshot,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.name != "posix", reason="tmpfs/rlimit"),
    pytest.mark.slow,
]

PAGE = 4096
FULL = ("No space left on device", "File too large")
PROGRESS = ("Preparing the dbt manifest", "Building the wheel")
LOAD = f"import {PACKAGE}.definitions as d; print(len(list(d.defs.assets)))"


class Disk:
    """ROOT, where writing can be made to fail: a filled tmpfs, else RLIMIT_FSIZE."""

    def __init__(self, where: Path) -> None:
        self.mounts: Mounts | None = None
        self.limit: int | None = None
        self.root = where
        if mount_problem() is None:
            self.mounts = Mounts()
            self.mounts.tmpfs(where, "24m")
        else:
            where.mkdir(parents=True)
        self.filler = where / "filler"

    def fill(self, leave_pages: int) -> None:
        """Leave LEAVE_PAGES pages free (with RLIMIT_FSIZE: files of that size at most)."""
        if self.mounts is not None:
            fill_disk(self.filler, leave_pages)
        else:
            self.limit = leave_pages * PAGE

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
        self.limit = None

    def run(self, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
        limit = self.limit

        def limited() -> None:
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # stays ignored across exec
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run(
            args,
            cwd=cwd,
            env=dict(os.environ, **env),
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=limited,
            check=False,
        )

    def close(self) -> None:
        self.free()
        if self.mounts is not None:
            self.mounts.undo()


@pytest.fixture
def disk(tmp_path):
    d = Disk(tmp_path / "disk")
    try:
        yield d
    finally:
        d.close()


def _temp_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") and p.is_file()
    )


def _one_line(proc: subprocess.CompletedProcess) -> str:
    """The one error line (progress lines such as "Preparing the dbt manifest" aside)."""
    lines = [
        line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(PROGRESS)
    ]
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_package_on_a_full_disk_is_one_line_and_changes_nothing(template, disk):
    root = copy_template(template, disk.root / "w")
    project = root / DAGSTER
    # 1. Never parsed: the manifest cannot be prepared.  2. Parsed: the copy cannot be made.
    for step, pages in (("parse", 0), ("copy", 64)):
        if step == "copy":
            prepared = disk.run([str(CLI), "package", "--dry-run"], cwd=project)
            assert prepared.returncode == 0, prepared.stderr
        before = snapshot(root, state=True)
        disk.fill(pages)
        try:
            line = _one_line(disk.run([str(CLI), "package"], cwd=project))
        finally:
            disk.free()
        print(f"{step}: {line}")
        assert any(reason in line for reason in FULL), line
        assert line.startswith("error: Could not"), line
        assert "free some space" in line.lower(), line
        assert snapshot(root, state=True) == before, step
        assert not _temp_files(root), _temp_files(root)
        manifest = root / DBT / "target" / "manifest.json"
        if manifest.exists():
            json.loads(manifest.read_bytes())  # complete, never half-written


def test_parse_on_load_on_a_full_disk_keeps_the_last_manifest(template, disk):
    root = copy_template(template, disk.root / "w")
    project, target = root / DAGSTER, root / DBT / "target"
    parse = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1"}
    first = disk.run([sys.executable, "-c", LOAD], cwd=project, **parse)
    assert first.returncode == 0, first.stderr[-3000:]
    last = (target / "manifest.json").read_bytes()
    model = root / DBT / "models" / "marts" / "customers.sql"
    failures = 0
    # Free pages: none (dbt cannot write); fewer than the manifest's 160 or so (dbt rewrites
    # its own files in place, the manifest goes in through a temp copy beside the old one).
    for i, pages in enumerate((0, 50, 120)):
        model.write_text(model.read_text() + f"\n-- full disk {i}\n")
        disk.fill(pages)
        try:
            load = disk.run([sys.executable, "-c", LOAD], cwd=project, **parse)
        finally:
            disk.free()
        now = (target / "manifest.json").read_bytes()
        assert not _temp_files(target), _temp_files(target)
        if load.returncode == 0:
            print(f"{pages} pages free: loaded")
            json.loads(now)
            last = now
            continue
        failures += 1
        # The exception's own line says what and what to do (Dagster shows it as the error).
        [error] = [
            line
            for line in load.stderr.splitlines()
            if ("DbtError: " in line or "ManifestWriteError: " in line)
        ][-1:] or [load.stderr[-3000:]]
        print(f"{pages} pages free: {error}")
        assert any(reason in error for reason in FULL), load.stderr[-3000:]
        assert "free some space" in error, error
        assert now == last  # the last complete manifest, untouched
        record = target / "dbtscaffold_fingerprint.json"
        if record.exists():  # it must not vouch for the manifest after the edit
            stat = os.stat(target / "manifest.json")
            rec = json.loads(record.read_text())
            assert rec["manifest"] == [stat.st_ino, stat.st_size, stat.st_mtime_ns]
    assert failures, "the disk was never full enough to fail a parse"
    # Room again: the next load parses and sees every edit.
    again = disk.run([sys.executable, "-c", LOAD], cwd=project, **parse)
    assert again.returncode == 0, again.stderr[-3000:]
    manifest = json.loads((target / "manifest.json").read_bytes())
    assert "-- full disk 2" in manifest["nodes"]["model.jaffle_shop.customers"]["raw_code"]
