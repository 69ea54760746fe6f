"""The Typer app: options, lazy imports, one core call per command, errors -> exit codes.

Heavy modules (dagster, dagster_dbt, dbt, cookiecutter, ruamel) are imported inside the
commands, so `dbtscaffold --help` stays instant.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from dbtscaffold import __version__, console
from dbtscaffold.cli_group import Group
from dbtscaffold.cli_options import (
    DagsterDir,
    DbtDir,
    DbtState,
    DryRun,
    Force,
    IgnorePackageConflict,
    Layout,
    Lock,
    NoSchedule,
    OutputDir,
    Overwrite,
    PackageDataDir,
    ProfilesDir,
    ProjectName,
    Schedule,
    complete_keys,
    complete_seeds,
)
from dbtscaffold.errors import UserError

app = typer.Typer(
    name="dbtscaffold",
    help="Put a dbt project under Dagster in one step, and keep it healthy.",
    cls=Group,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
project_app = typer.Typer(
    help="dagster-dbt compatible spellings (`dbtscaffold project scaffold`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(project_app, name="project")


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Print a UserError as one line and exit 1; let bugs show their traceback."""
    try:
        yield
    except UserError as e:
        console.error(e.line())
        if e.details:
            console.detail(e.details)
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        console.data(f"dbtscaffold {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show details of errors and steps.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (as NO_COLOR=1 does).")
    ] = False,
) -> None:
    console.VERBOSE = verbose
    if no_color:
        console.set_no_color()


# --- init -------------------------------------------------------------------


def _init(options: dict[str, Any]) -> None:
    """init and project scaffold: OPTIONS are their parameters, by name."""
    if options["schedule"] is not None and options["no_schedule"]:
        raise typer.BadParameter("--schedule and --no-schedule exclude each other.")
    with handle_errors():
        from dbtscaffold.commands.init import run_init

        options.pop("use_dbt_project_package_data_dir", None)  # always so (see cli_options)
        run_init(
            dbt_project_dir=options.pop("dbt_project_dir") or Path.cwd(),
            output_dir=options.pop("output_dir") or Path.cwd(),
            force=options.pop("force") or options["overwrite"],
            interactive=sys.stdin.isatty() and sys.stdout.isatty(),
            dbt_state=options.pop("use_experimental_dbt_state"),
            **options,
        )


@app.command()
def init(
    project_name: ProjectName = None,
    dbt_project_dir: DbtDir = None,
    profiles_dir: ProfilesDir = None,
    output_dir: OutputDir = None,
    force: Force = False,
    overwrite: Overwrite = False,
    dry_run: DryRun = False,
    schedule: Schedule = None,
    no_schedule: NoSchedule = False,
    ignore_package_conflict: IgnorePackageConflict = False,
    use_experimental_dbt_state: DbtState = False,
    layout: Layout = "python",
    lock: Lock = False,
) -> None:
    """Create a Dagster project that loads every dbt model as an asset."""
    _init(locals())


@project_app.command("scaffold")
def project_scaffold(
    project_name: ProjectName = None,
    dbt_project_dir: DbtDir = None,
    profiles_dir: ProfilesDir = None,
    output_dir: OutputDir = None,
    force: Force = False,
    overwrite: Overwrite = False,
    dry_run: DryRun = False,
    schedule: Schedule = None,
    no_schedule: NoSchedule = False,
    ignore_package_conflict: IgnorePackageConflict = False,
    use_experimental_dbt_state: DbtState = False,
    use_dbt_project_package_data_dir: PackageDataDir = False,
    layout: Layout = "python",
    lock: Lock = False,
) -> None:
    """Same as `dbtscaffold init`, with every option of `dagster-dbt project scaffold`."""
    _init(locals())


# --- example ----------------------------------------------------------------


@app.command()
def example(
    dest: Annotated[
        Path | None,
        typer.Argument(
            metavar="DEST", help="Folder to write the example into. Default: ./jaffle_shop"
        ),
    ] = None,
    dry_run: DryRun = False,
) -> None:
    """Write the bundled DuckDB example dbt project (jaffle_shop)."""
    with handle_errors():
        from dbtscaffold.commands.example import run_example

        run_example(dest or Path.cwd() / "jaffle_shop", dry_run=dry_run)


# --- convert-seed / undo ----------------------------------------------------


@app.command("convert-seed")
def convert_seed(
    seeds: Annotated[
        list[str],
        typer.Argument(
            metavar="SEED",
            help="Seed names (CSV file names without .csv).",
            autocompletion=complete_seeds,
        ),
    ],
    dbt_project_dir: DbtDir = None,
    dagster_project_dir: DagsterDir = None,
    source_name: Annotated[
        str | None,
        typer.Option(
            "--source-name",
            metavar="NAME",
            help="dbt source to declare the table in. Default: the dbt project name.",
        ),
    ] = None,
    delete_csv: Annotated[
        bool,
        typer.Option(
            "--delete-csv",
            help="Delete the CSV instead of moving it to the Dagster project's data/.",
        ),
    ] = False,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            metavar="SCHEMA",
            help="Load into this schema instead of the seed's (the old table stays).",
        ),
    ] = None,
    dry_run: DryRun = False,
) -> None:
    """Turn dbt seeds into sources loaded by upstream Dagster assets."""
    with handle_errors():
        from dbtscaffold.commands.convert_seed import run_convert_seed

        run_convert_seed(
            seeds=seeds,
            dbt_project_dir=dbt_project_dir,
            dagster_project_dir=dagster_project_dir,
            source_name=source_name,
            delete_csv=delete_csv,
            schema=schema,
            dry_run=dry_run,
        )


