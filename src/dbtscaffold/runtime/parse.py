"""Parse on load: the manifest the dbt assets are built from, parsed only when needed.

`prepare_manifest(project)` takes a dagster_dbt.DbtProject. When parse on load is on (see
`parse_on_load_enabled`) and the fingerprint of what dbt reads matches the one recorded
with the last parse, and the manifest is still the file that parse wrote, the manifest is
reused and dbt is not started at all. Otherwise dbt parses (partial parsing on) into its
own state folder, and the manifest is copied into place atomically, under a lock, so that
concurrent loads never read a half-written file. When parse on load is off, the manifest
already there is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .fingerprint import dbt_command, fingerprint
from .locks import hold_for_load, parse_run_lock, release_after_import
from .profiles import ProfileError, profile_name, read_yaml

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DEV_CLI_ENV = "DAGSTER_IS_DEV_CLI"
FINGERPRINT_FILE = "dbtscaffold_fingerprint.json"
STATE_DIR = "dbtscaffold_parse"


def parse_on_load_enabled() -> bool:
    """Whether the definitions parse the dbt project when they load.

    On when DAGSTER_DBT_PARSE_PROJECT_ON_LOAD is 1/true/yes/on, or when it is unset and
    DAGSTER_IS_DEV_CLI is set (as `dagster dev` and `dg dev` do, like dagster-dbt's
    prepare_if_dev); 0/false/no/off (or any other value) turn it off everywhere.
    """
    value = os.environ.get(PARSE_ON_LOAD_ENV)
    if value is None or not value.strip():
        return bool(os.environ.get(DEV_CLI_ENV))
    return value.strip().lower() in ("1", "true", "yes", "on")


def _read_record(target_path: Path) -> dict[str, object]:
    try:
        record = json.loads((target_path / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _file_id(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _is_current(target_path: Path, current: str) -> bool:
    """True when the last parse saw CURRENT and target/manifest.json is still its output."""
    record = _read_record(target_path)
    if record.get("fingerprint") != current:
        return False
    # A `dbt build` run by hand rewrites target/manifest.json (maybe with other vars or
    # another target): then it is not the manifest our parse wrote.
    manifest_id = _file_id(target_path / "manifest.json")
    return manifest_id is not None and record.get("manifest") == manifest_id


def _write_atomic(path: Path, data: bytes | None = None, src: Path | None = None) -> None:
    """Write DATA (or a copy of SRC) to PATH so that readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode follows umask
    try:
        with os.fdopen(fd, "wb") as f:
            if src is not None:
                with open(src, "rb") as s:
                    shutil.copyfileobj(s, f, 1 << 20)
            else:
                f.write(data or b"")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# What dbt's output says when its files could not be written for want of room.
_DISK_FULL = ("No space left on device", "File too large", "Disk quota exceeded")


class ManifestWriteError(OSError):
    """The parsed manifest could not be put in place (a full disk); the old one is kept."""


class DbtError(RuntimeError):
    """dbt exited with an error; the message ends with the tail of its output."""


def _run_dbt(args: list[str], project_dir: Path, profiles_dir: Path) -> None:
    cmd = [
        *dbt_command(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir),
    ]
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(
        cmd, cwd=project_dir, env=env, capture_output=True, text=True, errors="replace", check=False
    )
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        tail = "\n".join(output.strip().splitlines()[-25:])
        for reason in _DISK_FULL:
            if reason in output:
                raise DbtError(
                    f"`dbt {args[0]}` could not write its output for {project_dir} ({reason}); "
                    f"free some space and try again.\n{tail}"
                )
        raise DbtError(f"`dbt {args[0]}` failed in {project_dir} (exit {proc.returncode}):\n{tail}")


def run_dbt_parse(project_dir: Path, profiles_dir: Path, state_dir: Path) -> Path:
    """Run `dbt parse` (partial parsing on) writing into STATE_DIR; return its manifest."""
    manifest = state_dir / "manifest.json"
    # The last parse's manifest must not pass for this one's if dbt fails to write it.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(manifest)
    _run_dbt(["parse", "--target-path", str(state_dir)], project_dir, profiles_dir)
    if not manifest.is_file():
        raise DbtError(f"`dbt parse` wrote no manifest in {state_dir}")
    return manifest


def _prepare(
    project_dir: Path,
    profiles_dir: Path,
    target_path: Path,
    packages: tuple[str, ...] = (),
) -> Path:
    """TARGET_PATH/manifest.json for the project as it is now, parsing only if it changed."""
    project_dir = Path(project_dir).resolve()
    target_path = Path(target_path)
    if not target_path.is_absolute():
        target_path = project_dir / target_path
    manifest = target_path / "manifest.json"
    # Shared with other loads, exclusive of changes (see locks.py): from the fingerprint
    # to the end of the import of the definitions, this load sees the project as it was
    # before a change or after it, never halfway.
    release = hold_for_load(target_path)
    try:
        if not _is_current(
            target_path, fingerprint(project_dir, profiles_dir, target_path, packages)
        ):
            with parse_run_lock(target_path):
                # Another load may have parsed while we waited.
                current = fingerprint(project_dir, profiles_dir, target_path, packages)
                if not _is_current(target_path, current):
                    _parse(project_dir, profiles_dir, target_path, packages, current)
    except BaseException:
        release()
        raise
    release_after_import(release)
    return manifest


