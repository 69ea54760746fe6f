from __future__ import annotations

import os
from pathlib import Path

import pytest

from dbtscaffold.changes.apply import apply_plan
from dbtscaffold.changes.plan import FileChange, Plan, unified_diff
from dbtscaffold.changes.undo import undo_last
from dbtscaffold.errors import UserError


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_unified_diff_marks_missing_newline():
    assert unified_diff(b"a\n", b"a\nb", "f.txt") == (
        "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n"
    )


def test_unified_diff_create_and_delete():
    assert unified_diff(None, b"x\n", "n.txt").startswith("--- /dev/null\n+++ b/n.txt\n")
    assert unified_diff(b"x\n", None, "n.txt").startswith("--- a/n.txt\n+++ /dev/null\n")


def test_verbs():
    p = Path("x")
    assert FileChange(p, None, b"a").verb == "create"
    assert FileChange(p, b"a", None).verb == "delete"
    assert FileChange(p, b"a", b"b").verb == "update"
    assert FileChange(p, b"a", b"a").verb == "identical"
    assert FileChange(p, b"a", None, label="move").verb == "move"


def make_plan(root: Path) -> Plan:
    (root / "keep.txt").write_bytes(b"keep\r\n")
    (root / "edit.txt").write_bytes(b"old\r\n")
    (root / "gone.txt").write_bytes(b"bye\n")
    return Plan(
        roots=(root,),
        changes=[
            FileChange(root / "edit.txt", b"old\r\n", b"new\r\n"),
            FileChange(root / "new" / "deep" / "file.txt", None, b"hello"),
            FileChange(root / "gone.txt", b"bye\n", None),
            FileChange(root / "keep.txt", b"keep\r\n", b"keep\r\n"),
        ],
    )


