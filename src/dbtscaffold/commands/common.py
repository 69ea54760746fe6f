"""What every command that edits files does: take the locks, then show or apply its plan."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from dbtscaffold import console
from dbtscaffold.changes.plan import Plan
from dbtscaffold.errors import UserError

T = TypeVar("T")

# How long a command waits for another dbtscaffold command (DBTSCAFFOLD_LOCK_TIMEOUT overrides).
STATE_LOCK_TIMEOUT = 30.0


@contextlib.contextmanager
def state_locked(state_dir: Path) -> Iterator[None]:
    """Hold the Dagster project's lock (one dbtscaffold command at a time).

    Waits DBTSCAFFOLD_LOCK_TIMEOUT seconds (30 by default), then stops with one line that
    names the process holding it.
    """
    from dbtscaffold.changes.journal import StateLockBusy, state_lock
    from dbtscaffold.runtime.change_lock import describe_holders, lock_timeout

    stack = contextlib.ExitStack()
    try:
        stack.enter_context(state_lock(state_dir, wait=lock_timeout(STATE_LOCK_TIMEOUT)))
    except StateLockBusy as e:
        raise UserError(
            f"Another dbtscaffold command is changing this project (lock `{e.lock}`"
            f"{describe_holders(e.lock)}); wait for it to finish and retry. Nothing was changed."
        ) from None
    with stack:
        yield


def planned_under_lock(
    held: contextlib.ExitStack,
    state_dir: Path,
    plan: Callable[[], T],
    *,
    dry_run: bool,
    nothing_to_do: Callable[[T], bool],
) -> T:
    """PLAN(), made so that no other dbtscaffold command changes the project until it is applied.

    The project's lock is left held in HELD, except for a dry run and for a plan with
    NOTHING_TO_DO, which take none (and so never create the lock file). The project is
    read once when it can be:

    - a lock file that is free now: it is taken, then PLAN() runs under it;
    - no lock file yet (the project's first change): PLAN() runs first, so bad input leaves
      no lock file behind, then the file is created already held (journal.first_state_lock),
      which proves that no other command changed the project in between;
    - a busy lock: PLAN() runs at once, and a plan with nothing to do ends there; else the
      lock is waited for and PLAN() runs again under it. (Bad input that may come from the
      other command's half-done change is read again under the lock: `_plan_unlocked`.)
    """
    from dbtscaffold.changes.journal import LOCK, first_state_lock, state_lock

    had_lock = (state_dir / LOCK).is_file()
    if had_lock and not dry_run:
        try:
            held.enter_context(state_lock(state_dir, wait=0))
        except UserError:
            pass  # busy, or refused: state_locked below waits, or says why
        else:
            return plan()
    result = _plan_unlocked(plan, state_dir)
    if dry_run or nothing_to_do(result):
        return result
    if not had_lock and held.enter_context(first_state_lock(state_dir)):
        return result
    held.enter_context(state_locked(state_dir))
    return plan()


def _plan_unlocked(plan: Callable[[], T], state_dir: Path) -> T:
    """PLAN() without the lock: bad input fails here and leaves nothing behind."""
    from dbtscaffold.changes.journal import LOCK

    try:
        return plan()
    except (UserError, OSError):
        # Another command may have been swapping files while we read them (a CSV gone
        # between listing and reading it): once it is done, read again, under the lock.
        if not (state_dir / LOCK).exists():
            raise
        with state_locked(state_dir):
            return plan()


@contextlib.contextmanager
def dbt_project_locked(dbt_dir: Path, target_path: Path | str) -> Iterator[None]:
    """Hold the dbt project's change lock while writing (see runtime/locks.py and change_lock.py).

    Definitions loads in progress finish first, and loads that start meanwhile wait, so
    none of them parses (or imports) the project halfway through the change.
    """
    from dbtscaffold.runtime.change_lock import LockBusyError, describe_holders, project_lock

    stack = contextlib.ExitStack()
    try:
        stack.enter_context(project_lock(dbt_dir, target_path))
    except LockBusyError as e:
        raise UserError(
            f"The dbt project `{dbt_dir}` is being loaded or parsed (lock `{e.path}`"
            f"{describe_holders(e.path)}); wait for it to finish and retry. Nothing was changed."
        ) from None
    with stack:
        yield


def execute_plan(
    plan: Plan,
    *,
    dry_run: bool,
    state_dir: Path | None,
    command: str,
    nothing_to_do: str = "Nothing to do: everything is already up to date.",
    report: bool = True,
) -> bool:
    """Print PLAN's diff (dry run) or apply it all-or-nothing; True when files changed.

    Applied, each change is listed (a move as `from -> to`) unless REPORT is false (the
    command prints its own list).
    """
    from dbtscaffold.changes.apply import apply_plan

    if plan.is_empty:
        console.success(nothing_to_do)
        return False
    if dry_run:
        console.print_diff(plan.diff())
        n = len(plan.effective)
        console.info(f"Dry run: {console.count(n, 'file')} would change; nothing was written.")
        return False
    applied = apply_plan(plan, state_dir=state_dir, command=command)
    # Reported once every file is in place, in one print (a plan may have 1,000 files).
    if report:
        console.actions(plan.summary())
    if applied.pruned:
        from dbtscaffold.changes.journal import keep_count

        console.info(
            f"Deleted the {console.count(applied.pruned, 'oldest backup')} in .dbtscaffold/backups: `undo` "
            f"keeps the last {keep_count()} changes (set DBTSCAFFOLD_KEEP_BACKUPS for more)."
        )
    return True
