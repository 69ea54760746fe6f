"""`dbtscaffold quickstart [DIR]`: the whole job on the bundled example, in one go.

DIR/jaffle_shop (the example), DIR/jaffle_shop_dagster (`init`), `convert-seed
raw_customers`, then every asset materialized through Dagster and a table of what was
built with the row counts read back from the warehouse. A second run reuses what the
first one wrote; anything else in the way stops it with one line. It never deletes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dbtscaffold import console
from dbtscaffold.errors import UserError

if TYPE_CHECKING:
    from dbtscaffold.commands.built import BuiltAsset

EXAMPLE_NAME = "jaffle_shop"
DAGSTER_NAME = "jaffle_shop_dagster"
SEED = "raw_customers"
STEPS = 5


def _step(n: int, text: str) -> None:
    console.info(f"[{n}/{STEPS}] {text}")


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _example_step(dbt_dir: Path) -> None:
    from dbtscaffold.commands.example import run_example
    from dbtscaffold.dbt.project import DBT_PROJECT_YML, read_dbt_project

    if (dbt_dir / DBT_PROJECT_YML).is_file():
        dbt = read_dbt_project(dbt_dir)
        if dbt.name != EXAMPLE_NAME:
            raise UserError(
                f"`{dbt_dir}` holds the dbt project `{dbt.name}`, not the example; run "
                "quickstart in another folder."
            )
        console.info(f"  reusing the example dbt project in {console.shown_path(dbt_dir)}")
        return
    if dbt_dir.exists() and not _is_empty_dir(dbt_dir):
        raise UserError(
            f"`{dbt_dir}` exists and is not the example dbt project; run quickstart in "
            "another folder."
        )
    run_example(dbt_dir, dry_run=False, next_steps=False)


def _init_step(directory: Path, dbt_dir: Path, dagster_dir: Path) -> None:
    from dbtscaffold.commands.init import run_init
    from dbtscaffold.dagster_project.locate import read_dagster_project

    info = read_dagster_project(dagster_dir) if dagster_dir.is_dir() else None
    if info is not None:
        if info.dbt_project_dir != dbt_dir.resolve():
            raise UserError(
                f"`{dagster_dir}` is a Dagster project for `{info.dbt_project_dir}`, not for "
                f"`{dbt_dir}`; run quickstart in another folder."
            )
        console.info(f"  reusing the Dagster project in {console.shown_path(dagster_dir)}")
        return
    if dagster_dir.exists() and not _is_empty_dir(dagster_dir):
        raise UserError(
            f"`{dagster_dir}` exists and is not the quickstart's Dagster project; run "
            "quickstart in another folder."
        )
    # The example's own profiles.yml, whatever ~/.dbt or DBT_PROFILES_DIR hold.
    run_init(
        project_name=DAGSTER_NAME,
        dbt_project_dir=dbt_dir,
        profiles_dir=dbt_dir,
        output_dir=directory,
        force=False,
        dry_run=False,
        interactive=False,
        next_steps=False,
    )


def run_quickstart(directory: Path) -> list[BuiltAsset]:
    """Example, init, convert-seed, materialize in DIRECTORY; print what was built."""
    from dbtscaffold.commands.built import describe_assets, show_built, warehouse_label
    from dbtscaffold.commands.convert_seed import run_convert_seed
    from dbtscaffold.commands.materialize import run_materialize

    directory = directory.absolute()
    if directory.exists() and not directory.is_dir():
        raise UserError(f"`{directory}` is a file; pass a folder to quickstart.")
    dbt_dir = directory / EXAMPLE_NAME
    dagster_dir = directory / DAGSTER_NAME

    # The table at the end is quickstart's result (stdout); what the steps print is progress.
    with console.results_as_progress():
        _step(1, f"Write the example dbt project `{EXAMPLE_NAME}` (DuckDB, seeds, models, tests)")
        _example_step(dbt_dir)
        _step(2, f"Create the Dagster project `{DAGSTER_NAME}` for it (dbtscaffold init)")
        _init_step(directory, dbt_dir, dagster_dir)
        _step(
            3, f"Turn the seed `{SEED}` into an upstream Dagster asset (dbtscaffold convert-seed)"
        )
        run_convert_seed(
            seeds=[SEED],
            dbt_project_dir=dbt_dir,
            dagster_project_dir=dagster_dir,
            source_name=None,
            delete_csv=False,
            dry_run=False,
        )
        _step(4, "Materialize every asset through Dagster (dbtscaffold materialize)")
        # quickstart's own table below, once the steps are done
        result = run_materialize(dagster_project_dir=dagster_dir, select="*", table=False)
    _step(5, "Read back what was built")
    built = describe_assets(dbt_dir, result.assets)
    show_built(result.run_id, built)
    console.success(
        f"Done: {len(built)} assets materialized into {console.shown_path(warehouse_label(dbt_dir))}."
    )
    console.info("Open the Dagster UI to see the asset graph and this run:")
    console.info(f"  cd {console.shown_path(dagster_dir)} && dbtscaffold dev")
    return built
