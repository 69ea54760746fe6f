"""Apply a Plan all-or-nothing, with a backup of every file and a journal that undo reads.

The journal (journal.py) is written (status "pending") before the first file is touched,
and marked "applied" after the last. A run killed in between leaves a pending journal;
`dbtscaffold undo` (undo.py) puts every file back from it.

An apply is three phases (_back_up, _stage, _swap), each durable (fsynced) before the next
begins; a failure in any of them puts back what the earlier ones did (_roll_back).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dbtscaffold.changes.files import (
    WriteChecks,
    fault_hook,
    fsync_all,
    os_error,
    read_bytes_or_none,
    sha256,
    write_atomic,
    write_new,
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


@dataclass
class _Apply:
    """One apply under way: what it will do, and what it has done (for the roll-back)."""

    changes: list[FileChange]
    modes: dict[Path, int | None]  # of the files there now, from the checks' lstat
    staged: list[tuple[FileChange, Path | None]]  # each change and its temp file (None: delete)
    planned_dirs: list[Path]
    hook: Callable[[], None]
    created_dirs: list[Path] = field(default_factory=list)
    backup_dir: Path | None = None
    made_backups: bool = False  # backups/ itself was made by this apply
    journal: dict[str, object] = field(default_factory=dict)
    done: list[FileChange] = field(default_factory=list)
    current: Path | None = None  # the file being written, for the error message


def _mode_for(change: FileChange, mode: int | None, umask: int) -> int:
    """The mode of the file that replaces (MODE: the old one's) or creates CHANGE's path."""
    if mode is not None:
        return mode
    return (0o777 if change.executable else 0o666) & ~umask


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


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


def _staged(changes: list[FileChange]) -> list[tuple[FileChange, Path | None]]:
    """Each change and the temp file its new bytes are staged in (None: a deletion)."""
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    return [
        (c, None if c.after is None else c.path.parent / f".{c.path.name}.dbtscaffold-{token}.tmp")
        for c in changes
    ]


def _checked(plan: Plan, state_dir: Path | None) -> dict[Path, int | None]:
    """The refusals before anything is written; the modes of the files there now."""
    if state_dir is not None and pending_journal(state_dir) is not None:
        raise UserError(
            "A previous dbtscaffold change was interrupted before it finished; "
            "run `dbtscaffold undo` to restore the files first."
        )
    checks = WriteChecks(plan.roots)
    modes: dict[Path, int | None] = {}
    for c in plan.effective:
        checks.confined(c.path)
        modes[c.path] = checks.writable(c.path)
        if read_bytes_or_none(c.path) != c.before:
            raise UserError(
                f"`{c.path}` changed while dbtscaffold was planning; nothing was changed, run it again."
            )
    return modes


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
    modes = _checked(plan, state_dir)
    if not changes:
        return Applied([], None)
    run = _Apply(changes, modes, _staged(changes), _missing_dirs(changes), fault_hook())
    try:
        if state_dir is not None:
            _back_up(run, plan, state_dir, command)
        _stage(run)
        _swap(run)
        if run.backup_dir is not None:
            run.journal["status"] = "applied"
            write_journal(run.backup_dir, run.journal)
    except BaseException as e:
        _roll_back(run, e)
        raise
    # Reported once every file is in place: a failed run never lists files it then put back.
    for c in changes:
        if report:
            report(c.verb, c.path)
    pruned = prune_backups(state_dir) if state_dir is not None else 0
    return Applied(changes, run.backup_dir, pruned)


def _back_up(run: _Apply, plan: Plan, state_dir: Path, command: str) -> None:
    """Phase 1: back up what is there now, and journal everything we are about to do,
    before touching the project."""
    run.made_backups = not (state_dir / BACKUPS).is_dir()
    run.backup_dir = backup_dir = new_backup_dir(state_dir)
    entries = []
    pack: list[bytes] = []  # every old file's bytes, in one file (see journal.PACK)
    offset = 0
    for c, tmp in run.staged:
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
            entry["mode"] = run.modes[c.path]
            pack.append(c.before)
            offset += len(c.before)
        entries.append(entry)
    if pack:
        run.current = backup_dir / PACK
        # A fresh folder: no temp file and rename needed; the journal, written after the
        # folder is synced below, is what makes the backup count.
        write_new(run.current, b"".join(pack))
    # The backup folder and its pack on disk before the journal that points at them.
    fsync_all(dirs=[backup_dir, backup_dir.parent, state_dir, state_dir.parent])
    run.current = backup_dir / JOURNAL
    run.journal = {
        "command": command,
        "roots": [str(r) for r in plan.roots],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "pending",
        "created_dirs": [str(d) for d in run.planned_dirs],
        "files": entries,
    }
    write_journal(backup_dir, run.journal)


def _stage(run: _Apply) -> None:
    """Phase 2: every new file, next to its target under a temp name, on disk (fsynced)
    before any of them replaces an original."""
    for d in run.planned_dirs:
        run.hook()
        d.mkdir()
        run.created_dirs.append(d)
    umask = _umask()
    for c, tmp in run.staged:
        if tmp is None:
            continue
        run.hook()
        run.current = c.path
        mode = _mode_for(c, run.modes[c.path], umask)
        write_new(tmp, c.after, mode, sync=False)  # type: ignore[arg-type]
    run.current = None  # a file fsync_all cannot write is named by its error
    fsync_all(
        files=(tmp for _, tmp in run.staged if tmp is not None),
        dirs=(d.parent for d in run.created_dirs),
    )


def _swap(run: _Apply) -> None:
    """Phase 3: each staged file renamed over its target (or the target deleted), then
    the renames made durable: one fsync per folder they are in."""
    for c, tmp in run.staged:
        run.hook()
        run.current = c.path
        if tmp is not None:
            os.replace(tmp, c.path)
        else:
            os.unlink(c.path)
        run.done.append(c)
    run.current = None
    fsync_all(dirs=(c.path.parent for c in run.done))


def _roll_back(run: _Apply, e: BaseException) -> None:
    """Put back what RUN did before E; a UserError when that fails, or when E is an OSError."""
    try:
        _restore(run)
    except OSError as failed:
        # The journal stays pending, so `undo` can finish what the rollback could not.
        how = "run `dbtscaffold undo` to restore them" if run.backup_dir else "restore them by hand"
        where = run.current or getattr(e, "filename", None)
        raise UserError(
            f"Could not write `{where}` ({getattr(e, 'strerror', None) or e}), nor put "
            f"every file back ({failed.strerror or failed}); {how}."
        ) from e
    if run.backup_dir is not None:
        shutil.rmtree(run.backup_dir, ignore_errors=True)
        if run.made_backups:  # a first change that failed leaves no empty backups/ either
            with contextlib.suppress(OSError):
                run.backup_dir.parent.rmdir()
    if isinstance(e, OSError):
        raise os_error(e, "write", run.current) from e


def _restore(run: _Apply) -> None:
    for c in reversed(run.done):
        if c.before is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(c.path)
        else:
            write_atomic(c.path, c.before)
    for _, tmp in run.staged:
        if tmp is not None:
            # Best effort: a temp file never made (or a read-only folder) is no reason to stop.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    for d in reversed(run.created_dirs):
        with contextlib.suppress(OSError):
            d.rmdir()