@app.command()
def undo(
    dagster_project_dir: DagsterDir = None,
    dbt_project_dir: DbtDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Restore even files edited since the change.")
    ] = False,
    dry_run: DryRun = False,
) -> None:
    """Restore every file of the last change byte for byte."""
    with handle_errors():
        from dbtscaffold.commands.undo import run_undo

        run_undo(
            dagster_project_dir=dagster_project_dir,
            dbt_project_dir=dbt_project_dir,
            force=force,
            dry_run=dry_run,
        )


# --- package / deploy -------------------------------------------------------


@app.command()
def package(dagster_project_dir: DagsterDir = None, dry_run: DryRun = False) -> None:
    """Build a wheel that carries the dbt project and its manifest (runs without the source)."""
    with handle_errors():
        from dbtscaffold.commands.package import run_package

        run_package(dagster_project_dir=dagster_project_dir, dry_run=dry_run)


@app.command()
def deploy(
    dagster_project_dir: DagsterDir = None,
    host: Annotated[
        str, typer.Option("--host", help="Host the code server listens on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Port of the code server.")
    ] = 4000,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite deploy files that differ (backed up).")
    ] = False,
    dry_run: DryRun = False,
) -> None:
    """Write deploy/dagster.yaml (PostgreSQL, queued runs, daemon) and deploy/workspace.yaml."""
    with handle_errors():
        from dbtscaffold.commands.deploy import run_deploy

        run_deploy(
            dagster_project_dir=dagster_project_dir,
            host=host,
            port=port,
            force=force,
            dry_run=dry_run,
        )


# --- dev / materialize / quickstart -----------------------------------------


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def dev(
    ctx: typer.Context,
    dagster_project_dir: DagsterDir = None,
    port: Annotated[
        int,
        typer.Option("--port", "-p", min=1, max=65535, metavar="PORT", help="Port of the UI."),
    ] = 3000,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Host of the UI.")
    ] = "127.0.0.1",
) -> None:
    """Run `dagster dev` with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1; args after -- go to it."""
    with handle_errors():
        from dbtscaffold.commands.dev import run_dev

        raise typer.Exit(
            run_dev(
                dagster_project_dir=dagster_project_dir,
                port=port,
                host=host,
                extra_args=list(ctx.args),
            )
        )


@app.command()
def materialize(
    dagster_project_dir: DagsterDir = None,
    select: Annotated[
        str,
        typer.Option(
            "--select",
            metavar="SELECTION",
            help="Assets to build: Dagster's selection syntax (`key:stg_*`, `tag:nightly`, "
            "`+customers`), or dbt-style names and globs (`stg_*`, `staging.stg_rates`, "
            "`staging/stg_rates`), comma-separated. A selection that matches nothing is an "
            "error.",
            autocompletion=complete_keys,
        ),
    ] = "*",
) -> None:
    """Materialize the project's assets headless (parse on load set); Ctrl-C cancels the run."""
    with handle_errors():
        from dbtscaffold.commands.materialize import run_materialize

        run_materialize(dagster_project_dir=dagster_project_dir, select=select)


@app.command()
def quickstart(
    directory: Annotated[
        Path | None,
        typer.Argument(metavar="DIR", help="Folder to work in. Default: ./dbtscaffold-quickstart"),
    ] = None,
) -> None:
    """Example, init, convert-seed raw_customers, materialize: the whole job in one go."""
    with handle_errors():
        from dbtscaffold.commands.quickstart import run_quickstart

        run_quickstart(directory or Path.cwd() / "dbtscaffold-quickstart")


# --- check ------------------------------------------------------------------


@app.command()
def check(
    dagster_project_dir: DagsterDir = None,
    dbt_project_dir: Annotated[
        Path | None,
        typer.Option(
            "--dbt-project-dir",
            help="The dbt project. Default: the current folder if it is one, else the one the "
            "Dagster project points at.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (schema in the README).")
    ] = False,
    no_load: Annotated[
        bool,
        typer.Option("--no-load", help="Skip loading the definitions (the slow check, ~10 s)."),
    ] = False,
) -> None:
    """Say whether the Dagster + dbt project is healthy, and why not; writes nothing."""
    with handle_errors():
        from dbtscaffold.commands.check import print_check, run_check

        report = run_check(
            dagster_project_dir=dagster_project_dir,
            dbt_project_dir=dbt_project_dir,
            load=not no_load,
            spinner=not as_json,
        )
        code = print_check(report, as_json=as_json)
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    finally:
        # What a command made lives until the process ends: moving it out of the collector's
        # reach spares the full collection Python runs at exit (~0.05 s after a convert-seed
        # of 5,000 models; bench/RESULTS.md). The memory goes back with the process.
        import gc

        gc.freeze()
