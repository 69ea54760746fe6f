"""What every command that edits files does: take the locks, then show or apply its plan."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from dbtscaffold import console
from dbtscaffold.changes.plan import Plan
from dbtscaffold.errors import UserError

# How long a command waits for another dbtscaffold command (DBTSCAFFOLD_LOCK_TIMEOUT overrides).
STATE_LOCK_TIMEOUT = 30.0


@contextlib.contextmanager
def state_locked(state_dir: Path) -> Iterator[None]:
    """Hold the Dagster project's lock (one dbtscaffold command at a time).

    Waits DBTSCAFFOLD_LOCK_TIMEOUT seconds (30 by default), then stops with one line that
    names the process holding it.
    """
    from dbtscaffold.changes.journal import StateLockBusy, state_lock
    from dbtscaffold.runtime.locks import describe_holders, lock_timeout

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


@contextlib.contextmanager
def dbt_project_locked(dbt_dir: Path, target_path: Path | str) -> Iterator[None]:
    """Hold the dbt project's change lock while writing (see runtime/locks.py).

    Definitions loads in progress finish first, and loads that start meanwhile wait, so
    none of them parses (or imports) the project halfway through the change.
    """
    from dbtscaffold.runtime.locks import LockBusyError, describe_holders, project_lock

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
) -> bool:
    """Print PLAN's diff (dry run) or apply it all-or-nothing; True when files changed."""
    from dbtscaffold.changes.apply import apply_plan

    if plan.is_empty:
        console.success(nothing_to_do)
        return False
    if dry_run:
        console.print_diff(plan.diff())
        n = len(plan.effective)
        console.info(f"Dry run: {n} file{'s' if n != 1 else ''} would change; nothing was written.")
        return False
    applied = apply_plan(plan, state_dir=state_dir, command=command)
    # Reported once every file is in place, in one print (a plan may have 1,000 files).
    console.actions([(c.verb, plan.display_path(c.path)) for c in applied.changes])
    if applied.pruned:
        from dbtscaffold.changes.journal import keep_count

        console.info(
            f"Deleted the {applied.pruned} oldest backup(s) in .dbtscaffold/backups: `undo` "
            f"keeps the last {keep_count()} changes (set DBTSCAFFOLD_KEEP_BACKUPS for more)."
        )
    return True
