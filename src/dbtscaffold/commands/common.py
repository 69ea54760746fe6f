"""What every command that edits files does: one change session, which locks, plans and
shows or applies the change (see change_session)."""

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
def _state_locked(state_dir: Path) -> Iterator[None]:
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
        with _state_locked(state_dir):
            return plan()


@contextlib.contextmanager
def _dbt_project_locked(dbt_dir: Path, target_path: Path | str) -> Iterator[None]:
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


class ChangeSession:
    """The locks one change holds until it ends (see change_session), and its apply."""

    def __init__(
        self, stack: contextlib.ExitStack, state_dir: Path | None, *, dry_run: bool
    ) -> None:
        self._stack = stack
        self.state_dir = state_dir
        self.dry_run = dry_run
        self._state_held = False
        self._dbt_held: set[Path] = set()

    def lock(self, dbt_project: tuple[Path, Path | str] | None = None) -> None:
        """Hold the project's lock (one dbtscaffold command at a time), waiting for it, and
        with DBT_PROJECT (its folder, its target-path) the dbt project's lock too; a dry run
        takes neither, and neither does a project not made yet (STATE_DIR None: nothing
        loads it).

        The dbt project's lock keeps definitions loads out while the files change: loads in
        progress finish first, and loads that start meanwhile wait, so none of them parses
        (or imports) the project halfway through the change (see runtime/locks.py).
        """
        if self.dry_run or self.state_dir is None:
            return
        if not self._state_held:
            self._stack.enter_context(_state_locked(self.state_dir))
            self._state_held = True
        if dbt_project is not None and dbt_project[0] not in self._dbt_held:
            self._stack.enter_context(_dbt_project_locked(*dbt_project))
            self._dbt_held.add(dbt_project[0])

    def plan(self, make: Callable[[], T], *, nothing_to_do: Callable[[T], bool]) -> T:
        """MAKE(), made so that no other dbtscaffold command changes the project until this
        session applies it.

        The project's lock is then held, except for a dry run and for a plan with
        NOTHING_TO_DO, which take none (and so never create the lock file). The project is
        read once when it can be:

        - a lock file that is free now: it is taken, then MAKE() runs under it;
        - no lock file yet (the project's first change): MAKE() runs first, so bad input
          leaves no lock file behind, then the file is created already held
          (journal.first_state_lock), which proves that no other command changed the
          project in between;
        - a busy lock: MAKE() runs at once, and a plan with nothing to do ends there; else
          the lock is waited for and MAKE() runs again under it. (Bad input that may come
          from the other command's half-done change is read again under the lock:
          `_plan_unlocked`.)
        """
        from dbtscaffold.changes.journal import LOCK, first_state_lock, state_lock

        if self._state_held or self.state_dir is None:
            return make()
        had_lock = (self.state_dir / LOCK).is_file()
        if had_lock and not self.dry_run:
            try:
                self._stack.enter_context(state_lock(self.state_dir, wait=0))
            except UserError:
                pass  # busy, or refused: lock() below waits, or says why
            else:
                self._state_held = True
                return make()
        result = _plan_unlocked(make, self.state_dir)
        if self.dry_run or nothing_to_do(result):
            return result
        if not had_lock and self._stack.enter_context(first_state_lock(self.state_dir)):
            self._state_held = True
            return result
        self.lock()
        return make()

    def apply(
        self,
        plan: Plan,
        *,
        command: str,
        nothing_to_do: str = "Nothing to do: everything is already up to date.",
        report: bool = True,
    ) -> bool:
        """Print PLAN's diff (dry run) or apply it all-or-nothing, with its journal and
        backups in the state folder (for `undo`); True when files changed.

        Applied, each change is listed (a move as `from -> to`) unless REPORT is false (the
        command prints its own list).
        """
        from dbtscaffold.changes.apply import apply_plan

        if plan.is_empty:
            console.success(nothing_to_do)
            return False
        if self.dry_run:
            console.print_diff(plan.diff())
            n = len(plan.effective)
            console.info(f"Dry run: {console.count(n, 'file')} would change; nothing was written.")
            return False
        applied = apply_plan(plan, state_dir=self.state_dir, command=command)
        # Reported once every file is in place, in one print (a plan may have 1,000 files).
        if report:
            console.actions(plan.summary())
        if applied.pruned:
            from dbtscaffold.changes.journal import keep_count

            console.info(
                f"Deleted the {console.count(applied.pruned, 'oldest backup')} in "
                f".dbtscaffold/backups: `undo` keeps the last {keep_count()} changes (set "
                "DBTSCAFFOLD_KEEP_BACKUPS for more)."
            )
        return True


@contextlib.contextmanager
def change_session(state_dir: Path | None, *, dry_run: bool) -> Iterator[ChangeSession]:
    """One change of the Dagster project whose state (lock, journals, backups) is STATE_DIR
    (None: no project yet, or files of no project: no lock, no journal).

    Every command that edits files plans, locks and applies through it: `session.plan`
    (plan so that nobody changes the project before the apply), `session.lock` (the
    project's lock, and the dbt project's while writing), `session.apply` (the diff, or the
    change with its journal). The locks it took are held until the `with` ends, the dbt
    project's released first. A dry run takes no lock and creates no lock file.
    """
    with contextlib.ExitStack() as stack:
        yield ChangeSession(stack, state_dir, dry_run=dry_run)
