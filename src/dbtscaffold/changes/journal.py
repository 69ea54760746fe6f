"""The state of a Dagster project's changes in `.dbtscaffold/`: its lock and the journals.

Layout::

    lock                           held (flock) by the one command changing the project
    backups/<stamp>/journal.json   what was changed, each file's before/after hash, status
    backups/<stamp>/before.bin     the bytes of every file as it was before, one after another
                                   (each journal entry gives its `offset` and `size`)
    backups/<stamp>/files/<n>      the same, one file each (backups of dbtscaffold <= 0.2.0.dev0)

One file for all the old bytes rather than one file each: a change of 500 files then
creates 500 files fewer, and creating a file costs about 0.2 ms here (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dbtscaffold.changes.files import check_confined, os_error, sha256, write_atomic
from dbtscaffold.errors import UserError

BACKUPS = "backups"
JOURNAL = "journal.json"
PACK = "before.bin"
LOCK = "lock"
# How many changes `undo` can go back through; older backups are deleted after each change.
KEEP_ENV = "DBTSCAFFOLD_KEEP_BACKUPS"
DEFAULT_KEEP = 20


def keep_count() -> int:
    """How many backups to keep: DBTSCAFFOLD_KEEP_BACKUPS, else 20 (at least 1)."""
    try:
        return max(1, int(os.environ.get(KEEP_ENV, DEFAULT_KEEP)))
    except ValueError:
        return DEFAULT_KEEP


class StateLockBusy(UserError):
    """STATE_DIR/lock stayed held by another process for the whole wait."""

    def __init__(self, lock: Path) -> None:
        self.lock = lock
        super().__init__(
            f"Another dbtscaffold command is changing this project (lock `{lock}`); "
            "wait for it to finish and retry."
        )


def _check_state_dir(state_dir: Path) -> None:
    # Backups and journals stay inside the project: never follow a link out of it.
    check_confined(state_dir / LOCK, (state_dir.parent,))
    if state_dir.is_symlink():
        raise UserError(
            f"Refusing to use `{state_dir}`: it is a symbolic link; replace it with a folder."
        )


@contextlib.contextmanager
def state_lock(state_dir: Path, *, wait: float = 30.0) -> Iterator[None]:
    """Hold an exclusive lock on STATE_DIR/lock (created if needed) for one command.

    Gives up with StateLockBusy after WAIT seconds.
    """
    import fcntl

    _check_state_dir(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(state_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise os_error(e, "write", state_dir / LOCK) from e
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StateLockBusy(state_dir / LOCK) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def first_state_lock(state_dir: Path) -> Iterator[bool]:
    """Create STATE_DIR/lock already locked and hold it (True); False if it exists.

    Every command that changes a project takes its lock, creating the file first. So a
    command that found no lock file, read the project, and then creates it here knows no
    other command changed the project meanwhile (convert-seed then need not read it again).
    The file is made under a temporary name, locked, and linked into place, so no other
    command can take it between its creation and the lock.
    """
    import fcntl

    _check_state_dir(state_dir)
    tmp = state_dir / f".{LOCK}.{os.getpid()}-{time.monotonic_ns()}.tmp"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise os_error(e, "write", state_dir / LOCK) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it
        try:
            os.link(tmp, state_dir / LOCK)
        except OSError:  # there already (or no hard links here): take the usual way
            os.close(fd)
            fd = -1
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        yield fd >= 0
    finally:
        if fd >= 0:
            os.close(fd)


def new_backup_dir(state_dir: Path) -> Path:
    """A new, empty backup folder that sorts after every existing one."""
    base = state_dir / BACKUPS
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    # After the newest of this second (older ones may have been pruned: never reuse a number).
    taken = [p.name for p in base.iterdir() if p.name.startswith(f"{stamp}-")]
    n = max((int(t.rpartition("-")[2]) for t in taken if t[-3:].isdigit()), default=-1) + 1
    while True:
        d = base / f"{stamp}-{n:03d}"
        try:
            d.mkdir()
            return d
        except FileExistsError:
            n += 1


def journal_text(journal: dict[str, object]) -> str:
    """JOURNAL as JSON, one line per file entry.

    Not `indent=`: with it, json encodes in Python rather than C, and a change of a
    thousand files is written twice (pending, then applied).
    """
    files = journal.get("files")
    if not isinstance(files, list) or not files:
        return json.dumps(journal)
    rest = json.dumps({k: v for k, v in journal.items() if k != "files"})
    entries = ",\n  ".join(json.dumps(f) for f in files)
    return (rest[:-1] + ", " if len(rest) > 2 else "{") + f'"files": [\n  {entries}\n]}}\n'


def backup_bytes(backup_dir: Path, entry: dict[str, Any], packs: dict[str, bytes]) -> bytes:
    """The old bytes of a journal ENTRY that has a backup (PACKS caches the files read).

    A UserError when they are missing or are not what the journal says they were.
    """
    try:
        name = str(entry["backup"])
        if "offset" in entry:
            if name not in packs:
                packs[name] = (backup_dir / name).read_bytes()
            start = int(entry["offset"])
            data = packs[name][start : start + int(entry["size"])]
        else:
            data = (backup_dir / name).read_bytes()
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UserError(
            f"The backup of `{entry.get('path')}` in `{backup_dir}` cannot be read ({e}); "
            "restore that file by hand (from version control)."
        ) from None
    expected = entry.get("before_sha256")
    if expected is not None and sha256(data) != expected:
        raise UserError(
            f"The backup of `{entry['path']}` in `{backup_dir}` is damaged (its hash differs "
            "from the journal's); restore that file by hand (from version control)."
        )
    return data


def write_journal(backup_dir: Path, journal: dict[str, object]) -> None:
    write_atomic(backup_dir / JOURNAL, journal_text(journal).encode())


def pending_journal(state_dir: Path) -> Path | None:
    """The backup folder of a change that was interrupted (killed) while applying."""
    found = last_journal(state_dir)
    if found is not None and found[1].get("status") in ("pending", "undoing"):
        return found[0]
    return None


def _journals(state_dir: Path) -> list[Path]:
    base = state_dir / BACKUPS
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / JOURNAL).is_file())


def last_journal(state_dir: Path) -> tuple[Path, dict[str, object]] | None:
    """The newest journal that is applied or pending (not yet undone)."""
    for d in reversed(_journals(state_dir)):
        try:
            j = json.loads((d / JOURNAL).read_text(encoding="utf-8"))
            if not isinstance(j, dict) or not isinstance(j.get("files", []), list):
                raise TypeError("not a journal")
        except (OSError, ValueError, TypeError) as e:
            raise UserError(
                f"The journal `{d / JOURNAL}` is damaged ({e}), so that change cannot be undone; "
                f"remove the folder `{d}` to forget it."
            ) from None
        if j.get("status") in ("applied", "pending", "undoing"):
            return d, j
    return None


def prune_backups(state_dir: Path, keep: int | None = None) -> int:
    """Delete all but the newest KEEP backups (a pending one is never deleted); how many went."""
    import shutil

    keep = keep_count() if keep is None else keep
    old = _journals(state_dir)[:-keep] if keep else _journals(state_dir)
    gone = 0
    for d in old:
        try:
            status = json.loads((d / JOURNAL).read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError, AttributeError):
            status = None
        if status in ("pending", "undoing"):
            continue  # an interrupted change: undo still needs it
        shutil.rmtree(d, ignore_errors=True)
        gone += 1
    return gone
