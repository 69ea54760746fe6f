"""Every subprocess dbtscaffold starts, and the start/stop of long-running process groups.

`run()` runs a command to completion. `ProcessGroup` starts a long-running command
(`dagster dev`, `dagster asset materialize`) in its own session, relays its output line by
line, keeps a record of every descendant process, and `stop()`s them all: SIGINT, wait,
SIGTERM, wait, SIGKILL. Whole groups are signalled because `dagster dev` alone waits up to
60 s per child and can leave children running; descendants are tracked too because a child
may move to another session, where a group signal does not reach it.

Processes are found and identified through psutil, on every platform: a process is its pid
*and* its creation time, so a pid reused by an unrelated process is never signalled.
psutil is imported inside the functions that need it, never when this module is imported,
so that commands which do not start process groups (and `--help`) do not pay for it.
On Linux this process also becomes the subreaper of the group (see `become_subreaper`), a
best effort that closes the one gap of tracking by polling.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psutil

# Part of this module's API (`x as x`: re-exported, for the type checker too).
from dbtscaffold.proctree import (
    _group_members,
    _is_zombie,
    cmdline as cmdline,
    descendants as descendants,
    group_members as group_members,
    is_alive as is_alive,
    running_in as running_in,
)

TAIL_LINES = 200
# How often waiting loops look again for processes that appeared or ended.
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Result:
    cmd: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class ProcessError(Exception):
    """A command exited non-zero: the message shows the command, exit code and stderr tail."""

    def __init__(
        self, cmd: Sequence[str], returncode: int, stdout: str = "", stderr: str = ""
    ) -> None:
        self.cmd = tuple(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-20:])
        text = f"command `{' '.join(self.cmd)}` exited with code {self.returncode}"
        return f"{text}:\n{tail}" if tail else text


def build_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return dict(os.environ, **(extra or {}))


def run(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Result:
    """Run CMD to completion with captured text output; raise ProcessError on failure."""
    proc = subprocess.run(
        list(cmd),
        check=False,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        errors="replace",
    )
    result = Result(tuple(cmd), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise ProcessError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return result


# --- Linux only, best effort: the tracking above does not depend on these ------------
#
# Tracking polls: every call of `ProcessGroup.track()` records the descendants it finds, so
# one that later moves to another session or is orphaned is still known. What polling
# alone cannot see is a process started *and* orphaned between two polls in another
# session (a double fork): it re-parents to init, outside the tree we walk, and a group
# signal does not reach it. On Linux, prctl(PR_SET_CHILD_SUBREAPER) makes such orphans
# re-parent to this process instead, where `track()` finds them among our children. macOS
# has no equivalent (nor is FreeBSD's procctl(PROC_REAP_ACQUIRE) used), so elsewhere the
# gap is one poll interval; such a process is still stopped if it stays in the group.
# PR_SET_PDEATHSIG likewise only exists on Linux: it interrupts `dagster dev` if this
# process is killed outright (SIGKILL) without stopping it.

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc: Any = None


def _load_libc() -> Any:
    """The C library for prctl() on Linux; None on any other platform or on failure."""
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    return _libc or None


def _child_setup() -> None:
    """In the child before exec: SIGINT at its default, and SIGINT if we die (Linux).

    A background job of a script (`dbtscaffold dev &`) starts with SIGINT ignored, and an
    ignored signal stays ignored across exec: Python would then install no handler of its
    own, and `dagster dev` would never see the SIGINT we send it. PR_SET_PDEATHSIG
    interrupts the child if we are killed outright (SIGKILL) without stopping it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _libc:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux only); True if it did."""
    libc = _load_libc()
    return bool(libc is not None and libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


# --- process groups -------------------------------------------------------------


@dataclass
class StopReport:
    seconds: float
    signals: list[str] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)


class ProcessGroup:
    """CMD started in its own session; its output goes line by line to ON_LINE.

    The last TAIL_LINES lines are kept in `tail`. Call `track()` regularly (the waiting
    loops do) so that descendants are remembered even after their parent is gone.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        stdin_pipe: bool = False,
    ) -> None:
        import psutil

        self.cmd = tuple(cmd)
        self.on_line = on_line
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._known: dict[int, psutil.Process] = {}
        _load_libc()  # for _child_setup, before the fork
        self._subreaper = become_subreaper()
        self._me = psutil.Process()
        # Children we had before: never taken for orphans of the group, never reaped here.
        self._before = set(self._me.children()) if self._subreaper else set()
        self.popen = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Only signal() and prctl() run between fork and exec: safe despite our threads.
            preexec_fn=_child_setup,  # noqa: PLW1509
        )
        self.pid = self.popen.pid
        # Our child, not yet waited for: it exists (at worst as a zombie) until Popen reaps it.
        self._leader: psutil.Process | None
        try:
            self._leader = psutil.Process(self.pid)
        except psutil.Error:
            self._leader = None
        self._reader = threading.Thread(target=self._read, name="proc-output", daemon=True)
        self._reader.start()
        self.track()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in iter(self.popen.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail.append(line)
            if self.on_line is not None:
                self.on_line(line)

    def send(self, line: str) -> bool:
        """Write LINE to the leader's stdin (started with stdin_pipe); False if it is gone."""
        stdin = self.popen.stdin
        if stdin is None:
            return False
        try:
            stdin.write(line.encode("utf-8") + b"\n")
            stdin.flush()
        except (OSError, ValueError):  # BrokenPipeError, or closed already
            return False
        return True

    def output(self) -> str:
        """The last lines of output so far."""
        return "\n".join(self.tail)

    def poll(self) -> int | None:
        return self.popen.poll()

    def track(self) -> None:
        """Remember every current descendant of the group's leader, and of those remembered.

        A remembered process whose parent is not remembered (an orphan) roots a subtree of
        its own. With the subreaper (Linux), orphans re-parent to this process: a new child
        of ours that we did not start ourselves is one of them, even if it was orphaned
        between two calls.
        """
        import psutil

        with self._lock:
            known = dict(self._known)
        roots: dict[int, psutil.Process] = {}
        if self._leader is not None:
            roots[self.pid] = self._leader
        for pid, proc in known.items():
            try:
                if proc.ppid() not in known:
                    roots.setdefault(pid, proc)
            except psutil.Error:
                pass  # gone: alive() forgets it
        adopted: list[psutil.Process] = []
        if self._subreaper:
            try:
                mine = self._me.children()
            except psutil.Error:
                mine = []
            adopted = [c for c in mine if c.pid != self.pid and c not in self._before]
            for child in adopted:
                roots.setdefault(child.pid, child)
        found = {pid: proc for pid, proc in roots.items() if is_alive(proc)}
        for pid, proc in descendants(roots.values()).items():
            found.setdefault(pid, proc)
        with self._lock:
            # A pid found again is the same process (psutil compares creation times), or a
            # new one that reused the pid of a remembered process that ended: keep the new.
            self._known.update(found)
            known = dict(self._known)
        # Collect the exit status of tracked orphans only: never a child of someone else's
        # Popen, whose status we would steal.
        zombies = [c for c in adopted if known.get(c.pid) == c and _is_zombie(c)]
        if zombies:
            psutil.wait_procs(zombies, timeout=0)

    def _alive(self) -> dict[int, psutil.Process]:
        import psutil

        procs = _group_members(self.pid)
        with self._lock:
            known = dict(self._known)
        for pid, proc in known.items():
            try:
                running = proc.is_running()  # False too once the pid names another process
            except psutil.Error:
                running = False
            if not running:
                with self._lock:
                    if self._known.get(pid) is proc:
                        del self._known[pid]
            elif not _is_zombie(proc):  # a zombie stays known until track() reaps it
                procs.setdefault(pid, proc)
        return procs

    def alive(self) -> list[int]:
        """Processes of the group, plus tracked descendants, that are still running."""
        return sorted(self._alive())

    def any_running(self, predicate: Callable[[list[str]], bool]) -> bool:
        """True when a living process of the group has a command line matching PREDICATE."""
        import psutil

        for proc in self._alive().values():
            try:
                args = proc.cmdline()
            except psutil.Error:
                continue
            if predicate(args):
                return True
        return False

    def signal(self, sig: signal.Signals) -> None:
        """Send SIG to the group and to every tracked descendant outside it."""
        import psutil

        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for pid, proc in self._alive().items():
            try:
                if os.getpgid(pid) != self.pid:
                    proc.send_signal(sig)  # refuses a pid that now names another process
            except (OSError, psutil.Error):
                pass

    def wait_gone(self, timeout: float, hurry: threading.Event | None = None) -> bool:
        """Wait until no process of the group is left; False on TIMEOUT (or HURRY)."""
        import psutil

        deadline = time.monotonic() + timeout
        while True:
            self.popen.poll()
            self.track()
            procs = self._alive()
            if not procs:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (hurry is not None and hurry.is_set()):
                return False
            # Returns as soon as they have all ended (collecting the status of orphans that
            # are our children); never the leader, whose status belongs to Popen.
            others = [proc for pid, proc in procs.items() if pid != self.pid]
            if others:
                psutil.wait_procs(others, timeout=min(POLL_INTERVAL, left))
            else:
                time.sleep(min(POLL_INTERVAL, left))

    def stop(
        self,
        *,
        interrupt_timeout: float = 6.0,
        terminate_timeout: float = 3.0,
        kill_timeout: float = 2.0,
        hurry: threading.Event | None = None,
    ) -> StopReport:
        """SIGINT, wait, SIGTERM, wait, SIGKILL: every process of the group ends."""
        started = time.monotonic()
        report = StopReport(0.0)
        self.track()
        steps = (
            (signal.SIGINT, interrupt_timeout),
            (signal.SIGTERM, terminate_timeout),
            (signal.SIGKILL, kill_timeout),
        )
        for sig, timeout in steps:
            if not self.alive():
                break
            report.signals.append(sig.name)
            self.signal(sig)
            if self.wait_gone(timeout, hurry if sig != signal.SIGKILL else None):
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1)
        self._reader.join(timeout=1)
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
        report.survivors = self.alive()
        report.seconds = time.monotonic() - started
        return report


@contextlib.contextmanager
def stop_signals(handler: Callable[[int], None]) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to HANDLER instead of raising, then restore."""
    wanted = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        wanted.append(signal.SIGHUP)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in wanted}
    try:
        for s in wanted:
            signal.signal(s, lambda signum, frame: handler(signum))
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
