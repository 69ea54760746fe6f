"""convert-seed end to end on the bundled example, with real dbt, DuckDB and Dagster.

The whole tutorial path is one test (init, dbt build for the "before" row counts, convert,
dbt parse, the Dagster asset graph, materialize everything, compare), so that pytest-xdist
never runs the expensive set-up twice.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.helpers.cli import EXAMPLE, run_cli, run_tool
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MARTS = ("customers", "orders")

# Loads the definitions (from the manifest `dbt parse` wrote), prints the asset graph, then
# materializes the loader with the DuckDB path changed after the import: the loader reads
# profiles.yml when it runs, not when it was generated.
GRAPH_SCRIPT = """
import json, os, sys
from dagster import materialize
from jaffle_shop_dagster import seed_assets
from jaffle_shop_dagster.definitions import defs

graph = defs.resolve_asset_graph()
out = {}
for key in graph.get_all_asset_keys():
    node = graph.get(key)
    assets_def = defs.resolve_assets_def(key)
    out[key.to_user_string()] = {
        "parents": sorted(p.to_user_string() for p in node.parent_keys),
        "op": assets_def.op.name,
        "keys_in_op": len(assets_def.keys),
        "kinds": sorted(node.kinds),
    }
os.environ["JAFFLE_SHOP_DUCKDB_PATH"] = sys.argv[1]
result = materialize([seed_assets.raw_customers])
[event] = result.asset_materializations_for_node("raw_customers")
out["_row_count"] = event.metadata["dagster/row_count"].value
print(json.dumps(out))
"""


def _counts(db: Path, tables) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in tables}
    finally:
        con.close()


def test_tutorial_part_3_on_the_example(initialized, tmp_path):
    dbt_dir, dagster_dir = initialized  # the example, after init

    # Before: what dbt builds from the seeds.
    run_tool("dbt", "build", "--profiles-dir", ".", cwd=dbt_dir)
    before = _counts(dbt_dir / "jaffle_shop.duckdb", MARTS)
    assert before == {"customers": 100, "orders": 99}
    for leftover in ("jaffle_shop.duckdb", "target", "logs"):
        p = dbt_dir / leftover
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    started = time.perf_counter()
    proc = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    wall = time.perf_counter() - started
    print(f"convert-seed raw_customers on the example: {wall:.2f}s wall")
    assert "Traceback" not in proc.stderr
    assert "Converted `raw_customers` into source `jaffle_shop`" in proc.stderr
    assert "2 refs rewritten" in proc.stdout
    assert not (dbt_dir / "seeds" / "raw_customers.csv").exists()
    assert (dagster_dir / "data" / "raw_customers.csv").read_bytes() == (
        EXAMPLE / "seeds" / "raw_customers.csv"
    ).read_bytes()
    # The Jinja comment in stg_customers.sql is left exactly as it was.
    first_line = (EXAMPLE / "models/staging/stg_customers.sql").read_text().splitlines()[0]
    assert (
        first_line
        == "{# based on {{ ref('raw_customers') }}: one row per customer, renamed keys #}"
    )
    assert (dbt_dir / "models/staging/stg_customers.sql").read_text().splitlines()[0] == first_line

    # A second run changes nothing and says so.
    snapshot = tree_hash(tmp_path, ignore=())
    again = run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)
    assert "Nothing to do: `raw_customers` already converted." in again.stderr
    assert tree_hash(tmp_path, ignore=()) == snapshot

    # dbt parses the result, with no deprecation warning, and stg_customers reads the source.
    parse = run_tool("dbt", "parse", "--profiles-dir", ".", cwd=dbt_dir)
    assert "eprecat" not in parse.stdout + parse.stderr
    manifest = json.loads((dbt_dir / "target" / "manifest.json").read_text())
    source_id = "source.jaffle_shop.jaffle_shop.raw_customers"
    assert source_id in manifest["sources"]
    assert manifest["sources"][source_id]["config"]["meta"] == {
        "dagster": {"asset_key": ["raw_customers"]}
    }
    assert "seed.jaffle_shop.raw_customers" not in manifest["nodes"]
    stg = manifest["nodes"]["model.jaffle_shop.stg_customers"]
    assert stg["depends_on"]["nodes"] == [source_id]
    source_tests = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and source_id in n["depends_on"]["nodes"]
    ]
    assert len(source_tests) == 2  # unique + not_null on id, moved from the seed

    # Dagster: the Python asset `raw_customers` is upstream of stg_customers, and it loads
    # into whatever database profiles.yml names when it runs.
    other = tmp_path / "elsewhere" / "other.duckdb"
    other.parent.mkdir()
    graph_proc = run_tool("python", "-c", GRAPH_SCRIPT, other, cwd=dagster_dir)
    graph = json.loads(graph_proc.stdout.strip().splitlines()[-1])
    assert graph["raw_customers"]["op"] == "raw_customers"
    assert graph["raw_customers"]["keys_in_op"] == 1
    assert graph["raw_customers"]["parents"] == []
    assert "duckdb" in graph["raw_customers"]["kinds"]
    assert graph["stg_customers"]["parents"] == ["raw_customers"]
    assert graph["stg_orders"]["parents"] == ["raw_orders"]
    assert graph["_row_count"] == 100
    assert _counts(other, ["main.raw_customers"]) == {"main.raw_customers": 100}
    assert not (dbt_dir / "jaffle_shop.duckdb").exists()

    # Materialize everything: same rows as before the conversion.
    run_tool(
        "dagster",
        "asset",
        "materialize",
        "--select",
        "*",
        "-m",
        "jaffle_shop_dagster.definitions",
        cwd=dagster_dir,
    )
    db = dbt_dir / "jaffle_shop.duckdb"
    assert _counts(db, MARTS) == before
    assert _counts(db, ["main.raw_customers"]) == {"main.raw_customers": 100}


EXTRA_FILES = {
    "models/staging/customer_refs.sql": (
        "{# the old way: {{ ref('raw_customers') }} #}\n"
        'select id from {{ ref("raw_customers") }}\n'
        "union all\n"
        "select id from {{ref( 'jaffle_shop' ,'raw_customers' )}}\n"
        "-- a SQL comment is still Jinja: {{ ref('raw_customers') }}\n"
    ),
    "models/staging/customer_crlf.sql": "select *\r\nfrom {{ ref('raw_customers') }}\r\n",
    "models/staging/_customer_refs.yml": (
        "version: 2\n\nmodels:\n  - name: customer_refs\n    columns:\n      - name: id\n"
        "        data_tests:\n          - relationships:\n              arguments:\n"
        "                to: ref('raw_customers')\n                field: id\n"
    ),
    "models/sources.yml": (
        "version: 2\n\n# Hand-written sources; dbtscaffold must keep these comments.\n"
        "sources:\n  - name: crm  # not ours\n    schema: main\n    tables:\n"
        "      - name: contacts   # loaded elsewhere\n"
    ),
    "snapshots/customers_snapshot.sql": (
        "{% snapshot customers_snapshot %}\n"
        "{{ config(unique_key='id', strategy='check', check_cols='all', target_schema='snapshots') }}\n"
        "select * from {{ ref('raw_customers') }}\n{% endsnapshot %}\n"
    ),
    "macros/raw_customer_count.sql": (
        "{% macro raw_customer_count() %}(select count(*) from {{ ref('raw_customers') }})"
        "{% endmacro %}\n"
    ),
    "tests/raw_customers_have_ids.sql": (
        "select * from {{ ref('raw_customers') }} where id is null\n"
    ),
}


def test_every_ref_form_and_place_is_rewritten_and_dbt_parses_it(tmp_path):
    dbt_dir = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE, dbt_dir)
    for rel, text in EXTRA_FILES.items():
        (dbt_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (dbt_dir / rel).write_bytes(text.encode())
    run_cli("init", "--dbt-project-dir", dbt_dir, "--output-dir", tmp_path, check=0)
    proc = run_cli("convert-seed", "raw_customers", "--dbt-project-dir", dbt_dir, check=0)
    assert "10 refs rewritten" in proc.stdout

    def read(rel):
        return (dbt_dir / rel).read_bytes().decode()

    src = "source('jaffle_shop', 'raw_customers')"
    assert read("models/staging/customer_refs.sql") == (
        "{# the old way: {{ ref('raw_customers') }} #}\n"
        'select id from {{ source("jaffle_shop", "raw_customers") }}\n'
        "union all\n"
        f"select id from {{{{{src}}}}}\n"
        f"-- a SQL comment is still Jinja: {{{{ {src} }}}}\n"
    )
    assert read("models/staging/customer_crlf.sql") == f"select *\r\nfrom {{{{ {src} }}}}\r\n"
    assert f"to: {src}\n" in read("models/staging/_customer_refs.yml")
    assert f"select * from {{{{ {src} }}}}" in read("snapshots/customers_snapshot.sql")
    assert src in read("macros/raw_customer_count.sql")
    assert src in read("tests/raw_customers_have_ids.sql")
    assert src in read("analyses/customer_name_lengths.sql")
    sources = read("models/sources.yml")
    assert sources.startswith(
        EXTRA_FILES["models/sources.yml"] + "  - name: jaffle_shop\n    schema: main\n"
    )
    assert "description: Fictional customers of the jaffle shop" in sources

    run_tool("dbt", "parse", "--profiles-dir", ".", cwd=dbt_dir)
    manifest = json.loads((dbt_dir / "target" / "manifest.json").read_text())
    source_id = "source.jaffle_shop.jaffle_shop.raw_customers"
    users = sorted(
        n["name"]
        for n in manifest["nodes"].values()
        if source_id in n.get("depends_on", {}).get("nodes", [])
    )
    assert "customers_snapshot" in users
    assert "customer_refs" in users and "customer_crlf" in users
    assert "raw_customers_have_ids" in users
    assert any(u.startswith("relationships_customer_refs_id") for u in users)
