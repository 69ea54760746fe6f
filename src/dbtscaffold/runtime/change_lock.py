"""The change side of the locks in locks.py: what dbtscaffold's commands hold while they write.

Not copied into generated projects (a load takes only the shared side, in locks.py).
"""

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .locks import (
    GATE_FILE,
    LOCK_FILE,
    RUN_FILE,
    TIMEOUT_ENV,
    LockBusyError,
    acquire,
    lock_timeout,
)

__all__ = [
    "TIMEOUT_ENV",
    "LockBusyError",
    "describe_holders",
    "lock_holders",
    "lock_timeout",
    "project_lock",
]

# How long a change waits for a lock another process holds before it gives up (seconds).
DEFAULT_TIMEOUT = 300.0  # a load may be parsing a big dbt project


def lock_holders(path: Path) -> list[int]:
    """Pids that hold a flock() on PATH (Linux: /proc/locks names them; elsewhere none)."""
    # No library reads /proc/locks (psutil does not); its format is one lock per line:
    # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2753593 0 EOF", "-> " marking a waiter.
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == want:
            with contextlib.suppress(ValueError):
                pids.append(int(fields[4]))
    return sorted(set(pids))


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return ""
    text = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv))
    text = " ".join(text.split())  # one line, whatever the arguments hold
    return text if len(text) <= 100 else text[:97] + "..."


def describe_holders(path: Path) -> str:
    """ ", held by pid N (`command`)" for the holders of PATH's lock, or "" if unknown."""
    pids = [p for p in lock_holders(path) if p != os.getpid()]
    if not pids:
        return ""
    shown = [f"pid {p} (`{c}`)" if (c := _command_line(p)) else f"pid {p}" for p in pids]
    return ", held by " + ", ".join(shown)


@contextlib.contextmanager
def project_lock(
    project_dir: Path, target_path: Path | str = "target", *, timeout: float | None = None
) -> Iterator[None]:
    """Hold the change lock of a dbt project while its files (or its Dagster code) change.

    Loads that start meanwhile wait, and loads in progress finish first, so every load sees
    the project before or after the change. A project never parsed has no target folder: it
    is made for the lock, and removed again afterwards if the lock files are all it holds.
    A folder that cannot be made (a read-only project) cannot be parsed into either: then
    no lock is needed. Raises LockBusyError after TIMEOUT seconds (default: see
    `lock_timeout`).
    """
    target = Path(project_dir) / target_path
    made: list[Path] = []
    d = target
    while not d.exists():
        made.append(d)
        d = d.parent
    try:
        for m in reversed(made):
            m.mkdir()
    except OSError:
        for m in made:
            with contextlib.suppress(OSError):
                m.rmdir()
        made = []
    if not target.is_dir():
        yield
        return
    wait = lock_timeout(DEFAULT_TIMEOUT) if timeout is None else timeout
    fds: list[int] = []
    try:
        started = time.monotonic()
        if os.name != "nt":
            fds.append(acquire(target / GATE_FILE, exclusive=True, timeout=wait))
        left = max(0.0, wait - (time.monotonic() - started))
        fds.append(acquire(target / LOCK_FILE, exclusive=True, timeout=left))
        yield
    finally:
        if made:  # still holding the locks: nobody can have used the folder meanwhile
            for name in (LOCK_FILE, GATE_FILE, RUN_FILE):
                with contextlib.suppress(OSError):
                    os.unlink(target / name)
            for m in made:
                with contextlib.suppress(OSError):
                    m.rmdir()
        for fd in reversed(fds):
            os.close(fd)