def _parse(
    project_dir: Path,
    profiles_dir: Path,
    target_path: Path,
    packages: tuple[str, ...],
    current: str,
) -> None:
    """Parse into TARGET_PATH/manifest.json, recorded with CURRENT if nothing changed meanwhile."""
    manifest = target_path / "manifest.json"
    state_dir = target_path / STATE_DIR
    if _read_record(target_path).get("project_dir") != str(project_dir):
        # Seeds carry an absolute root_path that partial parsing would keep after the
        # project moved (see dagster-io/dagster#33471): parse from scratch.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(state_dir / "partial_parse.msgpack")
    started = time.time()
    try:
        parsed = run_dbt_parse(project_dir, profiles_dir, state_dir)
    except DbtError as e:
        # Packages declared but not installed: install them and parse again, as
        # dagster-dbt's DbtProject.prepare_if_dev() does.
        if 'Run "dbt deps"' not in str(e):
            raise
        _run_dbt(["deps"], project_dir, profiles_dir)
        current = fingerprint(project_dir, profiles_dir, target_path, packages)
        parsed = run_dbt_parse(project_dir, profiles_dir, state_dir)
    # No record while the manifest is replaced: a crash in between leaves none, so the
    # next load parses again instead of trusting a record of another manifest.
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target_path / FINGERPRINT_FILE)
        _write_atomic(manifest, src=parsed)
    except OSError as e:
        raise ManifestWriteError(
            f"Could not write the dbt manifest `{manifest}` ({e.strerror or e}); free some "
            "space (or make the folder writable) and try again."
        ) from e
    # Changes made through dbtscaffold wait for the lock we hold; an editor does not. If
    # the files changed while dbt read them, the manifest may mix both: serve it to this
    # load, but record nothing, so the next load parses again.
    if fingerprint(project_dir, profiles_dir, target_path, packages) != current:
        return
    record = {
        "fingerprint": current,
        "manifest": _file_id(manifest),
        "project_dir": str(project_dir),
        "parsed_at": started,
    }
    with contextlib.suppress(OSError):  # without a record, the next load parses again
        _write_atomic(target_path / FINGERPRINT_FILE, json.dumps(record).encode())


class ManifestMissingError(FileNotFoundError):
    """Parse on load is off and the dbt project has no manifest."""


def _adapter_packages(profiles_dir: Path, project_dir: Path) -> tuple[str, ...]:
    """The adapter packages of the targets of the profile in use (for the fingerprint)."""
    try:
        profiles = read_yaml(Path(profiles_dir) / "profiles.yml") or {}
        profile = profiles.get(profile_name(project_dir)) or {}
        types = {str(cfg.get("type", "")) for cfg in (profile.get("outputs") or {}).values()}
    except (ProfileError, AttributeError, TypeError):
        return ()
    return tuple(sorted(f"dbt-{t.replace('_', '-')}" for t in types if t))


def prepare_manifest(project: Any, *, always: bool = False) -> Path:
    """The manifest of PROJECT (a dagster_dbt.DbtProject) that the dbt assets are built from.

    With parse on load on (or ALWAYS, as when packaging), the project is parsed first if
    anything dbt reads changed since the last parse; otherwise the manifest must already be
    there (made by `dbt parse` or packaged with the code).
    """
    manifest = Path(project.manifest_path)
    if not always and not parse_on_load_enabled():
        if not manifest.is_file():
            value = os.environ.get(PARSE_ON_LOAD_ENV)
            if value is not None and value.strip():
                how = (
                    f"{PARSE_ON_LOAD_ENV}={value.strip()} turns parse on load off; set it to 1 "
                    "(or unset it under `dagster dev`), run `dbtscaffold dev`, or"
                )
            else:
                how = (
                    f"run `dbtscaffold dev` or `dagster dev` (they parse the dbt project when "
                    f"the definitions load), set {PARSE_ON_LOAD_ENV}=1, or"
                )
            raise ManifestMissingError(
                f"{manifest} does not exist and parse on load is off: {how} run `dbt parse` "
                f"in {project.project_dir} first."
            )
        return manifest
    project_dir = Path(project.project_dir)
    profiles_dir = Path(project.profiles_dir)
    target_path = project_dir / project.target_path
    return _prepare(
        project_dir, profiles_dir, target_path, _adapter_packages(profiles_dir, project_dir)
    )
