"""What every command that edits files does with its plan: show the diff, or apply it."""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console
from dbtscaffold.changes.plan import Plan


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
