"""The options several commands share, and the shell completions of their values.

Kept apart from cli.py so that the app reads as one call per command; nothing here imports
more than typer until a completion is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def complete_seeds(ctx: typer.Context, incomplete: str) -> list[str]:
    from dbtscaffold.commands.complete import seed_names

    return seed_names(
        incomplete, ctx.params.get("dbt_project_dir"), ctx.params.get("dagster_project_dir")
    )


def complete_keys(ctx: typer.Context, incomplete: str) -> list[str]:
    from dbtscaffold.commands.complete import asset_keys

    return asset_keys(incomplete, ctx.params.get("dagster_project_dir"))


# --- shared option types ----------------------------------------------------

DbtDir = Annotated[
    Path | None,
    typer.Option(
        "--dbt-project-dir",
        metavar="DIR",
        help="The dbt project (folder with dbt_project.yml). Default: the current folder.",
        file_okay=True,
        dir_okay=True,
    ),
]
DagsterDir = Annotated[
    Path | None,
    typer.Option(
        "--dagster-project-dir",
        metavar="DIR",
        help="The Dagster project made by `init`. Default: found from [tool.dbtscaffold] "
        "in pyproject.toml here or above, two levels down, or beside the dbt project.",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Show the changes as a diff; write nothing.")
]


ProjectName = Annotated[
    str | None,
    typer.Option(
        "--project-name",
        metavar="NAME",
        help="Name of the Dagster project and its Python package. "
        "Default: the dbt project's name + `_dagster`.",
    ),
]
ProfilesDir = Annotated[
    Path | None,
    typer.Option(
        "--profiles-dir",
        metavar="DIR",
        help="Folder holding profiles.yml. Default: dbt's order (DBT_PROFILES_DIR, the dbt "
        "project, ~/.dbt).",
    ),
]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        metavar="DIR",
        help="Where to create the project folder. Default: the current folder.",
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Rewrite the generated files of an existing project that are still as generated "
        "(other files are kept; an edited generated file stops init).",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Like --force, and also replace generated files you edited (backed up for undo).",
    ),
]
Schedule = Annotated[
    str | None,
    typer.Option(
        "--schedule",
        metavar="CRON",
        help="Cron of the schedule that materializes every asset, turned on. "
        "Default: '0 0 * * *', turned off.",
    ),
]
NoSchedule = Annotated[
    bool, typer.Option("--no-schedule", help="Leave the job and the schedule out.")
]
IgnorePackageConflict = Annotated[
    bool,
    typer.Option(
        "--ignore-package-conflict",
        help="Allow a project name that shadows a package the project depends on or a "
        "standard-library module (as dagster-dbt's flag of the same name).",
    ),
]


def _layout(value: str) -> str:
    if value not in ("python", "components"):
        raise typer.BadParameter(f"`{value}` is not a layout; choose `python` or `components`.")
    return value


Layout = Annotated[
    str,
    typer.Option(
        "--layout",
        metavar="[python|components]",
        callback=_layout,
        help="`python`: the tutorial's package (definitions.py, assets.py); `components`: the "
        "project `create-dagster` + `dg scaffold defs dagster_dbt.DbtProjectComponent` write "
        "(src/, defs/, run with `dg`).",
    ),
]
DbtState = Annotated[
    bool,
    typer.Option(
        "--use-experimental-dbt-state",
        help="Give the DbtProject a state path (target/state) and defer the dbt build to it "
        "(as dagster-dbt's flag of the same name).",
    ),
]
Lock = Annotated[
    bool,
    typer.Option(
        "--lock",
        help="Also write uv.lock, resolved by uv (which must be installed) with its own index "
        "settings; a resolution that fails changes nothing.",
    ),
]
PackageDataDir = Annotated[
    bool,
    typer.Option(
        "--use-dbt-project-package-data-dir",
        hidden=True,
        help="Accepted for dagster-dbt's older scripts: the dbt project is always packaged in "
        "<package>/dbt_project/.",
    ),
]
