"""`dbtscaffold undo`: restore every file of the last change, byte for byte."""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console
from dbtscaffold.dagster_project.locate import DagsterProjectInfo


def run_undo(
    *,
    dagster_project_dir: Path | None,
    dbt_project_dir: Path | None,
    force: bool,
    dry_run: bool = False,
) -> None:
    """Restore the last change recorded in the Dagster project's .dbtscaffold/."""
    from dbtscaffold.changes.plan import Plan
    from dbtscaffold.changes.undo import plan_undo, undo_last
    from dbtscaffold.commands.common import change_session
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
    shown = Plan(roots=(info.dbt_project_dir, info.dir)).display_path
    # The dbt project's parse-on-load lock too: a load never parses a half-restored project.
    with change_session(info.state_dir, dry_run=False) as session:
        session.lock(dbt_project=(info.dbt_project_dir, _target_path(info)))
        result = undo_last(
            info.state_dir,
            force=force,
            report=lambda verb, path: console.action(verb, shown(path)),
        )
    if result is None:
        console.success("Nothing to undo.")
        return
    n = len(result.restored)
    console.success(
        f"Undid `dbtscaffold {result.command}`: {n} file{'s' if n != 1 else ''} restored "
        f"from {shown(result.backup_dir)}."
    )


def _target_path(info: DagsterProjectInfo) -> str:
    """The dbt project's target-path ("target" when dbt_project.yml cannot be read)."""
    from dbtscaffold.dbt.project import read_dbt_project
    from dbtscaffold.errors import UserError

    try:
        return read_dbt_project(info.dbt_project_dir).target_path
    except UserError:  # a broken or missing dbt project must not stop an undo
        return "target"
