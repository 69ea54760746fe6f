"""The locks that keep a definitions load and a change to the project apart.

Files in the dbt project's target folder, locked with flock() (the kernel drops a lock
when its process dies, so a killed process never leaves the project locked):

- `.dbtscaffold_parse.lock`, the change lock. A command that changes files a load reads
  (convert-seed, undo, init --force, package) holds it exclusively while it writes. A load
  with parse on load holds it shared from before it fingerprints the dbt project until the
  module that started it (the definitions) is imported: it reads every file, the dbt
  project's and the Python modules it imports after the manifest (seed_assets.py),
  either before a change or after it, never in between.
- `.dbtscaffold_parse.gate`, a turnstile. A change holds it exclusively before it asks for
  the change lock; a load passes it (shared, for a moment) before it asks. So a stream of
  overlapping loads (a run's worker processes, reloads) cannot starve a change.
- `.dbtscaffold_parse.run`, held exclusively by the one load that runs `dbt parse`.

Loads of older runtime copies take the change lock exclusively to parse, which still
excludes changes. On Windows (msvcrt has no shared locks) every lock is exclusive. The
change side (`project_lock`, and who holds a lock) is in change_lock.py, which the CLI
uses and generated projects do not carry.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_FILE = ".dbtscaffold_parse.lock"
GATE_FILE = ".dbtscaffold_parse.gate"
RUN_FILE = ".dbtscaffold_parse.run"
# How long a lock is waited for when another process holds it (seconds), for every lock.
TIMEOUT_ENV = "DBTSCAFFOLD_LOCK_TIMEOUT"


def lock_timeout(default: float) -> float:
    """Seconds to wait for a lock: DBTSCAFFOLD_LOCK_TIMEOUT if it is a number, else DEFAULT."""
    try:
        return max(0.0, float(os.environ.get(TIMEOUT_ENV, "")))
    except ValueError:
        return default


class LockBusyError(TimeoutError):
    """A lock stayed held by another process for longer than the wait allowed."""

    def __init__(self, path: Path, waited: float) -> None:
        self.path = path
        super().__init__(f"`{path}` stayed locked for {waited:.0f} s")


def _flock(fd: int, exclusive: bool, blocking: bool) -> None:
    if os.name == "nt":
        import msvcrt

        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        while True:
            try:
                msvcrt.locking(fd, mode, 1)  # LK_LOCK retries for ~10 s itself
                return
            except OSError:
                if not blocking:
                    raise BlockingIOError from None
    else:
        import fcntl

        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        fcntl.flock(fd, flags if blocking else flags | fcntl.LOCK_NB)


def unlock(fd: int) -> None:
    try:
        if os.name == "nt":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)  # drops a flock() too


def acquire(path: Path, *, exclusive: bool, timeout: float | None) -> int:
    """An fd of PATH holding its lock; waits TIMEOUT seconds at most (None: for ever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        # The folder too: a change that made it removes it when it is done.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if deadline is None:
                _flock(fd, exclusive, blocking=True)
            else:
                while True:
                    try:
                        _flock(fd, exclusive, blocking=False)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise LockBusyError(path, timeout or 0.0) from None
                        time.sleep(0.05)
            # A change that made the folder removes its lock files when it is done: a lock
            # won on a file no longer at PATH excludes no one, so take the new one.
            try:
                here, ours = os.stat(path), os.fstat(fd)
            except FileNotFoundError:
                here = None
            if here is not None and (here.st_ino, here.st_dev) == (ours.st_ino, ours.st_dev):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def parse_run_lock(target: Path) -> Iterator[None]:
    """The one load that runs `dbt parse` in TARGET at a time."""
    fd = acquire(target / RUN_FILE, exclusive=True, timeout=None)
    try:
        yield
    finally:
        unlock(fd)


def hold_for_load(target: Path) -> Callable[[], None]:
    """Take TARGET's change lock shared (after any change waiting for it); return release.

    Returns a no-op when the lock file cannot be made (a read-only installed project, which
    nothing changes and no load parses into, or a full disk).
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
        if os.name == "nt":
            fd = acquire(target / LOCK_FILE, exclusive=True, timeout=None)
        else:
            gate = acquire(target / GATE_FILE, exclusive=False, timeout=None)
            try:
                fd = acquire(target / LOCK_FILE, exclusive=False, timeout=None)
            finally:
                unlock(gate)
    except OSError as e:
        import errno

        # Nothing can parse into such a folder either; a current manifest still loads.
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
            return lambda: None
        raise
    released = threading.Lock()

    def release() -> None:
        if released.acquire(blocking=False):
            unlock(fd)

    return release


def _modules_being_imported() -> list[object]:
    """The specs of the modules whose import is running on this thread's stack now."""
    specs = []
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            spec = frame.f_globals.get("__spec__")
            # importlib marks a module `_initializing` while it runs (how it tells a
            # circular import); runpy's __main__ is not marked, and is not waited for.
            if spec is not None and getattr(spec, "_initializing", False):
                specs.append(spec)
        frame = frame.f_back
    return specs


def release_after_import(release: Callable[[], None]) -> None:
    """Call RELEASE once every module being imported now (the definitions) is imported.

    The modules the definitions import after the manifest is ready (seed_assets.py) are
    then read under the lock too. A watcher thread polls, since Python has no hook at the
    end of an import; a module whose import fails stops being imported just the same.
    """
    specs = _modules_being_imported()
    if not specs:
        release()
        return

    def watch() -> None:
        try:
            while any(getattr(s, "_initializing", False) for s in specs):
                time.sleep(0.01)
        finally:
            release()

    threading.Thread(target=watch, name="dbtscaffold-load-lock", daemon=True).start()
