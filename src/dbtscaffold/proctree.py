"""Finding processes through psutil, on any platform: trees, groups, zombies, cwd.

A process is its pid *and* its creation time (psutil compares both), so a pid reused by an
unrelated process is never taken for one we knew. psutil is imported inside the functions,
never when this module is imported, so `--help` does not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


def _is_zombie(proc: psutil.Process) -> bool:
    """True when PROC has exited and only waits for its parent to collect its status."""
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.ZombieProcess:
        return True
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return False  # it exists; someone else's, but it is running


def is_alive(proc: psutil.Process) -> bool:
    """True while PROC runs: the same pid *and* creation time, and not a zombie.

    A process that ended and whose pid now belongs to another process is not alive.
    """
    import psutil

    try:
        return proc.is_running() and not _is_zombie(proc)
    except psutil.Error:
        return False


def descendants(roots: Iterable[psutil.Process | int]) -> dict[int, psutil.Process]:
    """{pid: process} of every living descendant of ROOTS (zombies excluded)."""
    import psutil

    found: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            proc = root if isinstance(root, psutil.Process) else psutil.Process(root)
            # Raises NoSuchProcess when ROOT has ended (or its pid was reused); skips any
            # child older than its parent (one whose pid was reused).
            kids = proc.children(recursive=True)
        except psutil.Error:
            continue
        for kid in kids:
            if kid.pid not in found and not _is_zombie(kid):
                found[kid.pid] = kid
    return found


def _group_members(pgid: int) -> dict[int, psutil.Process]:
    import psutil

    found: dict[int, psutil.Process] = {}
    for pid in psutil.pids():
        if pid <= 0:
            continue  # os.getpgid(0) would be our own group (macOS lists pid 0)
        try:
            if os.getpgid(pid) != pgid:
                continue
            proc = psutil.Process(pid)
        except (OSError, psutil.Error):
            continue
        if not _is_zombie(proc):
            found[pid] = proc
    return found


def group_members(pgid: int) -> list[int]:
    """Living processes (not zombies) whose process group is PGID."""
    return sorted(_group_members(pgid))


def cmdline(pid: int) -> list[str]:
    """The arguments of process PID ([] when it is gone or not readable)."""
    import psutil

    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def running_in(directory: Path, predicate: Callable[[list[str]], bool]) -> list[int]:
    """Living processes working in DIRECTORY whose command line matches PREDICATE."""
    import psutil

    want = os.path.realpath(directory)
    found = []
    for p in psutil.process_iter():
        try:
            if p.cwd() == want and predicate(p.cmdline()) and not _is_zombie(p):
                found.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return sorted(found)
