"""No data lost under faults: convert-seed and undo killed with SIGKILL at random moments,
and convert-seed run twice at once.

Each trial copies the scaffolded example, runs `dbtscaffold convert-seed raw_customers`
in a subprocess with DBTSCAFFOLD_TEST_APPLY_DELAY (a sleep before each file operation of
the apply, read only from the environment) so that the kill can land between any two of
them, SIGKILLs it after a random delay, and then requires one of:

- no journal was written: the tree is exactly as before,
- the journal says "applied": the tree is exactly as after a clean run,
- the journal says "pending" (killed mid-apply): `dbtscaffold undo` exits 0 and the tree
  is exactly as before, byte for byte, temp files and new folders gone.

Every trial then ends as before (undoing an applied change too) and converts again
cleanly, which proves nothing was left that blocks or skews the next run. The random
seeds are fixed, so a failing trial can be replayed.

The undo trials convert cleanly, then SIGKILL `dbtscaffold undo` (the same delay before
each of its file operations) and require: a journal still "applied" (killed before undo
began) leaves the converted tree; one that says "undoing" (killed mid-restore) is put
right by running `undo` again; either way the tree ends exactly as before the conversion,
with no temp file left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.cli import CLI, run_cli
from tests.helpers.projects import DAGSTER, DBT, copy_template, journals, snapshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL"),
    pytest.mark.slow,
]

DELAY = 0.1  # seconds before each file operation of the apply
OPS = 16  # file operations of this conversion: 1 folder, 7 staged files, 8 swaps
TRIALS_PER_GROUP = 6
GROUPS = {
    # kill at a random moment after the start: before planning ends, during apply, after
    "from-start": [0, 1],
    # kill at a random moment after the journal appears: nearly always mid-apply
    "during-apply": [2, 3],
}


@pytest.fixture(scope="module")
def expected(template, tmp_path_factory) -> dict[str, dict[str, str]]:
    """The tree before, and the tree after a clean conversion (relative, so any copy compares)."""
    ref = copy_template(template, tmp_path_factory.mktemp("reference"))
    before = snapshot(ref)
    run_cli("convert-seed", "raw_customers", "--dbt-project-dir", ref / DBT, check=0)
    return {"before": before, "after": snapshot(ref)}


def _start(root: Path, *, delay: float, seeds=("raw_customers",), log: Path) -> subprocess.Popen:
    env = dict(os.environ, DBTSCAFFOLD_TEST_APPLY_DELAY=str(delay))
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(CLI), "convert-seed", *seeds, "--dbt-project-dir", str(root / DBT)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_journal(root: Path, proc: subprocess.Popen, timeout: float = 120) -> bool:
    base = root / DAGSTER / ".dbtscaffold" / "backups"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if base.is_dir() and any((d / "journal.json").exists() for d in base.iterdir()):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("convert-seed never wrote its journal")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _diff(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _trial(root: Path, rng: random.Random, mode: str, expected, log: Path) -> str:
    proc = _start(root, delay=DELAY, log=log)
    try:
        if mode == "from-start":
            time.sleep(rng.uniform(0.05, 3.0))
        else:
            _wait_for_journal(root, proc)
            time.sleep(rng.uniform(0, (OPS + 1) * DELAY))
    finally:
        _kill(proc)
    dagster = root / DAGSTER
    status = set(journals(dagster).values())
    now = snapshot(root)
    if "pending" in status:
        outcome = "undone"
        undo = run_cli("undo", cwd=dagster)
        assert undo.returncode == 0, undo.stderr
        assert "Traceback" not in undo.stderr
        assert snapshot(root) == expected["before"], _diff(snapshot(root), expected["before"])
        assert set(journals(dagster).values()) == {"undone"}
    elif "applied" in status:
        outcome = "after"
        assert now == expected["after"], _diff(now, expected["after"])
        run_cli("undo", cwd=dagster, check=0)
        assert snapshot(root) == expected["before"]
    else:
        outcome = "before"
        assert not status, status
        assert now == expected["before"], _diff(now, expected["before"])
    # Whatever happened, the next run starts clean and lands exactly on "after".
    again = run_cli("convert-seed", "raw_customers", cwd=root / DBT)
    assert again.returncode == 0, again.stderr
    assert snapshot(root) == expected["after"], _diff(snapshot(root), expected["after"])
    return outcome


@pytest.mark.parametrize(
    ("mode", "group"),
    [(mode, g) for mode, groups in GROUPS.items() for g in groups],
    ids=[f"{mode}-{g}" for mode, groups in GROUPS.items() for g in groups],
)
def test_sigkill_during_convert_seed_never_loses_data(mode, group, template, expected, tmp_path):
    outcomes = []
    for i in range(TRIALS_PER_GROUP):
        seed = 1000 * group + i
        root = copy_template(template, tmp_path / f"trial{i}")
        outcome = _trial(root, random.Random(seed), mode, expected, tmp_path / f"trial{i}.log")
        outcomes.append(outcome)
        print(f"trial seed={seed} mode={mode}: {outcome}")
    counts = {k: outcomes.count(k) for k in ("before", "after", "undone")}
    print(f"{mode} group {group}: {counts}")
    if mode == "during-apply":
        # The kills must really land inside the apply, or this test proves nothing.
        assert counts["undone"] >= TRIALS_PER_GROUP // 2, counts


# --- two runs at once ---------------------------------------------------------------------


def _finish(proc: subprocess.Popen, log: Path) -> tuple[int, str]:
    code = proc.wait(timeout=300)
    return code, log.read_text(errors="replace")


@pytest.mark.parametrize("offset", [0.0, 0.3, 0.8], ids=["together", "early", "mid-apply"])
def test_same_conversion_twice_at_once(template, expected, tmp_path, offset):
    """One run converts, the other waits for the lock and then has nothing to do (or
    fails with the lock's one line): never a mixed tree, never two journals."""
    root = copy_template(template, tmp_path / "w")
    a = _start(root, delay=0.05, log=tmp_path / "a.log")
    if offset:
        _wait_for_journal(root, a)
        time.sleep(offset)
    b = _start(root, delay=0.0, log=tmp_path / "b.log")
    (code_a, out_a), (code_b, out_b) = (
        _finish(a, tmp_path / "a.log"),
        _finish(b, tmp_path / "b.log"),
    )
    for code, out in ((code_a, out_a), (code_b, out_b)):
        assert "Traceback" not in out, out
        if code != 0:
            assert code == 1, out
            assert "Another dbtscaffold command is changing this project" in out, out
    assert 0 in (code_a, code_b), (out_a, out_b)
    assert snapshot(root) == expected["after"], _diff(snapshot(root), expected["after"])
    assert list(journals(root / DAGSTER).values()) == ["applied"]
    nothing = [out for code, out in ((code_a, out_a), (code_b, out_b)) if "Nothing to do" in out]
    converted = [out for code, out in ((code_a, out_a), (code_b, out_b)) if "Converted" in out]
    assert len(converted) == 1, (out_a, out_b)
    assert all("Converted" not in out for out in nothing), nothing


@pytest.fixture(scope="module")
def both_orders(template, tmp_path_factory) -> list[dict[str, str]]:
    """The tree after converting raw_customers then raw_orders, and the other way round."""
    out = []
    for order in (("raw_customers", "raw_orders"), ("raw_orders", "raw_customers")):
        ref = copy_template(template, tmp_path_factory.mktemp("order"))
        for seed in order:
            run_cli("convert-seed", seed, "--dbt-project-dir", ref / DBT, check=0)
        out.append(snapshot(ref))
    return out


def test_two_seeds_converted_at_once_both_land(template, expected, both_orders, tmp_path):
    """Two runs on different seeds: the second waits, plans again on the first's result,
    and both changes land; undoing twice gives the original tree back."""
    root = copy_template(template, tmp_path / "w")
    a = _start(root, delay=0.05, seeds=("raw_customers",), log=tmp_path / "a.log")
    b = _start(root, delay=0.05, seeds=("raw_orders",), log=tmp_path / "b.log")
    (code_a, out_a), (code_b, out_b) = (
        _finish(a, tmp_path / "a.log"),
        _finish(b, tmp_path / "b.log"),
    )
    assert (code_a, code_b) == (0, 0), (out_a, out_b)
    now = snapshot(root)
    assert now in both_orders, _diff(now, both_orders[0])
    assert list(journals(root / DAGSTER).values()) == ["applied", "applied"]
    for _ in range(2):
        run_cli("undo", cwd=root / DAGSTER, check=0)
    assert snapshot(root) == expected["before"], _diff(snapshot(root), expected["before"])


# --- undo killed ----------------------------------------------------------------------

UNDO_OPS = 8  # file operations of undoing this conversion (7 restores and 1 delete)
UNDO_TRIALS_PER_GROUP = 5
UNDO_GROUPS = {
    # kill at a random moment after undo starts: before it reads the journal, during, after
    "from-start": [0, 1],
    # kill at a random moment after the journal says "undoing": nearly always mid-restore
    "during-undo": [2, 3],
}


def _start_undo(root: Path, *, delay: float, log: Path) -> subprocess.Popen:
    env = dict(os.environ, DBTSCAFFOLD_TEST_APPLY_DELAY=str(delay))
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(CLI), "undo"],
            cwd=root / DAGSTER,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_status(root: Path, proc: subprocess.Popen, status: str, timeout=120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status in journals(root / DAGSTER).values():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError(f"undo never marked its journal {status!r}")


def _undo_trial(root: Path, rng: random.Random, mode: str, expected, log: Path) -> str:
    run_cli("convert-seed", "raw_customers", "--dbt-project-dir", root / DBT, check=0)
    assert snapshot(root) == expected["after"]
    proc = _start_undo(root, delay=DELAY, log=log)
    try:
        if mode == "from-start":
            time.sleep(rng.uniform(0.05, 3.0))
        else:
            _wait_for_status(root, proc, "undoing")
            time.sleep(rng.uniform(0, (UNDO_OPS + 1) * DELAY))
    finally:
        _kill(proc)
    dagster = root / DAGSTER
    [status] = journals(dagster).values()
    now = snapshot(root)
    outcome = {"applied": "not started", "undoing": "killed mid-undo", "undone": "done"}[status]
    if status == "applied":
        assert now == expected["after"], _diff(now, expected["after"])
    if status == "undone":
        assert now == expected["before"], _diff(now, expected["before"])
    if status != "undone":
        # The documented recovery: run undo again.
        again = run_cli("undo", cwd=dagster)
        assert again.returncode == 0, again.stderr
        assert "Traceback" not in again.stderr
    assert snapshot(root) == expected["before"], _diff(snapshot(root), expected["before"])
    assert list(journals(dagster).values()) == ["undone"]
    return outcome


@pytest.mark.parametrize(
    ("mode", "group"),
    [(mode, g) for mode, groups in UNDO_GROUPS.items() for g in groups],
    ids=[f"{mode}-{g}" for mode, groups in UNDO_GROUPS.items() for g in groups],
)
def test_sigkill_during_undo_then_undo_again_restores_every_byte(
    mode, group, template, expected, tmp_path
):
    outcomes = []
    for i in range(UNDO_TRIALS_PER_GROUP):
        seed = 5000 + 1000 * group + i
        root = copy_template(template, tmp_path / f"trial{i}")
        log = tmp_path / f"trial{i}.log"
        outcomes.append(_undo_trial(root, random.Random(seed), mode, expected, log))
        print(f"undo trial seed={seed} mode={mode}: {outcomes[-1]}")
    counts = {k: outcomes.count(k) for k in ("not started", "killed mid-undo", "done")}
    print(f"undo {mode} group {group}: {counts}")
    if mode == "during-undo":
        # The kills must really land inside the restore, or this test proves nothing.
        assert counts["killed mid-undo"] >= UNDO_TRIALS_PER_GROUP // 2, counts
