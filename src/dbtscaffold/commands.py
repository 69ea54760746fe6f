"""Command bodies shared by the CLI: plan, show or apply, report."""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console
from dbtscaffold.errors import UserError
from dbtscaffold.plan import FileChange, Plan


def execute_plan(
    plan: Plan,
    *,
    dry_run: bool,
    state_dir: Path | None,
    command: str,
    nothing_to_do: str = "Nothing to do: everything is already up to date.",
) -> bool:
    """Print PLAN's diff (dry run) or apply it all-or-nothing; True when files changed."""
    from dbtscaffold.apply import apply_plan

    if plan.is_empty:
        console.success(nothing_to_do)
        return False
    if dry_run:
        console.print_diff(plan.diff())
        n = len(plan.effective)
        console.info(f"Dry run: {n} file{'s' if n != 1 else ''} would change; nothing was written.")
        return False
    apply_plan(
        plan,
        state_dir=state_dir,
        command=command,
        report=lambda verb, path: console.action(verb, plan.display_path(path)),
    )
    return True


def run_init(
    *,
    project_name: str | None,
    dbt_project_dir: Path,
    profiles_dir: Path | None,
    output_dir: Path,
    force: bool,
    dry_run: bool,
    interactive: bool = False,
    next_steps: bool = True,
) -> Path:
    """Plan and write the Dagster project; return its folder."""
    from dbtscaffold import project as proj
    from dbtscaffold.scaffold import default_project_name, plan_init

    if project_name is None and interactive and not dry_run:
        import typer

        default = default_project_name(proj.read_dbt_project(dbt_project_dir))
        project_name = typer.prompt("Dagster project name", default=default)
    result = plan_init(dbt_project_dir, output_dir, project_name, profiles_dir, force)
    how = {
        "--profiles-dir": "given by --profiles-dir",
        "DBT_PROFILES_DIR": "given by DBT_PROFILES_DIR",
        "project": "in the dbt project",
        "home": "in ~/.dbt",
    }[result.profile.location.how]
    existed = result.project_dir.exists()
    state_dir = result.project_dir / ".dbtscaffold" if existed else None
    changed = execute_plan(
        result.plan,
        dry_run=dry_run,
        state_dir=state_dir,
        command="init",
        nothing_to_do=f"Nothing to do: {result.project_dir} is already up to date.",
    )
    # After the plan ran, so that a failed init prints its one error line and nothing else.
    console.info(f"Using profiles.yml {how}: {result.profile.location.path}")
    if changed:
        rel = Path(__import__("os").path.relpath(result.project_dir, Path.cwd()))
        shown = rel if not str(rel).startswith("..") else result.project_dir
        console.success(
            f"Created Dagster project `{result.project_dir.name}` for dbt project "
            f"`{result.dbt.name}` (adapters: {', '.join(result.adapter_packages)})."
        )
    if changed and next_steps:
        console.info("Next steps:")
        console.info(f"  cd {shown}")
        console.info(
            "  dbtscaffold dev            # open the Dagster UI with every dbt model as an asset"
        )
        console.info("  dbtscaffold materialize    # or build every asset headless")
    return result.project_dir


def plan_copy_tree(src: Path, dest: Path) -> Plan:
    """A plan that creates DEST as a copy of SRC (refusing to touch an existing DEST)."""
    plan = Plan(roots=(dest,), description=f"copy {src.name}")
    for p in sorted(src.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            plan.add(FileChange(dest / p.relative_to(src), None, p.read_bytes()))
    return plan


def run_example(dest: Path, *, dry_run: bool, next_steps: bool = True) -> Path:
    """Write the bundled example dbt project to DEST."""
    from dbtscaffold.resources import example_dir

    dest = dest.absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if (dest / "dbt_project.yml").is_file():
            raise UserError(
                f"`{dest}` already holds a dbt project; use it as is or pick another folder."
            )
        raise UserError(f"`{dest}` exists and is not empty; pick another folder.")
    from dbtscaffold.scaffold import _check_writable

    _check_writable(dest)
    plan = plan_copy_tree(example_dir(), dest)
    if execute_plan(plan, dry_run=dry_run, state_dir=None, command="example"):
        console.success(f"Wrote the example dbt project `jaffle_shop` to {dest}.")
        if next_steps:
            console.info(f"Next: dbtscaffold init --dbt-project-dir {dest}")
    return dest


def run_undo(
    *, dagster_project_dir: Path | None, dbt_project_dir: Path | None, force: bool
) -> None:
    """Restore the last change recorded in the Dagster project's .dbtscaffold/."""
    from dbtscaffold.apply import state_lock
    from dbtscaffold.project import resolve_dagster_project
    from dbtscaffold.undo import undo_last

    info = resolve_dagster_project(dagster_project_dir, dbt_project_dir)
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
