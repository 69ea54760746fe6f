"""`dbtscaffold init` (and `project scaffold`): write a Dagster project for a dbt project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dbtscaffold import console
from dbtscaffold.commands.common import change_session

if TYPE_CHECKING:
    from dbtscaffold.dagster_project.scaffold import InitResult


def run_init(
    *,
    project_name: str | None,
    dbt_project_dir: Path,
    profiles_dir: Path | None,
    output_dir: Path,
    force: bool,
    dry_run: bool,
    overwrite: bool = False,
    interactive: bool = False,
    next_steps: bool = True,
    schedule: str | None = None,
    no_schedule: bool = False,
    ignore_package_conflict: bool = False,
    dbt_state: bool = False,
    layout: str = "python",
    lock: bool = False,
) -> Path:
    """Plan and write the Dagster project; return its folder."""
    from dbtscaffold.dagster_project.scaffold import default_project_name, plan_init
    from dbtscaffold.dbt import project as proj

    if project_name is None and interactive and not dry_run:
        import typer

        default = default_project_name(proj.read_dbt_project(dbt_project_dir))
        project_name = typer.prompt("Dagster project name", default=default)
    result = plan_init(
        dbt_project_dir,
        output_dir,
        project_name,
        profiles_dir,
        force,
        overwrite=overwrite,
        schedule=schedule,
        no_schedule=no_schedule,
        ignore_package_conflict=ignore_package_conflict,
        dbt_state=dbt_state,
        layout=layout,
    )
    if lock:
        from dbtscaffold.dagster_project.lockfile import plan_uv_lock

        with console.status("Resolving the dependencies with `uv lock`"):
            result.plan.add(plan_uv_lock(result.plan, result.project_dir))
    if result.name_warning:
        console.warn(result.name_warning)
    how = {
        "--profiles-dir": "given by --profiles-dir",
        "DBT_PROFILES_DIR": "given by DBT_PROFILES_DIR",
        "project": "in the dbt project",
        "home": "in ~/.dbt",
    }[result.profile.location.how]
    existed = result.project_dir.exists()
    state_dir = result.project_dir / ".dbtscaffold" if existed else None
    with change_session(state_dir, dry_run=dry_run) as session:
        if not result.plan.is_empty:
            # --force / --overwrite rewrite code that definitions loads import: one command
            # at a time, and no load of this project while the files change.
            session.lock(dbt_project=(result.dbt.dir, result.dbt.target_path))
        changed = session.apply(
            result.plan,
            command="init",
            nothing_to_do=f"Nothing to do: {result.project_dir} is already up to date.",
        )
    # After the plan ran, so that a failed init prints its one error line and nothing else.
    console.info(f"Using profiles.yml {how}: {console.shown_path(result.profile.location.path)}")
    if changed:
        _print_created(result, layout=layout, next_steps=next_steps)
    return result.project_dir


def _print_created(result: InitResult, *, layout: str, next_steps: bool) -> None:
    """The line that says what init made, and (with NEXT_STEPS) what to run next."""
    console.success(
        f"Created Dagster project `{result.project_dir.name}` for dbt project "
        f"`{result.dbt.name}` (adapters: {', '.join(result.adapter_packages)})."
    )
    if not next_steps:
        return
    shown = console.shown_path(result.project_dir)
    console.info("Next steps:")
    console.info(f"  cd {shown}")
    if layout == "components":
        console.info('  pip install -e ".[dev]"    # dg imports the project by name')
        console.info("  dg check defs && dg list defs && dg dev")
    else:
        console.info(
            "  dbtscaffold dev            # open the Dagster UI with every dbt model as an asset"
        )
        console.info("  dbtscaffold materialize    # or build every asset headless")
        seeds = sorted(
            p.stem for d in result.dbt.seed_paths for p in (result.dbt.dir / d).rglob("*.csv")
        )
        if seeds:
            console.info(
                f"  dbtscaffold convert-seed {seeds[0]}   # a seed becomes an upstream Dagster "
                "asset (--dry-run first)"
            )
