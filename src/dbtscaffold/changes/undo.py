"""`dbtscaffold undo`: restore every file of the last change from its journal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbtscaffold.changes.files import (
    check_confined,
    check_writable,
    fault_hook,
    read_bytes_or_none,
    sha256,
    write_atomic,
)
from dbtscaffold.changes.journal import backup_bytes, last_journal, write_journal
from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.errors import UserError


@dataclass(frozen=True)
class UndoResult:
    command: str
    restored: list[tuple[str, Path]]  # (verb, path)
    backup_dir: Path


def _checked_journal(state_dir: Path, force: bool) -> tuple[Path, dict[str, Any], list[Any]] | None:
    """(backup folder, journal, its files) of the last change, once it is safe to undo."""
    found = last_journal(state_dir)
    if found is None:
        return None
    backup_dir, journal = found
    files = journal["files"]
    assert isinstance(files, list)
    # "undoing": an undo that was stopped midway; its files are partly restored already.
    pending = journal.get("status") in ("pending", "undoing")
    listed = journal.get("roots") or []
    assert isinstance(listed, list)
    roots = tuple(Path(r) for r in listed)
    for e in files:
        if roots:
            check_confined(Path(e["path"]), roots)
        check_writable(Path(e["path"]))
    if not force and not pending:
        for e in files:
            now = sha256(read_bytes_or_none(Path(e["path"])))
            if now != e["after_sha256"]:
                raise UserError(
                    f"`{e['path']}` was edited after `dbtscaffold {journal['command']}`; "
                    "undo would lose that edit. Pass --force to restore anyway."
                )
    return backup_dir, journal, files


def plan_undo(state_dir: Path, *, force: bool = False) -> tuple[str, Plan] | None:
    """(command, plan) of what undo would restore, written nowhere; None if nothing to undo."""
    checked = _checked_journal(state_dir, force)
    if checked is None:
        return None
    backup_dir, journal, files = checked
    roots = tuple(Path(r) for r in journal.get("roots") or []) or (state_dir.parent,)
    plan = Plan(roots=roots, description=f"undo {journal['command']}")
    packs: dict[str, bytes] = {}
    for e in reversed(files):
        path = Path(e["path"])
        after = None if e["backup"] is None else backup_bytes(backup_dir, e, packs)
        now = read_bytes_or_none(path)
        if now is not None or after is not None:
            plan.add(FileChange(path, now, after))
    return str(journal["command"]), plan


def undo_last(
    state_dir: Path, *, force: bool = False, report: Callable[[str, Path], None] | None = None
) -> UndoResult | None:
    """Restore every file of the last change byte for byte; None when there is nothing to undo."""
    checked = _checked_journal(state_dir, force)
    if checked is None:
        return None
    backup_dir, journal, files = checked
    packs: dict[str, bytes] = {}
    # Every backup read and checked against its hash before the first file is touched.
    olds = [None if e["backup"] is None else backup_bytes(backup_dir, e, packs) for e in files]
    restored: list[tuple[str, Path]] = []
    journal["status"] = "undoing"
    try:
        write_journal(backup_dir, journal)
        _restore(files, olds, restored, report)
    except OSError as e:
        raise UserError(
            f"Could not restore `{e.filename or backup_dir}`: {e.strerror or e}; fix that and run "
            "`dbtscaffold undo` again to finish."
        ) from e
    for d in reversed(journal.get("created_dirs", [])):
        with contextlib.suppress(OSError):
            Path(d).rmdir()
    journal["status"] = "undone"
    write_journal(backup_dir, journal)
    return UndoResult(str(journal["command"]), restored, backup_dir)


def undo_tmp(path: Path) -> Path:
    """The temp file undo restores PATH through: one name, so a killed undo leaves no stray."""
    return path.parent / f".{path.name}.dbtscaffold-undo.tmp"


def _restore(
    files: list[Any],
    olds: list[bytes | None],
    restored: list[tuple[str, Path]],
    report: Callable[[str, Path], None] | None,
) -> None:
    hook = fault_hook()
    for e in files:
        for tmp in (e.get("tmp"), undo_tmp(Path(e["path"]))):
            if tmp:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    for e, data in reversed(list(zip(files, olds))):
        path = Path(e["path"])
        if data is None:
            if path.exists() or path.is_symlink():
                hook()
                os.unlink(path)
                restored.append(("delete", path))
        else:
            if read_bytes_or_none(path) != data:
                hook()
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, data, mode=e.get("mode"), tmp=undo_tmp(path))
                restored.append(("restore", path))
        if report and restored and restored[-1][1] == path:
            report(*restored[-1])
