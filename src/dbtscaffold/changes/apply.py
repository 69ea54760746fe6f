"""Apply a Plan all-or-nothing, with a backup of every file and a journal that undo reads.

The journal (journal.py) is written (status "pending") before the first file is touched,
and marked "applied" after the last. A run killed in between leaves a pending journal;
`dbtscaffold undo` (undo.py) puts every file back from it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dbtscaffold.changes.files import (
    WriteChecks,
    fault_hook,
    fsync_dir,
    os_error,
    read_bytes_or_none,
    sha256,
    write_atomic,
)
from dbtscaffold.changes.journal import (
    BACKUPS,
    JOURNAL,
    PACK,
    new_backup_dir,
    pending_journal,
    prune_backups,
    write_journal,
)
from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.errors import UserError


@dataclass(frozen=True)
class Applied:
    changes: list[FileChange]
    backup_dir: Path | None
    pruned: int = 0  # old backups deleted (see journal.prune_backups)


def _mode_for(change: FileChange, mode: int | None, umask: int) -> int:
    """The mode of the file that replaces (MODE: the old one's) or creates CHANGE's path."""
    if mode is not None:
        return mode
    return (0o777 if change.executable else 0o666) & ~umask


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create PATH (it must not exist) holding DATA, with MODE.

    os.write and fchmod rather than open() and chmod: fewer system calls per file, and
    a plan may stage a thousand of them.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _missing_dirs(changes: list[FileChange]) -> list[Path]:
    """Folders the plan's new files need that do not exist yet, parents first."""
    missing: list[Path] = []
    for c in changes:
        if c.after is None:
            continue
        chain = []
        d = c.path.parent
        while not d.exists() and d not in missing:
            chain.append(d)
            d = d.parent
        missing.extend(reversed(chain))
    return missing


def apply_plan(
    plan: Plan,
    *,
    state_dir: Path | None,
    command: str,
    report: Callable[[str, Path], None] | None = None,
) -> Applied:
    """Write every effective change of PLAN, or none of them.

    Each file must still hold what the plan saw (`before`); otherwise nothing is
    written.  With STATE_DIR, the old bytes and a journal naming every file, temp
    file and folder about to be made are written first, so that a run killed at any
    moment can be put back by `undo`.
    """
    changes = plan.effective
    if state_dir is not None and pending_journal(state_dir) is not None:
        raise UserError(
            "A previous dbtscaffold change was interrupted before it finished; "
            "run `dbtscaffold undo` to restore the files first."
        )
    checks = WriteChecks(plan.roots)
    modes: dict[Path, int | None] = {}  # of the files there now, from the checks' lstat
    for c in changes:
        checks.confined(c.path)
        modes[c.path] = checks.writable(c.path)
        if read_bytes_or_none(c.path) != c.before:
            raise UserError(
                f"`{c.path}` changed while dbtscaffold was planning; nothing was changed, run it again."
            )
    if not changes:
        return Applied([], None)

    hook = fault_hook()
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    tmps = [
        (c, None if c.after is None else c.path.parent / f".{c.path.name}.dbtscaffold-{token}.tmp")
        for c in changes
    ]
    planned_dirs = _missing_dirs(changes)
    created_dirs: list[Path] = []
    backup_dir: Path | None = None
    made_backups = False
    done: list[FileChange] = []
    journal: dict[str, object] = {}
    current: Path | None = None  # the file being written, for the error message
    try:
        # 1. Back up what is there now, and journal everything we are about to do,
        #    before touching the project.
        if state_dir is not None:
            made_backups = not (state_dir / BACKUPS).is_dir()
            backup_dir = new_backup_dir(state_dir)
            entries = []
            pack: list[bytes] = []  # every old file's bytes, in one file (see journal.PACK)
            offset = 0
            for c, tmp in tmps:
                entry: dict[str, object] = {
                    "path": str(c.path),
                    "verb": c.verb,
                    "before_sha256": sha256(c.before),
                    "after_sha256": sha256(c.after),
                    "backup": None,
                    "mode": None,
                    "tmp": None if tmp is None else str(tmp),
                }
                if c.before is not None:
                    entry.update(backup=PACK, offset=offset, size=len(c.before))
                    entry["mode"] = modes[c.path]
                    pack.append(c.before)
                    offset += len(c.before)
                entries.append(entry)
            if pack:
                current = backup_dir / PACK
                # A fresh folder: no temp file and rename needed; the journal, written
                # after the sync below, is what makes the backup count.
                _write_new(current, b"".join(pack), 0o600)
            # Before the journal that points at the backups.
            os.sync()
            current = backup_dir / JOURNAL
            journal = {
                "command": command,
                "roots": [str(r) for r in plan.roots],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "status": "pending",
                "created_dirs": [str(d) for d in planned_dirs],
                "files": entries,
            }
            write_journal(backup_dir, journal)
            fsync_dir(backup_dir)
        # 2. Stage every new file next to its target.
        for d in planned_dirs:
            hook()
            d.mkdir()
            created_dirs.append(d)
        umask = _umask()
        for c, tmp in tmps:
            if tmp is None:
                continue
            hook()
            current = c.path
            mode = _mode_for(c, modes[c.path], umask)
            _write_new(tmp, c.after, mode)  # type: ignore[arg-type]
        # Every staged file is on disk before any of them replaces an original.
        os.sync()
        # 3. Swap the files in.
        for c, tmp in tmps:
            hook()
            current = c.path
            if tmp is not None:
                os.replace(tmp, c.path)
            else:
                os.unlink(c.path)
            done.append(c)
        current = None
        os.sync()  # the renames (one sync, not one fsync per folder)
        if backup_dir is not None:
            journal["status"] = "applied"
            write_journal(backup_dir, journal)
    except BaseException as e:
        try:
            _rollback(done, tmps, created_dirs)
        except OSError as failed:
            # The journal stays pending, so `undo` can finish what the rollback could not.
            how = "run `dbtscaffold undo` to restore them" if backup_dir else "restore them by hand"
            raise UserError(
                f"Could not write `{current}` ({getattr(e, 'strerror', None) or e}), nor put "
                f"every file back ({failed.strerror or failed}); {how}."
            ) from e
        if backup_dir is not None:
            shutil.rmtree(backup_dir, ignore_errors=True)
            if made_backups:  # a first change that failed leaves no empty backups/ either
                with contextlib.suppress(OSError):
                    backup_dir.parent.rmdir()
        if isinstance(e, OSError):
            raise os_error(e, "write", current) from e
        raise
    # Reported once every file is in place: a failed run never lists files it then put back.
    for c in changes:
        if report:
            report(c.verb, c.path)
    pruned = prune_backups(state_dir) if state_dir is not None else 0
    return Applied(changes, backup_dir, pruned)


def _rollback(
    done: list[FileChange],
    staged: list[tuple[FileChange, Path | None]],
    created_dirs: list[Path],
) -> None:
    for c in reversed(done):
        if c.before is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(c.path)
        else:
            write_atomic(c.path, c.before)
    for _, tmp in staged:
        if tmp is not None:
            # Best effort: a temp file never made (or a read-only folder) is no reason to stop.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    for d in reversed(created_dirs):
        with contextlib.suppress(OSError):
            d.rmdir()
