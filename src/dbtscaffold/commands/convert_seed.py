"""`dbtscaffold convert-seed`: a dbt seed becomes a source loaded by an upstream Dagster asset.

`run_convert_seed` finds both projects, has convert_seed_plan plan the change (it never
writes), then shows it (`--dry-run`) or applies it as one change under the project's lock,
and reports. What it promises: README.md, "Commands", and docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console
from dbtscaffold.commands.convert_seed_plan import ConvertResult, plan_convert_seed
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
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
    for seed in seeds:
        check_name(seed, "Seed name")
    if source_name is not None:
        check_name(source_name, "Source name")
    if schema is not None:
        check_name(schema, "Schema")
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
    _summary(result, to_stdout=True)
    for info in result.infos:
        console.info(info)
    for note in (*result.warnings, *result.notes):
        console.warn(note)
    elapsed = time.perf_counter() - started
    names = ", ".join(f"`{s}`" for s in result.converted)
    keys = ", ".join(f"`{'/'.join(result.keys.get(s, [s]))}`" for s in result.converted)
    n = len(result.converted)
    console.success(
        f"Converted {names} into source `{source_name or dbt.name}` in {elapsed:.2f} s: "
        f"{'the Dagster asset' if n == 1 else 'the Dagster assets'} {keys} in "
        f"`{result.plan.display_path(result.seed_assets_path or dagster.package_dir)}` "
        f"{'loads it' if n == 1 else 'load them'}. Undo with `dbtscaffold undo`."
    )
    if dagster_dev_running(dagster):
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
    return result


def _is_dagster_dev(cmd: list[str]) -> bool:
    """`dagster dev`, `python -m dagster dev`, `dg dev` (or the webserver they start)."""
    names = [Path(a).name for a in cmd]
    for i, name in enumerate(names[:-1]):
        if name in ("dagster", "dg") and names[i + 1] == "dev":
            return True
    return any(n == "dagster-webserver" for n in names[:2])


def dagster_dev_url(dagster: DagsterProjectInfo) -> str | None:
    """The UI's address of a `dagster dev`/`dg dev` working in the project's folder, if any."""
    import itertools

    import psutil

    from dbtscaffold import proc

    for pid in proc.running_in(dagster.dir, _is_dagster_dev):
        try:
            cmd = psutil.Process(pid).cmdline()
        except psutil.Error:
            continue
        host, port = "127.0.0.1", "3000"  # dagster dev's defaults
        for flag, value in itertools.pairwise(cmd):
            if flag in ("-h", "--host"):
                host = value
            elif flag in ("-p", "--port", "--dagster-webserver-port"):
                port = value
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{port}"
    return None


def dagster_dev_running(dagster: DagsterProjectInfo) -> bool:
    """True when a `dagster dev` works in the Dagster project's folder (best effort)."""
    from dbtscaffold import proc

    return bool(proc.running_in(dagster.dir, _is_dagster_dev))


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
