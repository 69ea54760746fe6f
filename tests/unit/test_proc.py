"""`dbtscaffold.proc` on real processes: trees found, stopped in order, reused pids spared.

Each test starts a small tree of Python processes (a script in tmp_path that runs one
"role" per process) as a `ProcessGroup`, and checks what the group finds and stops through
psutil. Every process announces itself on the group's output (`up ROLE PID`) once its
signal handlers are in place, so a test signals only processes that are ready for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dbtscaffold import proc

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")

LINUX = sys.platform.startswith("linux")
UP_TIMEOUT = 30.0

TREE = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    from pathlib import Path

    def spawn(role, **kw):
        return subprocess.Popen([sys.executable, __file__, role], **kw)

    def up(role):
        print(f"up {role} {os.getpid()}", flush=True)

    def ignore(*sigs):
        for s in sigs:
            signal.signal(s, signal.SIG_IGN)

    role = sys.argv[1]
    if role == "tree":  # two children; one of them has a child in a session of its own
        spawn("child")
        spawn("parent")
        up(role)
    elif role == "parent":
        spawn("session", start_new_session=True)
        spawn("stubborn")
        up(role)
    elif role == "session":  # out of reach of a group signal; SIGINT does not stop it
        ignore(signal.SIGINT)
        up(role)
    elif role == "stubborn":  # only SIGKILL stops it
        ignore(signal.SIGINT, signal.SIGTERM)
        up(role)
    elif role == "middle":  # a child in a new session, orphaned when FLAG appears
        spawn("session", start_new_session=True)
        up(role)
        while not Path(os.environ["FLAG"]).exists():
            time.sleep(0.02)
        sys.exit(0)
    elif role == "orphaner":  # the orphan exists before anyone could see its parent
        mid = subprocess.Popen(
            [sys.executable, "-c", "import subprocess, sys; "
             f"subprocess.Popen([sys.executable, {__file__!r}, 'session'], "
             "start_new_session=True)"]
        )
        mid.wait()
        up(role)
    elif role == "reaper":  # a child in another session, reaped as soon as it dies
        kid = spawn("session", start_new_session=True)
        up(role)
        kid.wait()
        print(f"reaped {kid.pid}", flush=True)
    elif role == "exit7":  # exits 7 on SIGINT; its child goes on
        signal.signal(signal.SIGINT, lambda *_: sys.exit(7))
        spawn("session", start_new_session=True)
        up(role)
    else:
        up(role)
    time.sleep(120)
    """
)

# Run as a child of the test process *before* a group starts, so it is not one of the
# group's orphans: it gives one of its own children a chosen pid (Linux ns_last_pid).
PID_GIVER = textwrap.dedent(
    """
    import subprocess, sys
    for line in sys.stdin:
        want = int(line)
        for _ in range(200):
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(want - 1))
            kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            if kid.pid == want:
                break
            kid.kill()
            kid.wait()
        else:
            kid = None
        print(kid.pid if kid else -1, flush=True)
    """
)