def test_apply_then_undo_restores_bytes(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    plan = make_plan(root)
    before = snapshot(root)
    state = tmp_path / "state"
    applied = apply_plan(plan, state_dir=state, command="test")
    assert len(applied.changes) == 3
    assert (root / "edit.txt").read_bytes() == b"new\r\n"
    assert (root / "new/deep/file.txt").read_bytes() == b"hello"
    assert not (root / "gone.txt").exists()
    result = undo_last(state)
    assert result is not None and result.command == "test"
    assert snapshot(root) == before
    assert not (root / "new").exists()
    assert undo_last(state) is None


@pytest.mark.parametrize("fail_after", [0, 1, 2])
def test_injected_failure_leaves_tree_unchanged(tmp_path, monkeypatch, fail_after):
    root = tmp_path / "proj"
    root.mkdir()
    plan = make_plan(root)
    before = snapshot(root)
    monkeypatch.setenv("DBTSCAFFOLD_TEST_FAIL_AFTER", str(fail_after))
    with pytest.raises(UserError, match="injected failure"):
        apply_plan(plan, state_dir=tmp_path / "state", command="test")
    assert snapshot(root) == before
    assert sorted(os.listdir(root)) == ["edit.txt", "gone.txt", "keep.txt"]
    assert undo_last(tmp_path / "state") is None


def test_failing_os_replace_rolls_back(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    plan = make_plan(root)
    before = snapshot(root)
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(UserError, match="No space left on device"):
        apply_plan(plan, state_dir=None, command="test")
    monkeypatch.setattr(os, "replace", real)
    assert snapshot(root) == before


def test_refuses_changed_file(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    plan = make_plan(root)
    (root / "edit.txt").write_bytes(b"someone else\n")
    with pytest.raises(UserError, match="changed while dbtscaffold was planning"):
        apply_plan(plan, state_dir=None, command="test")
    assert not (root / "new").exists()


def test_refuses_symlink_out_of_root(tmp_path):
    root = tmp_path / "proj"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "models").symlink_to(outside)
    plan = Plan(roots=(root,), changes=[FileChange(root / "models" / "x.sql", None, b"x")])
    with pytest.raises(UserError, match="outside the project"):
        apply_plan(plan, state_dir=None, command="test")
    assert list(outside.iterdir()) == []


def test_undo_refuses_when_edited_since(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    apply_plan(make_plan(root), state_dir=tmp_path / "state", command="test")
    (root / "edit.txt").write_bytes(b"edited later\n")
    with pytest.raises(UserError, match="--force"):
        undo_last(tmp_path / "state")
    assert (root / "edit.txt").read_bytes() == b"edited later\n"
    undo_last(tmp_path / "state", force=True)
    assert (root / "edit.txt").read_bytes() == b"old\r\n"


def test_old_backups_are_pruned_and_undo_still_walks_back(tmp_path, monkeypatch):
    monkeypatch.setenv("DBTSCAFFOLD_KEEP_BACKUPS", "3")
    root, state = tmp_path / "p", tmp_path / "p" / ".dbtscaffold"
    root.mkdir()
    f = root / "f.txt"
    f.write_bytes(b"0")
    pruned = []
    for i in range(1, 6):
        plan = Plan(roots=(root,))
        plan.add(FileChange(f, str(i - 1).encode(), str(i).encode()))
        pruned.append(apply_plan(plan, state_dir=state, command=f"step {i}").pruned)
    assert pruned == [0, 0, 0, 1, 1]
    assert len(list((state / "backups").iterdir())) == 3
    for expected in (b"4", b"3", b"2"):
        assert undo_last(state) is not None
        assert f.read_bytes() == expected
    assert undo_last(state) is None  # the older changes were pruned, as documented
    assert f.read_bytes() == b"2"


def test_first_state_lock_creates_the_lock_file_locked(tmp_path):
    from dbtscaffold.changes.journal import LOCK, first_state_lock, state_lock

    state = tmp_path / ".dbtscaffold"
    with first_state_lock(state) as created:
        assert created and (state / LOCK).is_file()
        assert sorted(p.name for p in state.iterdir()) == [LOCK]  # no temporary name left
        with (
            pytest.raises(UserError, match="Another dbtscaffold command"),
            state_lock(state, wait=0),
        ):
            pass
    # Once the file is there, it is not new: the usual lock applies.
    with first_state_lock(state) as created:
        assert not created
        with state_lock(state, wait=0):
            pass
    assert sorted(p.name for p in state.iterdir()) == [LOCK]


def test_apply_keeps_modes_and_reports_every_file(tmp_path):
    a, b = tmp_path / "a.sh", tmp_path / "sub" / "b.txt"
    a.write_bytes(b"old\n")
    a.chmod(0o750)
    plan = Plan(roots=(tmp_path,))
    plan.add(FileChange(a, b"old\n", b"new\n"))
    plan.add(FileChange(b, None, b"made\n"))
    applied = apply_plan(plan, state_dir=tmp_path / ".dbtscaffold", command="test")
    assert a.read_bytes() == b"new\n" and a.stat().st_mode & 0o777 == 0o750
    assert b.read_bytes() == b"made\n"
    assert [c.verb for c in applied.changes] == ["update", "create"]
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_backups_are_one_file_and_undo_reads_the_older_layout_too(tmp_path):
    """Old bytes go into one before.bin; a journal of dbtscaffold <= 0.2.0.dev0 pointing
    at files/<n> (one file each) is still undone byte for byte."""
    import json

    from dbtscaffold.changes.journal import JOURNAL, PACK, write_journal

    root = tmp_path / "proj"
    root.mkdir()
    plan = make_plan(root)
    before = snapshot(root)
    applied = apply_plan(plan, state_dir=tmp_path / "state", command="test")
    backup = applied.backup_dir
    assert backup is not None
    assert sorted(p.name for p in backup.iterdir()) == [PACK, JOURNAL]
    # Rewrite the backup as the older layout left it.
    journal = json.loads((backup / JOURNAL).read_text())
    pack = (backup / PACK).read_bytes()
    (backup / "files").mkdir()
    for i, e in enumerate(journal["files"]):
        if e["backup"] is not None:
            start, size = e.pop("offset"), e.pop("size")
            e["backup"] = f"files/{i:05d}"
            (backup / e["backup"]).write_bytes(pack[start : start + size])
    (backup / PACK).unlink()
    write_journal(backup, journal)
    assert undo_last(tmp_path / "state") is not None
    assert snapshot(root) == before


def test_a_damaged_backup_stops_undo_before_any_file_is_touched(tmp_path):
    from dbtscaffold.changes.journal import PACK

    root = tmp_path / "proj"
    root.mkdir()
    applied = apply_plan(make_plan(root), state_dir=tmp_path / "state", command="test")
    assert applied.backup_dir is not None
    pack = applied.backup_dir / PACK
    pack.write_bytes(pack.read_bytes().replace(b"bye", b"BYE"))
    after = snapshot(root)
    with pytest.raises(UserError, match=r"The backup of `.*gone\.txt` .* is damaged"):
        undo_last(tmp_path / "state")
    assert snapshot(root) == after


def test_one_writer_writes_atomically_and_fsyncs_many_at_once(tmp_path):
    from dbtscaffold.changes.files import fsync_all, write_atomic, write_new

    target = tmp_path / "f.txt"
    write_atomic(target, b"one")
    write_atomic(target, b"two", mode=0o640)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # no temp file left
    with pytest.raises(FileExistsError):
        write_new(target, b"three")
    files = [tmp_path / f"n{i}" for i in range(40)]
    for f in files:
        write_new(f, b"x", sync=False)
    fsync_all(files=files, dirs=[tmp_path, tmp_path / "gone"])  # a folder is best effort
    with pytest.raises(FileNotFoundError) as missing:
        fsync_all(files=[*files, tmp_path / "gone.txt"])
    assert missing.value.filename == str(tmp_path / "gone.txt")


def test_a_change_session_locks_once_and_never_in_a_dry_run(tmp_path, monkeypatch):
    from dbtscaffold.changes.journal import LOCK
    from dbtscaffold.commands.common import change_session

    monkeypatch.setenv("DBTSCAFFOLD_LOCK_TIMEOUT", "0")
    state = tmp_path / ".dbtscaffold"
    with change_session(state, dry_run=True) as session:
        session.lock()
        assert session.plan(lambda: 1, nothing_to_do=lambda r: False) == 1
    assert not state.exists()
    with change_session(None, dry_run=False) as session:
        session.lock()  # no project yet: nothing to lock
    with change_session(state, dry_run=False) as session:
        assert session.plan(lambda: 2, nothing_to_do=lambda r: False) == 2
        assert (state / LOCK).is_file()
        session.lock()  # held already: not taken again (it would wait for itself)
        with change_session(state, dry_run=False) as other:
            with pytest.raises(UserError, match="^Another dbtscaffold command is changing"):
                other.lock()
    with change_session(state, dry_run=False) as session:
        session.lock()  # released when the first session ended
