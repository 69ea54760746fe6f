"""runtime/locks.py: the change lock between definitions loads and changes, in one process.

flock() locks belong to open files, not processes, so two threads of this process with
their own file descriptors exclude each other as two processes would.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from dbtscaffold.runtime import change_lock, locks

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 30.0), ("2.5", 2.5), ("0", 0.0), ("-3", 0.0), ("soon", 30.0)]
)
def test_lock_timeout_reads_the_variable_else_the_default(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(change_lock.TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(change_lock.TIMEOUT_ENV, value)
    assert change_lock.lock_timeout(30.0) == expected


def _in_thread(fn) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        fn()
        done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, done


def test_a_load_waits_for_a_change_and_a_change_for_a_load(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    with change_lock.project_lock(tmp_path, "target", timeout=5):
        got: list = []
        t, done = _in_thread(lambda: got.append(locks.hold_for_load(target)))
        assert not done.wait(0.3)  # blocked while the change holds the lock
    assert done.wait(30)
    release = got[0]
    # Loads share the lock; a change waits for them, and gives up naming the lock.
    second = locks.hold_for_load(target)
    with pytest.raises(change_lock.LockBusyError) as busy:
        with change_lock.project_lock(tmp_path, "target", timeout=0.2):
            pass
    assert busy.value.path == target / locks.LOCK_FILE
    assert os.getpid() in change_lock.lock_holders(target / locks.LOCK_FILE)
    release()
    release()  # twice is harmless
    second()
    with change_lock.project_lock(tmp_path, "target", timeout=5):
        pass


def test_a_project_never_parsed_gets_its_target_folder_only_while_locked(tmp_path):
    with change_lock.project_lock(tmp_path, "build/target", timeout=5):
        assert (tmp_path / "build" / "target" / locks.LOCK_FILE).is_file()
    assert sorted(os.listdir(tmp_path)) == []


def test_the_lock_is_released_once_the_importing_module_is_imported(tmp_path, monkeypatch):
    pkg = tmp_path / "probe_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "first.py").write_text(
        "from dbtscaffold.runtime.locks import release_after_import\n"
        "calls = []\n"
        "release_after_import(lambda: calls.append(1))\n"
    )
    (pkg / "top.py").write_text(
        "import time\n"
        "from probe_pkg import first\n"
        "time.sleep(0.3)\n"
        "seen_while_importing = list(first.calls)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    top = importlib.import_module("probe_pkg.top")
    assert top.seen_while_importing == []  # still held while top.py ran
    deadline = time.monotonic() + 30
    while not sys.modules["probe_pkg.first"].calls:
        assert time.monotonic() < deadline, "never released"
        time.sleep(0.01)
    assert sys.modules["probe_pkg.first"].calls == [1]


def test_outside_an_import_the_lock_is_released_at_once():
    calls = []
    locks.release_after_import(lambda: calls.append(1))
    assert calls == [1]