class Tree:
    """A ProcessGroup running TREE ROLE; `pids` maps each role that is up to its pid."""

    def __init__(self, script: Path, role: str, env: dict[str, str] | None = None) -> None:
        self.pids: dict[str, int] = {}
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.group = proc.ProcessGroup(
            [sys.executable, str(script), role],
            cwd=script.parent,
            env=dict(os.environ, **(env or {})),
            on_line=self._on_line,
        )

    def _on_line(self, line: str) -> None:
        with self._changed:
            self.lines.append(line)
            if line.startswith("up "):
                _, role, pid = line.split()
                self.pids[role] = int(pid)
            self._changed.notify_all()

    def wait_line(self, prefix: str, timeout: float = UP_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                assert left > 0, f"no line {prefix!r} in {timeout} s: {self.lines}"
                self._changed.wait(min(left, 0.1))

    def wait_up(self, *roles: str) -> dict[str, int]:
        for role in roles:
            self.wait_line(f"up {role} ")
        return {role: self.pids[role] for role in roles}


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "tree.py"
    path.write_text(TREE, encoding="utf-8")
    return path


@pytest.fixture
def trees() -> Iterator[list[Tree]]:
    """Trees stopped (SIGKILL soon) at teardown, even when a test fails half-way."""
    made: list[Tree] = []
    yield made
    for tree in made:
        tree.group.stop(interrupt_timeout=0.2, terminate_timeout=0.2)


@pytest.fixture(autouse=True)
def subreaper_restored() -> Iterator[None]:
    """A ProcessGroup makes this (pytest) process a subreaper on Linux: undo that after."""
    if not LINUX:
        yield
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    was = ctypes.c_int(0)
    libc.prctl(37, ctypes.byref(was), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    yield
    libc.prctl(36, was.value, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _gone(procs: dict[str, psutil.Process], timeout: float = 5.0) -> list[str]:
    """The roles among PROCS still alive after TIMEOUT (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [role for role, p in procs.items() if proc.is_alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_a_tree_across_sessions_is_found_then_stopped_int_term_kill(script, trees):
    tree = Tree(script, "tree")
    trees.append(tree)
    group = tree.group
    pids = tree.wait_up("tree", "child", "parent", "session", "stubborn")
    procs = {role: psutil.Process(pid) for role, pid in pids.items()}

    group.track()
    assert set(pids.values()) <= set(group.alive())
    assert pids["tree"] == group.pid
    # The session grandchild is outside the group: only tracking finds it.
    assert os.getsid(pids["session"]) == pids["session"] != os.getsid(group.pid)
    members = set(proc.group_members(group.pid))
    assert {pids[r] for r in ("tree", "child", "parent", "stubborn")} <= members
    assert pids["session"] not in members
    assert set(proc.descendants([group.pid])) >= {
        pids[r] for r in ("child", "parent", "session", "stubborn")
    }
    assert proc.cmdline(pids["stubborn"])[-1] == "stubborn"
    assert group.any_running(lambda cmd: cmd[-1:] == ["session"])
    assert not group.any_running(lambda cmd: cmd[-1:] == ["nobody"])

    report = group.stop(interrupt_timeout=1.5, terminate_timeout=1.5, kill_timeout=3.0)
    # SIGINT ends the leader, child and parent; SIGTERM the session; SIGKILL the stubborn.
    assert report.signals == ["SIGINT", "SIGTERM", "SIGKILL"], report
    assert report.survivors == []
    assert _gone(procs, timeout=0) == []
    assert report.seconds < 1.5 + 1.5 + 3.0
    assert group.popen.returncode is not None


def test_an_orphan_in_another_session_tracked_before_is_still_stopped(script, trees, tmp_path):
    flag = tmp_path / "orphan-now"
    tree = Tree(script, "middle", env={"FLAG": str(flag)})
    trees.append(tree)
    group = tree.group
    pids = tree.wait_up("middle", "session")
    orphan = psutil.Process(pids["session"])
    group.track()

    flag.touch()  # the middle process (the group's leader) exits: its child is orphaned
    deadline = time.monotonic() + UP_TIMEOUT
    while group.poll() is None:
        assert time.monotonic() < deadline
        group.track()  # as dev's waiting loops do
        time.sleep(0.05)
    assert group.popen.returncode == 0
    assert orphan.ppid() != group.pid
    assert group.alive() == [orphan.pid]  # no group left, but the orphan is remembered

    report = group.stop(interrupt_timeout=1.0, terminate_timeout=2.0)
    assert report.signals == ["SIGINT", "SIGTERM"], report
    assert report.survivors == []
    assert not proc.is_alive(orphan)


@pytest.mark.skipif(not LINUX, reason="PR_SET_CHILD_SUBREAPER is Linux only")
def test_an_orphan_made_between_two_polls_is_adopted_on_linux(script, trees):
    tree = Tree(script, "orphaner")
    trees.append(tree)
    group = tree.group
    tree.wait_up("orphaner", "session")
    orphan = psutil.Process(tree.pids["session"])
    # Its parent exited before the group could have seen it: it re-parented to us.
    assert orphan.ppid() == os.getpid()
    group.track()
    assert orphan.pid in group.alive()

    report = group.stop(interrupt_timeout=1.0, terminate_timeout=2.0)
    assert report.survivors == []
    assert not proc.is_alive(orphan)
    # Its exit status was collected: no zombie of ours is left behind.
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(orphan.pid).status()


def test_the_leaders_exit_status_is_left_to_popen(script, trees):
    tree = Tree(script, "exit7")
    trees.append(tree)
    tree.wait_up("exit7", "session")
    kid = psutil.Process(tree.pids["session"])

    report = tree.group.stop(interrupt_timeout=2.0, terminate_timeout=2.0)
    assert tree.group.popen.returncode == 7  # waiting for the others did not steal it
    assert report.signals == ["SIGINT", "SIGTERM"], report
    assert report.survivors == []
    assert not proc.is_alive(kid)


def _can_choose_pids() -> bool:
    knob = Path("/proc/sys/kernel/ns_last_pid")
    return LINUX and knob.exists() and os.geteuid() == 0


@pytest.mark.skipif(not _can_choose_pids(), reason="reusing a pid needs Linux ns_last_pid, root")
def test_a_reused_pid_is_not_signalled(script, trees):
    # Started before the group: its children are not taken for orphans of the group.
    giver = subprocess.Popen(
        [sys.executable, "-c", PID_GIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stranger = None
    try:
        tree = Tree(script, "reaper")
        trees.append(tree)
        group = tree.group
        pids = tree.wait_up("reaper", "session")
        tracked = psutil.Process(pids["session"])
        group.track()
        assert tracked.pid in group.alive()

        os.kill(tracked.pid, signal.SIGKILL)
        tree.wait_line(f"reaped {tracked.pid}")  # its pid is free again
        assert giver.stdin is not None and giver.stdout is not None
        giver.stdin.write(f"{tracked.pid}\n")
        giver.stdin.flush()
        got = int(giver.stdout.readline())
        if got != tracked.pid:
            pytest.skip(f"pid {tracked.pid} was taken by another process first")
        stranger = psutil.Process(got)
        assert stranger.create_time() != tracked.create_time()  # same pid, another process

        assert not proc.is_alive(tracked)
        group.track()
        assert got not in group.alive()
        report = group.stop(interrupt_timeout=0.5, terminate_timeout=0.5)
        assert report.survivors == []
        time.sleep(0.2)
        assert proc.is_alive(stranger), "a process that reused a tracked pid was signalled"
    finally:
        if stranger is not None and proc.is_alive(stranger):
            stranger.kill()
        giver.kill()
        giver.wait(timeout=10)
        if stranger is not None:
            psutil.wait_procs([stranger], timeout=5)


def test_help_and_importing_proc_do_not_import_psutil():
    code = textwrap.dedent(
        """
        import runpy, sys
        sys.argv = ["dbtscaffold", "--help"]
        try:
            runpy.run_module("dbtscaffold", run_name="__main__")
        except SystemExit as e:
            assert e.code in (0, None), e.code
        import dbtscaffold.commands.dev, dbtscaffold.commands.materialize, dbtscaffold.proc
        assert "psutil" not in sys.modules, "psutil was imported"
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
