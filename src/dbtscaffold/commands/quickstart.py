"""`dbtscaffold quickstart [DIR]`: the whole job on the bundled example, in one go.

DIR/jaffle_shop (the example), DIR/jaffle_shop_dagster (`init`), `convert-seed
raw_customers`, then every asset materialized through Dagster and a table of what was
built with the row counts read back from the warehouse. A second run reuses what the
first one wrote; anything else in the way stops it with one line. It never deletes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbtscaffold import console
from dbtscaffold.errors import UserError

EXAMPLE_NAME = "jaffle_shop"
DAGSTER_NAME = "jaffle_shop_dagster"
SEED = "raw_customers"
STEPS = 5


@dataclass(frozen=True)
class BuiltAsset:
    name: str
    built_by: str
    table: str
    rows: int | None


def _step(n: int, text: str) -> None:
    console.info(f"[{n}/{STEPS}] {text}")


def _shown(path: Path) -> str:
    """PATH relative to the current folder when it is below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


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
        console.info(f"  reusing the example dbt project in {_shown(dbt_dir)}")
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
        console.info(f"  reusing the Dagster project in {_shown(dagster_dir)}")
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
        result = run_materialize(dagster_project_dir=dagster_dir, select="*")
    _step(5, "Read back what was built")
    built = describe_assets(dbt_dir, result.assets)
    console.table(
        f"Assets built by run {result.run_id[:8]}",
        ["Asset", "Built by", "Table", "Rows"],
        [[a.name, a.built_by, a.table, "?" if a.rows is None else a.rows] for a in built],
    )
    console.success(
        f"Done: {len(built)} assets materialized into {_shown(warehouse_label(dbt_dir))}."
    )
    console.info("Open the Dagster UI to see the asset graph and this run:")
    console.info(f"  cd {_shown(dagster_dir)} && dbtscaffold dev")
    return built


# --- row counts -----------------------------------------------------------------


def _manifest(dbt_dir: Path) -> dict[str, Any]:
    from dbtscaffold.dbt.project import read_dbt_project

    path = dbt_dir / read_dbt_project(dbt_dir).target_path / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _asset_key_of_source(source: dict[str, Any]) -> tuple[str, ...] | None:
    for meta in (source.get("meta"), (source.get("config") or {}).get("meta")):
        key = ((meta or {}).get("dagster") or {}).get("asset_key")
        if isinstance(key, list) and key:
            return tuple(str(k) for k in key)
    return None


def _duckdb_file(dbt_dir: Path) -> Path | None:
    """The DuckDB database file of the dbt target in use, if it is DuckDB."""
    from dbtscaffold.dbt.project import read_dbt_project
    from dbtscaffold.dbt.target import read_target

    target = read_target(read_dbt_project(dbt_dir))
    path = str(target.config.get("path") or "")
    if target.type != "duckdb" or not path or path == ":memory:" or "{{" in path:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else dbt_dir / p


def warehouse_label(dbt_dir: Path) -> Path:
    return _duckdb_file(dbt_dir) or dbt_dir


def describe_assets(dbt_dir: Path, assets: list[Any]) -> list[BuiltAsset]:
    """Each materialized asset with its table and its row count in the warehouse now."""
    manifest = _manifest(dbt_dir)
    nodes: dict[str, Any] = manifest.get("nodes") or {}
    by_key = {
        key: src
        for src in (manifest.get("sources") or {}).values()
        if (key := _asset_key_of_source(src)) is not None
    }
    rows: list[tuple[Any, str, str | None]] = []
    for asset in assets:
        uid = asset.metadata.get("unique_id")
        if isinstance(uid, str) and uid in nodes:
            node = nodes[uid]
            rows.append(
                (asset, f"dbt {node.get('resource_type', 'node')}", node.get("relation_name"))
            )
        elif asset.key in by_key:
            rows.append((asset, "Python asset", by_key[asset.key].get("relation_name")))
        else:
            rows.append((asset, "Python asset", None))
    counts = _count_rows(dbt_dir, [r for _, _, r in rows if r])
    out = []
    for asset, built_by, relation in rows:
        n = counts.get(relation) if relation else None
        if n is None:
            n = asset.row_count
        table = relation.replace('"', "").split(".", 1)[-1] if relation else "-"
        out.append(BuiltAsset(asset.name, built_by, table, n))
    return out


def _count_rows(dbt_dir: Path, relations: list[str]) -> dict[str, int]:
    db = _duckdb_file(dbt_dir)
    if db is None or not db.is_file() or not relations:
        return {}
    import duckdb

    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(os.fspath(db), read_only=True)
    except duckdb.Error as e:
        console.warn(f"Cannot open `{db}` to count rows: {e}")
        return counts
    try:
        for relation in relations:
            try:
                counts[relation] = int(
                    con.execute(f"select count(*) from {relation}").fetchall()[0][0]
                )
            except duckdb.Error:
                continue
    finally:
        con.close()
    return counts
