"""flock()s on files in the dbt project's target folder that keep a definitions load and a
change apart (the kernel drops those of a process that dies). A change (the CLI's
change_lock.py) holds LOCK_FILE exclusively while it writes; a load holds it shared from its
fingerprint until the definitions are imported, so it reads every file (seed_assets.py too)
before a change or after it. A change holds GATE_FILE before asking for the lock, a load passes
it before asking, so overlapping loads cannot starve a change. RUN_FILE: the one load parsing.
"""

import errno
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows, where dbtscaffold's commands do not run: loads lock nothing
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".dbtscaffold_parse.lock"
GATE_FILE = ".dbtscaffold_parse.gate"
RUN_FILE = ".dbtscaffold_parse.run"
TIMEOUT_ENV = "DBTSCAFFOLD_LOCK_TIMEOUT"  # seconds a lock another process holds is waited for


def lock_timeout(default: float) -> float:
    """DBTSCAFFOLD_LOCK_TIMEOUT if it is a number (at least 0), else DEFAULT."""
    try:
        return max(0.0, float(os.environ.get(TIMEOUT_ENV, "")))
    except ValueError:
        return default


class LockBusyError(TimeoutError):
    """A lock stayed held by another process for longer than the wait allowed."""

    def __init__(self, path: Path, waited: float) -> None:
        self.path = path
        super().__init__(f"`{path}` stayed locked for {waited:.0f} s")


def acquire(path: Path, *, exclusive: bool, timeout: float | None) -> int:
    """An fd of PATH holding its lock; waits TIMEOUT seconds at most (None: for ever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)  # a change that made it removes it
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while fcntl is not None:
                mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
                try:
                    fcntl.flock(fd, mode if deadline is None else mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:  # type: ignore[operator]
                        raise LockBusyError(path, timeout or 0.0) from None
                    time.sleep(0.05)
            # A change removes the lock files it made: one no longer at PATH excludes no one.
            here, ours = os.stat(path), os.fstat(fd)
            if (here.st_ino, here.st_dev) == (ours.st_ino, ours.st_dev):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def hold_for_load(target: Path) -> Callable[[], None]:
    """Take TARGET's change lock shared, after any change waiting for it; return its release
    (a no-op where the lock file cannot be made: a read-only installed project, a full disk)."""
    try:
        gate = acquire(target / GATE_FILE, exclusive=False, timeout=None)
        try:
            fd = acquire(target / LOCK_FILE, exclusive=False, timeout=None)
        finally:
            os.close(gate)
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
            return lambda: None
        raise
    once = threading.Lock()
    return lambda: os.close(fd) if once.acquire(blocking=False) else None


def release_after_import(release: Callable[[], None]) -> None:
    """Call RELEASE once the modules being imported now (the definitions) are: importlib marks
    their specs `_initializing` meanwhile, and Python has no hook at the end of an import."""
    specs = []
    frame = sys._getframe(1)
    while frame is not None:
        spec = frame.f_globals.get("__spec__") if frame.f_code.co_name == "<module>" else None
        if getattr(spec, "_initializing", False):
            specs.append(spec)
        frame = frame.f_back  # type: ignore[assignment]
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
