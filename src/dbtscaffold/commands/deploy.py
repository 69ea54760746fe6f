"""`dbtscaffold deploy`: the files that run the project as Dagster runs in production."""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console


def _uses_duckdb(dbt_project_dir: Path) -> bool:
    """Whether the dbt target in use by default is DuckDB (one writer at a time)."""
    from dbtscaffold.dbt.project import find_profiles, read_dbt_project, read_profile

    dbt = read_dbt_project(dbt_project_dir)
    profile = read_profile(find_profiles(dbt.dir), dbt.profile)
    name = profile.default_target or next(iter(profile.targets))
    return str(profile.targets.get(name, {}).get("type", "")).lower() == "duckdb"


def run_deploy(
    *, dagster_project_dir: Path | None, host: str, port: int, force: bool, dry_run: bool
) -> bool:
    """Plan the deploy files, then show (dry run) or write them; True when files changed."""
    from dbtscaffold.changes.plan import Plan
    from dbtscaffold.commands.common import change_session
    from dbtscaffold.dagster_project.deploy import PG_ENV, plan_deploy, refuse_overwrite
    from dbtscaffold.dagster_project.locate import dagster_module_name, resolve_dagster_project

    info = resolve_dagster_project(dagster_project_dir)
    module = dagster_module_name(info)
    duckdb = _uses_duckdb(info.dbt_project_dir)

    def planned() -> Plan:
        plan, differing = plan_deploy(info, module, host=host, port=port, duckdb=duckdb)
        if differing and not force and not dry_run:  # before any lock file is made
            raise refuse_overwrite(differing)
        return plan

    with change_session(info.state_dir, dry_run=dry_run) as session:
        # Planned under the project's lock, as every change is: no other command in between.
        plan = session.plan(planned, nothing_to_do=lambda p: p.is_empty)
        changed = session.apply(
            plan,
            command="deploy",
            nothing_to_do="Nothing to do: the files in `deploy/` are up to date.",
        )
    if not changed:
        return False
    console.success(f"Wrote the production topology of `{info.package}` into `deploy/`.")
    console.info('Run it (README.md, "Package and deploy", says more):')
    console.info("  dbtscaffold package      # then install dist/*.whl[deploy] where it runs")
    console.info(f'  export DAGSTER_HOME="$PWD/deploy" {" ".join(f"{v}=..." for v in PG_ENV)}')
    console.info(f"  dagster code-server start -m {module} -h {host} -p {port}")
    console.info("  dagster-webserver -w deploy/workspace.yaml")
    console.info("  dagster-daemon run -w deploy/workspace.yaml")
    return changed
