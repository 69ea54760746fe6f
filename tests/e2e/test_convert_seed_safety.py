"""convert-seed is boringly safe: dry runs, no-op reruns, undo, failures midway, bad input.

Every case runs the CLI on a fresh copy of the example after `init` and hashes the whole
tree (both projects) before and after: the installed script for the changes, this process
(Typer's CliRunner) for bad input and the dry runs of the last test.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers.cli import CLI, invoke_ok, run_cli
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _assert_one_error_line(proc, expected):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines == [expected]


def test_dry_run_writes_nothing_and_shows_every_change(initialized, tmp_path):
    dbt_dir, _ = initialized
    before = tree_hash(tmp_path, ignore=())
    proc = run_cli("convert-seed", "raw_customers", "--dry-run", cwd=dbt_dir, check=0)
    assert tree_hash(tmp_path, ignore=()) == before
    assert not (tmp_path / "jaffle_shop_dagster" / ".dbtscaffold" / "backups").exists()
    out = proc.stdout
    for header in (
        "--- a/jaffle_shop/models/staging/stg_customers.sql",
        "+++ b/jaffle_shop/models/sources.yml",
        "--- a/jaffle_shop/seeds/_seeds.yml",
        "+++ b/jaffle_shop_dagster/jaffle_shop_dagster/seed_assets.py",
        "rename from jaffle_shop/seeds/raw_customers.csv",
        "rename to jaffle_shop_dagster/data/raw_customers.csv",
    ):
        assert header in out
    assert "+    select * from {{ source('jaffle_shop', 'raw_customers') }}" in out
    assert "Dry run: nothing was written." in proc.stderr


def test_second_run_is_a_no_op(initialized, tmp_path):
    dbt_dir, _ = initialized
    run_cli("convert-seed", "raw_customers", "raw_orders", cwd=dbt_dir, check=0)
    snapshot = tree_hash(tmp_path, ignore=())
    proc = run_cli("convert-seed", "raw_orders", "raw_customers", cwd=dbt_dir, check=0)
    assert proc.stderr.strip() == "Nothing to do: `raw_orders`, `raw_customers` already converted."
    assert tree_hash(tmp_path, ignore=()) == snapshot


def test_undo_restores_the_tree_byte_for_byte(initialized, tmp_path):
    dbt_dir, dagster_dir = initialized
    before = tree_hash(tmp_path)
    run_cli("convert-seed", "raw_customers", "raw_orders", cwd=dbt_dir, check=0)
    assert tree_hash(tmp_path) != before
    proc = run_cli("undo", cwd=dbt_dir, check=0)
    assert "Undid `dbtscaffold convert-seed raw_customers raw_orders`" in proc.stderr
    assert tree_hash(tmp_path) == before
    assert not (dagster_dir / "data").exists()


def test_delete_csv_deletes_instead_of_moving(initialized):
    dbt_dir, dagster_dir = initialized
    proc = run_cli("convert-seed", "raw_payments", "--delete-csv", cwd=dbt_dir, check=0)
    assert not (dbt_dir / "seeds" / "raw_payments.csv").exists()
    assert not (dagster_dir / "data").exists()
    assert "warning: The CSV of `raw_payments` was deleted (--delete-csv)" in proc.stderr
    assert "delete" in proc.stdout


def test_carries_column_types_out_of_dbt_project_yml(initialized):
    dbt_dir, dagster_dir = initialized
    run_cli("convert-seed", "raw_orders", cwd=dbt_dir, check=0)
    project = (dbt_dir / "dbt_project.yml").read_text()
    assert "seeds:" not in project and "column_types" not in project
    assets = (dagster_dir / "jaffle_shop_dagster" / "seed_assets.py").read_text()
    assert 'column_types={"order_date": "date"},' in assets


@pytest.mark.parametrize("fail_after", [1, 8])
def test_a_failure_midway_leaves_every_file_as_it_was(initialized, tmp_path, fail_after):
    dbt_dir, _ = initialized
    before = tree_hash(tmp_path)
    proc = run_cli(
        "convert-seed",
        "raw_customers",
        cwd=dbt_dir,
        env={"DBTSCAFFOLD_TEST_FAIL_AFTER": str(fail_after)},
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "injected failure" in proc.stderr
    assert tree_hash(tmp_path) == before
    leftovers = [p for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []
    # And the project still converts cleanly afterwards.
    run_cli("convert-seed", "raw_customers", cwd=dbt_dir, check=0)


def test_two_concurrent_runs_never_mix(initialized):
    dbt_dir, dagster_dir = initialized
    env = dict(os.environ, DBTSCAFFOLD_TEST_APPLY_DELAY="0.05")
    procs = [
        subprocess.Popen(
            [str(CLI), "convert-seed", seed],
            cwd=dbt_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("raw_customers", "raw_orders")
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    sources = (dbt_dir / "models" / "sources.yml").read_text()
    assert sources.count("asset_key:") == 2
    assets = (dagster_dir / "jaffle_shop_dagster" / "seed_assets.py").read_text()
    assert 'key=["raw_customers"]' in assets and 'key=["raw_orders"]' in assets
    assert assets.count("import load_csv") == 1


# --- bad input: one clear line, exit 1, nothing changed ------------------------------


def test_unknown_seed_lists_the_seeds_and_the_closest(initialized, tmp_path):
    dbt_dir, _ = initialized
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_custmers", cwd=dbt_dir)
    _assert_one_error_line(
        proc,
        "error: Seed `raw_custmers` not found in `seeds/` (seeds there: `raw_customers`, "
        "`raw_orders`, `raw_payments`). Did you mean `raw_customers`?",
    )
    assert tree_hash(tmp_path, ignore=()) == before


@pytest.mark.parametrize("name", ["../x", "seeds/raw_customers", "raw customers", "raw'x", "1abc"])
def test_seed_name_must_be_plain(example_project, tmp_path, name):
    # Checked before anything else is looked at, so no Dagster project is needed.
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", name, cwd=example_project)
    _assert_one_error_line(
        proc,
        f"error: Seed name `{name}` is not a plain name (letters, digits and underscores, not "
        "starting with a digit); pass the seed's CSV file name without folder or `.csv`.",
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_source_name_must_be_plain(initialized, tmp_path):
    dbt_dir, _ = initialized
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_customers", "--source-name", "a.b", cwd=dbt_dir)
    _assert_one_error_line(
        proc,
        "error: Source name `a.b` is not a plain name (letters, digits and underscores, not "
        "starting with a digit).",
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_malformed_sources_yaml(initialized, tmp_path):
    dbt_dir, _ = initialized
    (dbt_dir / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: jaffle_shop\n   tables: [\n"
    )
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_customers", cwd=dbt_dir)
    assert proc.returncode == 1
    [line] = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("error: `jaffle_shop/models/sources.yml` is not valid YAML (line 4): ")
    assert line.endswith("; fix it and retry.")
    assert "Traceback" not in proc.stderr
    assert tree_hash(tmp_path, ignore=()) == before


def test_no_dagster_project(example_project, tmp_path):
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_customers", cwd=example_project)
    _assert_one_error_line(
        proc,
        "error: No Dagster project found here (looked for [tool.dbtscaffold] in pyproject.toml "
        "here and above, two levels down, and beside the dbt project); run `dbtscaffold init` "
        "or pass --dagster-project-dir.",
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_file_that_is_not_utf8(initialized, tmp_path):
    dbt_dir, _ = initialized
    (dbt_dir / "models" / "staging" / "latin1.sql").write_bytes(
        b"-- caf\xe9\nselect * from {{ ref('raw_customers') }}\n"
    )
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_customers", cwd=dbt_dir)
    _assert_one_error_line(
        proc,
        "error: `jaffle_shop/models/staging/latin1.sql` is not valid UTF-8 (line 1); save it as "
        "UTF-8 and retry.",
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_asset_key_already_used_by_a_model(initialized, tmp_path):
    dbt_dir, _ = initialized
    (dbt_dir / "models" / "raw_payments.sql").write_text("select 1 as id\n")
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_payments", cwd=dbt_dir)
    _assert_one_error_line(
        proc,
        "error: Asset key `raw_payments` is already used by the model "
        "`jaffle_shop/models/raw_payments.sql`. Dagster cannot load two assets with one key; "
        "rename one of them.",
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_bad_jinja_in_a_model(initialized, tmp_path):
    dbt_dir, _ = initialized
    (dbt_dir / "models" / "staging" / "broken.sql").write_text(
        "select *\nfrom {{ ref('raw_customers') }\n"
    )
    before = tree_hash(tmp_path, ignore=())
    proc = invoke_ok("convert-seed", "raw_customers", cwd=dbt_dir)
    assert proc.returncode == 1
    [line] = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith(
        "error: `jaffle_shop/models/staging/broken.sql` is not valid Jinja (line 2): "
    )
    assert tree_hash(tmp_path, ignore=()) == before


def test_dbt_project_seed_config_is_read_as_dbt_reads_it(initialized):
    """`+quote_columns: yes` is YAML 1.1's true for dbt (PyYAML): the loader quotes too.

    Read round-trip (YAML 1.2), `yes` was the text "yes" and the setting was dropped.
    """
    dbt_dir, _ = initialized
    yml = dbt_dir / "dbt_project.yml"
    text = yml.read_text()
    assert "seeds:\n  jaffle_shop:\n" in text
    yml.write_text(
        text.replace(
            "seeds:\n  jaffle_shop:\n", "seeds:\n  jaffle_shop:\n    +quote_columns: yes\n", 1
        )
    )
    proc = invoke_ok("convert-seed", "raw_customers", "--dry-run", cwd=dbt_dir, check=0)
    assert "+        quote_columns=True," in proc.stdout
    # raw_orders has a block of its own there, which the conversion removes: the seed after
    # it reads the edited text, still as dbt would.
    both = invoke_ok(
        "convert-seed", "raw_orders", "raw_customers", "--dry-run", cwd=dbt_dir, check=0
    )
    assert both.stdout.count("+        quote_columns=True,") == 2
    # In the seed's properties YAML too: `quote_columns: off` there is false, as dbt reads it.
    seeds = dbt_dir / "seeds" / "_seeds.yml"
    seeds.write_text(
        seeds.read_text().replace(
            "  - name: raw_payments\n",
            "  - name: raw_payments\n    config:\n      quote_columns: off\n",
            1,
        )
    )
    own = invoke_ok("convert-seed", "raw_payments", "--dry-run", cwd=dbt_dir, check=0)
    assert "+        quote_columns=False," in own.stdout
