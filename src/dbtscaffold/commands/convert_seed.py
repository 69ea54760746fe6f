"""`dbtscaffold convert-seed`: a dbt seed becomes a source loaded by an upstream Dagster asset.

`run_convert_seed` finds both projects, has convert/ plan the change (it never writes),
then shows it (`--dry-run`) or applies it as one change under the project's lock, and
reports. What it promises: README.md, "Commands", and docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console
from dbtscaffold.convert.planner import ConvertResult, plan_convert_seed
from dbtscaffold.dagster_project.locate import DagsterProjectInfo, dagster_dev_url
from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.dbt.target import NAME_RE
from dbtscaffold.errors import UserError


def check_name(value: str, what: str) -> None:
    """A UserError unless VALUE is a plain identifier (no path, quotes or spaces)."""
    if not NAME_RE.match(value):
        shown = value.encode("unicode_escape").decode("ascii")
        raise UserError(
            f"{what} `{shown}` is not a plain name (letters, digits and underscores, not "
            f"starting with a digit); pass the seed's CSV file name without folder or `.csv`."
            if what == "Seed name"
            else f"{what} `{shown}` is not a plain name (letters, digits and underscores, "
            "not starting with a digit)."
        )


def resolve_projects(
    dbt_project_dir: Path | None, dagster_project_dir: Path | None
) -> tuple[DbtProjectInfo, DagsterProjectInfo]:
    """The dbt project and the Dagster project made for it, from the options or the cwd."""
    from dbtscaffold.dagster_project.locate import resolve_dagster_project
    from dbtscaffold.dbt.project import DBT_PROJECT_YML, read_dbt_project

    if dbt_project_dir is None and dagster_project_dir is None:
        if (Path.cwd() / DBT_PROJECT_YML).is_file():
            dbt_project_dir = Path.cwd()
        else:
            dagster = resolve_dagster_project(None, None)
            return read_dbt_project(dagster.dbt_project_dir), dagster
    if dbt_project_dir is None:
        dagster = resolve_dagster_project(dagster_project_dir, None)
        return read_dbt_project(dagster.dbt_project_dir), dagster
    dbt = read_dbt_project(dbt_project_dir)
    dagster = resolve_dagster_project(dagster_project_dir, dbt.dir)
    if dagster.dbt_project_dir != dbt.dir:
        raise UserError(
            f"Dagster project `{dagster.dir}` orchestrates `{dagster.dbt_project_dir}`, not "
            f"`{dbt.dir}`; pass the matching --dbt-project-dir or --dagster-project-dir."
        )
    return dbt, dagster


def run_convert_seed(
    *,
    seeds: list[str],
    dbt_project_dir: Path | None,
    dagster_project_dir: Path | None,
    source_name: str | None,
    delete_csv: bool,
    dry_run: bool,
    schema: str | None = None,
) -> ConvertResult:
    """Plan the conversion, then print its diff (dry run) or apply it as one change."""
    import time

    from dbtscaffold.commands.common import change_session

    started = time.perf_counter()
    _check_names(seeds, source_name, schema)
    dbt, dagster = resolve_projects(dbt_project_dir, dagster_project_dir)
    if source_name is None and not NAME_RE.match(dbt.name):
        # The default source name goes into source('...') calls and YAML like any other.
        shown = dbt.name.encode("unicode_escape").decode("ascii")
        raise UserError(
            f"The dbt project name `{shown}` is not a plain name, so it cannot be the source's "
            "name; pass --source-name."
        )
    unique = list(dict.fromkeys(seeds))

    def plan() -> ConvertResult:
        return plan_convert_seed(
            dbt, dagster, unique, source_name=source_name or dbt.name, delete_csv=delete_csv,
            schema=schema,
        )  # fmt: skip

    done = ", ".join(f"`{s}`" for s in unique)
    with change_session(dagster.state_dir, dry_run=dry_run) as session:
        result = session.plan(plan, nothing_to_do=lambda r: r.plan.is_empty)
        if result.plan.is_empty:
            console.success(f"Nothing to do: {done} already converted.")
            return result
        if dry_run:
            console.print_diff(result.plan.diff())
            _summary(result, to_stdout=False)
            for warning in result.warnings:
                console.warn(warning)
            console.info("Dry run: nothing was written.")
            return result
        # Definitions that load meanwhile see the project before or after, never between.
        session.lock(dbt_project=(dbt.dir, dbt.target_path))
        session.apply(
            result.plan,
            command="convert-seed " + " ".join(unique),
            report=False,  # the summary table below lists every change once
        )
    _report(result, source_name or dbt.name, dagster, time.perf_counter() - started)
    return result


def _check_names(seeds: list[str], source_name: str | None, schema: str | None) -> None:
    """A UserError unless the seeds, the source name and the schema given are plain names."""
    for seed in seeds:
        check_name(seed, "Seed name")
    if source_name is not None:
        check_name(source_name, "Source name")
    if schema is not None:
        check_name(schema, "Schema")


def _report(
    result: ConvertResult, source: str, dagster: DagsterProjectInfo, elapsed: float
) -> None:
    """What an applied conversion changed, what to know about it, and what to do next."""
    _summary(result, to_stdout=True)
    for info in result.infos:
        console.info(info)
    for note in (*result.warnings, *result.notes):
        console.warn(note)
    names = ", ".join(f"`{s}`" for s in result.converted)
    keys = ", ".join(f"`{'/'.join(result.keys.get(s, [s]))}`" for s in result.converted)
    n = len(result.converted)
    console.success(
        f"Converted {names} into source `{source}` in {elapsed:.2f} s: "
        f"{'the Dagster asset' if n == 1 else 'the Dagster assets'} {keys} in "
        f"`{result.plan.display_path(result.seed_assets_path or dagster.package_dir)}` "
        f"{'loads it' if n == 1 else 'load them'}. Undo with `dbtscaffold undo`."
    )
    if dagster_dev_url(dagster) is not None:
        console.info(
            "`dagster dev` is running for this project: click Reload definitions in the UI "
            "to see the new assets; `dbtscaffold materialize` or a UI run loads the CSV "
            "before the models that read it."
        )
    else:
        console.info(
            "Next: `dbtscaffold materialize` (or `dbtscaffold dev`) loads the CSV before the "
            "models that read it."
        )


def _summary(result: ConvertResult, *, to_stdout: bool) -> None:
    """One table of the changes (a move as `from -> to`) with the refs rewritten in each."""
    plan = result.plan
    refs = {plan.display_path(p): n for p, n in result.refs.items()}
    rows = [[shown, verb, refs.get(shown) or ""] for verb, shown in plan.summary()]
    total = sum(result.refs.values())
    title = (
        f"convert-seed: {console.count(len(rows), 'change')}, "
        f"{console.count(total, 'ref')} rewritten"
    )
    console.table(title, ["File", "Change", "Refs"], rows, to_stdout=to_stdout)
