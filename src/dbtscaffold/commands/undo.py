"""`dbtscaffold undo`: restore every file of the last change, byte for byte."""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console


def run_undo(
    *,
    dagster_project_dir: Path | None,
    dbt_project_dir: Path | None,
    force: bool,
    dry_run: bool = False,
) -> None:
    """Restore the last change recorded in the Dagster project's .dbtscaffold/."""
    from dbtscaffold.changes.journal import state_lock
    from dbtscaffold.changes.undo import plan_undo, undo_last
    from dbtscaffold.dagster_project.locate import resolve_dagster_project

    info = resolve_dagster_project(dagster_project_dir, dbt_project_dir)
    if dry_run:  # read only: no lock taken, nothing written
        planned = plan_undo(info.state_dir, force=force)
        if planned is None:
            console.success("Nothing to undo.")
            return
        command, plan = planned
        console.print_diff(plan.diff())
        n = len(plan.effective)
        console.info(
            f"Dry run: undoing `dbtscaffold {command}` would restore {n} "
            f"file{'s' if n != 1 else ''}; nothing was written."
        )
        return
    with state_lock(info.state_dir):
        result = undo_last(
            info.state_dir,
            force=force,
            report=lambda verb, path: console.action(verb, str(path)),
        )
    if result is None:
        console.success("Nothing to undo.")
        return
    console.success(
        f"Undid `dbtscaffold {result.command}`: {len(result.restored)} file(s) restored "
        f"from {result.backup_dir}."
    )
