"""Parse on load: dbt parses only when the fingerprint of what it reads differs from the one
recorded with the last parse (or target/manifest.json is no longer that parse's), into a
state folder of its own, under the locks of locks.py; the manifest is renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from .fingerprint import digest, fingerprint, inputs, run_dbt
from .locks import RUN_FILE, acquire, hold_for_load, release_after_import

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DEV_CLI_ENV = "DAGSTER_IS_DEV_CLI"
FINGERPRINT_FILE = "dbtscaffold_fingerprint.json"
STATE_DIR = "dbtscaffold_parse"
_DISK_FULL = ("No space left on device", "File too large", "Disk quota exceeded")


class DbtError(RuntimeError):
    """dbt exited with an error; the message ends with the tail of its output."""


class ManifestMissingError(FileNotFoundError):
    """Parse on load is off and the dbt project has no manifest."""


def parse_on_load_enabled() -> bool:
    """On with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1/true/yes/on, or when it is unset under
    `dagster dev`/`dg dev` (as dagster-dbt's prepare_if_dev); off with any other value."""
    value = (os.environ.get(PARSE_ON_LOAD_ENV) or "").strip().lower()
    return value in ("1", "true", "yes", "on") if value else bool(os.environ.get(DEV_CLI_ENV))


def read_record(target_path: Path) -> dict[str, Any]:
    """What the last parse recorded: its fingerprint, its manifest's file_id, ..."""
    with contextlib.suppress(OSError, ValueError):
        record = json.loads((target_path / FINGERPRINT_FILE).read_text(encoding="utf-8"))
        return record if isinstance(record, dict) else {}
    return {}


def file_id(path: Path) -> list[int] | None:
    """(inode, size, mtime) of PATH: a `dbt build` by hand that rewrote it changes it."""
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return [st.st_ino, st.st_size, st.st_mtime_ns]
    return None


def _is_current(target_path: Path, current: str) -> bool:
    record, manifest = read_record(target_path), file_id(target_path / "manifest.json")
    now = [record.get("manifest"), record.get("fingerprint")]
    return manifest is not None and now == [manifest, current]


def _run_dbt(args: list[str], project_dir: Path, profiles_dir: Path) -> None:
    dirs = ["--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]
    proc = run_dbt([*args, *dirs], project_dir)
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        tail = "\n".join(output.strip().splitlines()[-25:])
        for reason in (r for r in _DISK_FULL if r in output):
            raise DbtError(
                f"`dbt {args[0]}` could not write its output for {project_dir} ({reason}); free "
                f"some space and try again.\n{tail}"
            )
        raise DbtError(f"`dbt {args[0]}` failed in {project_dir} (exit {proc.returncode}):\n{tail}")


def _parse(project_dir: Path, profiles_dir: Path, target_path: Path) -> None:
    """Parse into TARGET_PATH/manifest.json, recorded if nothing changed while dbt read."""
    parts = inputs(project_dir, profiles_dir)
    state = target_path / STATE_DIR
    if read_record(target_path).get("project_dir") != str(project_dir):
        # A moved project: partial parsing would keep the seeds' old root_path
        # (dagster-io/dagster#33471), so parse from scratch.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(state / "partial_parse.msgpack")
    with contextlib.suppress(FileNotFoundError):  # never take the last parse's for this one's
        os.unlink(state / "manifest.json")
    started = time.time()
    args = ["parse", "--target-path", str(state)]
    try:
        _run_dbt(args, project_dir, profiles_dir)
    except DbtError as e:
        if 'Run "dbt deps"' not in str(e):  # packages declared, not installed: as dagster-dbt
            raise
        _run_dbt(["deps"], project_dir, profiles_dir)
        parts = inputs(project_dir, profiles_dir)
        _run_dbt(args, project_dir, profiles_dir)
    # Into place by a rename (same folder tree): loads see the old manifest or the new one.
    # No record meanwhile: a crash in between makes the next load parse again.
    manifest = target_path / "manifest.json"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target_path / FINGERPRINT_FILE)
    os.replace(state / "manifest.json", manifest)
    # An editor (unlike dbtscaffold's commands) does not wait for our lock: if the files changed
    # while dbt read them, serve this manifest but record nothing, so the next load parses.
    if fingerprint(project_dir, profiles_dir) == digest(parts):
        record: dict[str, Any] = {"fingerprint": digest(parts), "inputs": parts}
        record.update(manifest=file_id(manifest), project_dir=str(project_dir), parsed_at=started)
        with contextlib.suppress(OSError):  # torn or missing, it only makes the next load parse
            (target_path / FINGERPRINT_FILE).write_text(json.dumps(record), encoding="utf-8")


def prepare_manifest(project: Any, *, always: bool = False) -> Path:
    """The manifest of PROJECT (a dagster_dbt.DbtProject), parsed first when parse on load is
    on (or ALWAYS) and anything dbt reads changed since the last parse."""
    manifest = Path(project.manifest_path)
    if not always and not parse_on_load_enabled():
        if manifest.is_file():
            return manifest
        value = os.environ.get(PARSE_ON_LOAD_ENV) or "unset"
        raise ManifestMissingError(
            f"{manifest} does not exist and parse on load is off ({PARSE_ON_LOAD_ENV}={value}): "
            f"run `dbtscaffold dev` or `dagster dev`, set {PARSE_ON_LOAD_ENV}=1, or run "
            f"`dbt parse` in {project.project_dir} first."
        )
    project_dir, profiles_dir = Path(project.project_dir).resolve(), Path(project.profiles_dir)
    target_path = project_dir / project.target_path
    # Shared with other loads, exclusive of changes (locks.py): from the fingerprint to the end
    # of the import of the definitions, this load sees the project before a change or after it.
    release = hold_for_load(target_path)
    try:
        if not _is_current(target_path, fingerprint(project_dir, profiles_dir)):
            # One load parses; the others wait for it, and reuse its manifest.
            run = acquire(target_path / RUN_FILE, exclusive=True, timeout=None)
            try:
                if not _is_current(target_path, fingerprint(project_dir, profiles_dir)):
                    _parse(project_dir, profiles_dir, target_path)
            finally:
                os.close(run)
    except BaseException:
        release()
        raise
    release_after_import(release)
    return manifest
