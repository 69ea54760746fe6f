"""Every subprocess dbtscaffold starts, and the start/stop of long-running process groups.

`run()` runs a command to completion. `ProcessGroup` starts a long-running command
(`dagster dev`, `dagster asset materialize`) in its own session, relays its output line by
line, keeps a record of every descendant process, and `stop()`s them all: SIGINT, wait,
SIGTERM, wait, SIGKILL. Whole groups are signalled because `dagster dev` alone waits up to
60 s per child and can leave children running; descendants are tracked too (and this
process becomes their subreaper on Linux) because a child may move to another session,
where a group signal does not reach it.
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
from typing import Any

_PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36
TAIL_LINES = 200


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


# --- /proc helpers (Linux); elsewhere only the process group is signalled ----------


@dataclass(frozen=True)
class _Stat:
    pid: int
    ppid: int
    pgid: int
    state: str
    start: int  # start time in clock ticks since boot: tells a reused pid apart


def _stat(pid: int) -> _Stat | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ")".
    rest = raw[raw.rfind(b")") + 2 :].split()
    try:
        return _Stat(pid, int(rest[1]), int(rest[2]), rest[0].decode(), int(rest[19]))
    except (IndexError, ValueError):
        return None


def _all_stats() -> list[_Stat]:
    out: list[_Stat] = []
    try:
        names = os.listdir(_PROC)
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                out.append(st)
    return out


def has_proc() -> bool:
    return (_PROC / "self" / "stat").is_file()


def cmdline(pid: int) -> list[str]:
    """The arguments of process PID ([] when it is gone or not readable)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def descendants(roots: set[int], stats: list[_Stat] | None = None) -> dict[int, int]:
    """{pid: start time} of every living descendant of ROOTS (zombies excluded)."""
    stats = _all_stats() if stats is None else stats
    children: dict[int, list[_Stat]] = collections.defaultdict(list)
    for st in stats:
        children[st.ppid].append(st)
    found: dict[int, int] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        for st in children.get(stack.pop(), []):
            if st.pid not in seen:
                seen.add(st.pid)
                if st.state != "Z":
                    found[st.pid] = st.start
                stack.append(st.pid)
    return found


def group_members(pgid: int) -> list[int]:
    """Living processes (not zombies) whose process group is PGID."""
    if not has_proc():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return sorted(st.pid for st in _all_stats() if st.pgid == pgid and st.state != "Z")


_PR_SET_PDEATHSIG = 1
_libc: Any = None


def _load_libc() -> Any:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    return _libc or None


def _interrupt_when_orphaned() -> None:
    """In the child before exec: SIGINT it if we die without stopping it (e.g. SIGKILL)."""
    if _libc:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux), so none escapes tracking."""
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
    ) -> None:
        self.cmd = tuple(cmd)
        self.on_line = on_line
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._known: dict[int, int] = {}
        self._subreaper = become_subreaper()
        me = os.getpid()
        self._before = (
            {(st.pid, st.start) for st in _all_stats() if st.ppid == me} if has_proc() else set()
        )
        self.popen = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Only a prctl() call runs between fork and exec: safe despite our threads.
            preexec_fn=_interrupt_when_orphaned if _load_libc() is not None else None,  # noqa: PLW1509
        )
        self.pid = self.popen.pid
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

    def output(self) -> str:
        """The last lines of output so far."""
        return "\n".join(self.tail)

    def poll(self) -> int | None:
        return self.popen.poll()

    def track(self) -> None:
        """Remember every current descendant of the group's leader, and of those remembered.

        Orphans re-parent to this process (its subreaper): a new child of ours that we did
        not start ourselves is one of them, even if it was orphaned between two calls.
        """
        if not has_proc():
            return
        stats = _all_stats()
        me = os.getpid()
        with self._lock:
            roots = {self.pid, *self._known}
        if self._subreaper:
            roots |= {
                st.pid for st in stats if st.ppid == me and (st.pid, st.start) not in self._before
            }
        found = descendants(roots, stats)
        found.update({st.pid: st.start for st in stats if st.pid in roots and st.state != "Z"})
        with self._lock:
            self._known.update(found)
            known = dict(self._known)
        if self._subreaper:
            # Collect the exit status of tracked orphans only: never a child of someone else's
            # Popen, whose status we would steal.
            for st in stats:
                zombie = st.ppid == me and st.state == "Z" and st.pid != self.pid
                if zombie and known.get(st.pid) == st.start:
                    with contextlib.suppress(ChildProcessError, OSError):
                        os.waitpid(st.pid, os.WNOHANG)

    def alive(self) -> list[int]:
        """Processes of the group, plus tracked descendants, that are still running."""
        pids = set(group_members(self.pid))
        with self._lock:
            known = dict(self._known)
        for pid, start in known.items():
            st = _stat(pid)
            if st is not None and st.start == start and st.state != "Z":
                pids.add(pid)
            else:
                with self._lock:
                    self._known.pop(pid, None)
        return sorted(pids)

    def any_running(self, predicate: Callable[[list[str]], bool]) -> bool:
        """True when a living process of the group has a command line matching PREDICATE."""
        return any(predicate(cmdline(pid)) for pid in self.alive())

    def signal(self, sig: signal.Signals) -> None:
        """Send SIG to the group and to every tracked descendant outside it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for pid in self.alive():
            st = _stat(pid)
            if st is not None and st.pgid != self.pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    def wait_gone(self, timeout: float, hurry: threading.Event | None = None) -> bool:
        """Wait until no process of the group is left; False on TIMEOUT (or HURRY)."""
        deadline = time.monotonic() + timeout
        while True:
            self.popen.poll()
            self.track()
            if not self.alive():
                return True
            if time.monotonic() >= deadline or (hurry is not None and hurry.is_set()):
                return False
            time.sleep(0.05)

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
