"""The parse-on-load fingerprint of dbtscaffold.runtime.parse (what generated projects run).

Every edit dbt can see must change the fingerprint (else a stale manifest is served);
what dbt itself writes (target/, logs/, the DuckDB file) must not (else every load parses).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dbtscaffold.runtime import parse as f
from dbtscaffold.runtime import parse as m

FILES = {
    "dbt_project.yml": (
        "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n"
        'model-paths: ["models"]  # where models live\n'
        "seed-paths:\n  - seeds\n"
        'vars:\n  start_date: \'{{ env_var("SHOP_START", "2020-01-01") }}\'\n'
    ),
    "profiles.yml": (
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('SHOP_DB_PATH', 'shop.duckdb') }}\"\n"
    ),
    "packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n",
    "models/staging/stg_orders.sql": "select * from {{ ref('raw_orders') }}\n",
    "models/staging/_staging.yml": "version: 2\nmodels:\n  - name: stg_orders\n",
    "models/marts/orders.sql": "select {{ cents('amount') }} from {{ ref('stg_orders') }}\n",
    "models/marts/orders_py.py": "def model(dbt, session):\n    return dbt.ref('stg_orders')\n",
    "models/docs.md": "{% docs orders %}Orders.{% enddocs %}\n",
    "models/marts/by_region.sql": 'select \'{{ env_var("SHOP_REGION", "eu") }}\' as region\n',
    "macros/cents.sql": "{% macro cents(c) %}({{ c }} / 100){% endmacro %}\n",
    "seeds/raw_orders.csv": "id,amount\n1,100\n",
    "seeds/_seeds.yml": "version: 2\nseeds:\n  - name: raw_orders\n",
    "snapshots/snap.sql": "{% snapshot snap %}select 1 as id{% endsnapshot %}\n",
    "tests/assert_positive.sql": "select * from {{ ref('orders') }} where amount < 0\n",
    "analyses/an.sql": "select 1\n",
    "dbt_packages/dbt_utils/dbt_project.yml": "name: dbt_utils\nversion: '1.1.1'\n",
    "dbt_packages/dbt_utils/macros/star.sql": "{% macro star() %}*{% endmacro %}\n",
    ".dbtignore": "scratch/\n",
}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("DBT_") or name.startswith("SHOP_"):
            monkeypatch.delenv(name)
    root = tmp_path / "shop"
    for rel, text in FILES.items():
        _write(root / rel, text)
    # What a `dbt build` leaves behind, before the first fingerprint is taken.
    _write(root / "target/manifest.json", "{}")
    _write(root / "logs/dbt.log", "started\n")
    return root


def fp(root: Path, profiles_dir: Path | None = None) -> str:
    return f.fingerprint(root, profiles_dir or root)


def _append(rel: str, text: str = "\n-- edited\n"):
    def edit(root: Path) -> None:
        with open(root / rel, "a", encoding="utf-8") as f:
            f.write(text)

    return edit


def _replace(rel: str, old: str, new: str):
    def edit(root: Path) -> None:
        path = root / rel
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")

    return edit


def _create(rel: str, text: str = "select 1\n"):
    return lambda root: _write(root / rel, text)


def _delete(rel: str):
    return lambda root: (root / rel).unlink()


def _rename(rel: str, new: str):
    return lambda root: (root / rel).rename(root / new)


CHANGES = {
    "model": _append("models/staging/stg_orders.sql"),
    # Same size, and the mtime is restored: only the bytes differ.
    "model, same size and mtime": None,
    "model in a nested folder": _append("models/marts/orders.sql"),
    "python model": _append("models/marts/orders_py.py", "\n# edited\n"),
    "new model": _create("models/marts/new_model.sql"),
    "deleted model": _delete("models/marts/orders.sql"),
    "renamed model": _rename("models/marts/orders.sql", "models/marts/orders_v2.sql"),
    "model with an upper-case suffix": _create("models/marts/LOUD.SQL"),
    "macro": _replace("macros/cents.sql", "100", "1000"),
    "new macro": _create("macros/more.sql", "{% macro more() %}1{% endmacro %}\n"),
    "schema YAML": _append("models/staging/_staging.yml", "    description: Orders.\n"),
    "new .yaml file": _create("models/other.yaml", "version: 2\n"),
    "docs block": _replace("models/docs.md", "Orders.", "All orders."),
    "seed CSV": _append("seeds/raw_orders.csv", "2,250\n"),
    "seeds YAML": _append("seeds/_seeds.yml", "    description: Raw.\n"),
    "snapshot": _append("snapshots/snap.sql"),
    "singular test": _append("tests/assert_positive.sql"),
    "analysis": _append("analyses/an.sql"),
    "dbt_project.yml": _append("dbt_project.yml", "models:\n  shop:\n    +materialized: table\n"),
    "profiles.yml": _replace("profiles.yml", "target: dev", "target: prod"),
    "packages.yml": _replace("packages.yml", "1.1.1", "1.2.0"),
    "new dependencies.yml": _create("dependencies.yml", "projects: []\n"),
    "package-lock.yml": _create("package-lock.yml", "packages: []\nsha1_hash: abc\n"),
    "selectors.yml": _create("selectors.yml", "selectors: []\n"),
    "installed package macro": _append("dbt_packages/dbt_utils/macros/star.sql"),
    ".dbtignore": _append(".dbtignore", "more/\n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_edit_dbt_can_see_changes_the_fingerprint(project, change):
    before = fp(project)
    if change == "model, same size and mtime":
        path = project / "models/staging/stg_orders.sql"
        st = path.stat()
        path.write_text(path.read_text().replace("raw_orders", "raw_ordrrs"))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_size == st.st_size
    else:
        CHANGES[change](project)
    assert fp(project) != before


ENV_CHANGES = {
    "env var named in a model's env_var()": ("SHOP_REGION", "us"),
    "env var named in profiles.yml": ("SHOP_DB_PATH", "/data/other.duckdb"),
    "env var named in dbt_project.yml": ("SHOP_START", "2021-01-01"),
    "DBT_ variable (target)": ("DBT_TARGET", "prod"),
    "DBT_ variable (any)": ("DBT_PARTIAL_PARSE", "false"),
    "DBT_ENV_SECRET_ variable": ("DBT_ENV_SECRET_TOKEN", "s3cret"),
    "lower-case dbt_ variable": ("dbt_target", "prod"),
}


@pytest.mark.parametrize("change", sorted(ENV_CHANGES))
def test_setting_changing_and_unsetting_a_relevant_env_var_changes_it(project, monkeypatch, change):
    name, value = ENV_CHANGES[change]
    unset = fp(project)
    monkeypatch.setenv(name, value)
    set_once = fp(project)
    monkeypatch.setenv(name, value + "x")
    changed = fp(project)
    monkeypatch.setenv(name, "")
    empty = fp(project)
    assert len({unset, set_once, changed, empty}) == 4


def test_an_env_var_dbt_never_reads_does_not_change_it(project, monkeypatch):
    before = fp(project)
    monkeypatch.setenv("SOME_UNRELATED_VARIABLE", "1")
    monkeypatch.setenv("PATH", os.environ["PATH"] + os.pathsep + "/nowhere")
    assert fp(project) == before


def _dbt_output(root: Path) -> None:
    """What dbt, DuckDB, Python, git and editors write while the project is used."""
    _write(root / "target/manifest.json", '{"changed": true}')
    _write(root / "target/partial_parse.msgpack", "x")
    _write(root / "target/compiled/shop/models/marts/orders.sql", "select 1\n")
    _write(root / "target/run/shop/models/marts/orders.sql", "create table x as select 1\n")
    _write(root / "target/0b1c2d/run_results.json", "{}")
    _write(root / "target/dbtscaffold_parse/manifest.json", "{}")
    _write(root / "target/dbtscaffold_fingerprint.json", "{}")
    _write(root / "logs/dbt.log", "more\n")
    _write(root / "logs/query_log.sql", "select 1\n")
    _write(root / "shop.duckdb", "duckdb bytes")
    _write(root / "shop.duckdb.wal", "wal")
    _write(root / ".user.yml", "id: 1234\n")
    _write(root / "models/__pycache__/orders_py.cpython-311.pyc", "pyc")
    _write(root / ".git/objects/ab/cdef.sql", "blob")
    _write(root / ".venv/pyvenv.cfg", "home = /usr/bin\n")
    _write(root / ".venv/lib/site-packages/pkg/macro.sql", "x")
    _write(root / "env3/pyvenv.cfg", "home = /usr/bin\n")
    _write(root / "env3/lib/something.yml", "x: 1\n")
    _write(root / "node_modules/x/index.md", "x")
    _write(root / "models/.orders.sql.swp", "swap")
    _write(root / "models/marts/orders.sql~", "backup")
    _write(root / "dbt_packages/dbt_utils/target/compiled/star.sql", "x")
    _write(root / "dbt_packages/dbt_utils/logs/dbt.log", "x")
    _write(root / ".dbtscaffold/backups/1/orders.sql", "x")


def test_what_dbt_and_tools_write_does_not_change_it(project):
    before = fp(project)
    _dbt_output(project)
    assert fp(project) == before
    shutil.rmtree(project / "target")
    shutil.rmtree(project / "logs")
    assert fp(project) == before


def test_configured_target_and_log_paths_are_not_fingerprinted(project):
    _append("dbt_project.yml", 'target-path: build  # compiled SQL\nlog-path: "dbt_logs"\n')(
        project
    )
    before = fp(project)
    _write(project / "build/compiled/shop/models/orders.sql", "select 1\n")
    _write(project / "build/run/shop/models/orders.sql", "select 1\n")
    _write(project / "dbt_logs/query.sql", "select 1\n")
    assert fp(project) == before


def test_dbt_target_path_env_var_folder_is_not_fingerprinted(project, monkeypatch):
    monkeypatch.setenv("DBT_TARGET_PATH", "out")
    before = fp(project)
    _write(project / "out/compiled/shop/orders.sql", "select 1\n")
    assert fp(project) == before


def test_a_target_path_that_holds_models_is_still_fingerprinted(project):
    # A silly but legal layout: never skip a folder dbt reads from.
    _append("dbt_project.yml", "target-path: models/out\n")(project)
    before = fp(project)
    _write(project / "models/out/x.sql", "select 1\n")
    assert fp(project) != before
    _append("dbt_project.yml", "log-path: .\n")(project)
    before = fp(project)
    _append("models/marts/orders.sql")(project)
    assert fp(project) != before


def test_profiles_yml_outside_the_project(project, tmp_path):
    profiles_dir = tmp_path / "home" / ".dbt"
    _write(profiles_dir / "profiles.yml", FILES["profiles.yml"])
    (project / "profiles.yml").unlink()
    before = fp(project, profiles_dir)
    _replace("profiles.yml", "target: dev", "target: prod")(profiles_dir)
    assert fp(project, profiles_dir) != before


def test_missing_profiles_yml_then_created(project, tmp_path):
    profiles_dir = tmp_path / "elsewhere"
    before = fp(project, profiles_dir)
    _write(profiles_dir / "profiles.yml", FILES["profiles.yml"])
    assert fp(project, profiles_dir) != before


def test_another_profiles_folder_with_the_same_content(project, tmp_path):
    other = tmp_path / "other"
    _write(other / "profiles.yml", FILES["profiles.yml"])
    assert fp(project, other) != fp(project)


def test_env_var_in_an_outside_profiles_yml(project, tmp_path, monkeypatch):
    profiles_dir = tmp_path / "p"
    _write(
        profiles_dir / "profiles.yml",
        "shop:\n  outputs:\n    dev:\n      path: \"{{ env_var('ONLY_IN_PROFILES') }}\"\n",
    )
    before = fp(project, profiles_dir)
    monkeypatch.setenv("ONLY_IN_PROFILES", "a.duckdb")
    assert fp(project, profiles_dir) != before


def test_paths_outside_the_project_are_fingerprinted(project, tmp_path, monkeypatch):
    shared = tmp_path / "shared_models"
    _write(shared / "shared.sql", "select 1\n")
    packages = tmp_path / "pkgs"
    _write(packages / "p/macros/m.sql", "{% macro m() %}1{% endmacro %}\n")
    macros = tmp_path / "env_macros"
    _write(macros / "e.sql", "{% macro e() %}1{% endmacro %}\n")
    monkeypatch.setenv("SHOP_MACROS", str(macros))
    text = (project / "dbt_project.yml").read_text()
    text = text.replace('model-paths: ["models"]', "model-paths: ['models', \"../shared_models\"]")
    text += f"packages-install-path: {packages}\n"
    text += "macro-paths:\n  - macros  # ours\n  - \"{{ env_var('SHOP_MACROS') }}\"\n"
    (project / "dbt_project.yml").write_text(text)
    for edit in (
        _append("shared.sql"),
        _create("shared/sub/new.sql"),
    ):
        before = fp(project)
        edit(shared)
        assert fp(project) != before
    before = fp(project)
    _append("p/macros/m.sql")(packages)
    assert fp(project) != before
    before = fp(project)
    _append("e.sql")(macros)
    assert fp(project) != before


def test_symlinked_folders_are_followed_and_loops_end(project, tmp_path):
    real = tmp_path / "real_models"
    _write(real / "linked.sql", "select 1\n")
    (project / "models" / "linked").symlink_to(real, target_is_directory=True)
    (project / "models" / "loop").symlink_to(project, target_is_directory=True)
    (project / "models" / "loop_up").symlink_to(project / "models", target_is_directory=True)
    (project / "models" / "dangling").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    before = fp(project)
    assert fp(project) == before
    _append("linked.sql")(real)
    assert fp(project) != before
    before = fp(project)
    _append("models/marts/orders.sql")(project)
    assert fp(project) != before


def test_symlinked_local_package_in_dbt_packages(project, tmp_path):
    local = tmp_path / "local_pkg"
    _write(local / "dbt_project.yml", "name: local_pkg\n")
    _write(local / "macros/x.sql", "{% macro x() %}1{% endmacro %}\n")
    (project / "dbt_packages" / "local_pkg").symlink_to(local, target_is_directory=True)
    before = fp(project)
    _write(local / "target/compiled/x.sql", "select 1\n")
    assert fp(project) == before
    _append("macros/x.sql")(local)
    assert fp(project) != before


def test_moving_the_project_changes_it(project, tmp_path):
    before = fp(project)
    moved = tmp_path / "moved"
    project.rename(moved)
    assert fp(moved) != before


def test_the_dbt_packages_installed_are_part_of_it(project, monkeypatch):
    before = fp(project)
    monkeypatch.setattr(f, "_versions", lambda: "dbt-core==0.0.1")
    assert fp(project) != before


def test_unreadable_files_do_not_crash_it(project):
    link = project / "models" / "broken.sql"
    link.symlink_to(project / "does_not_exist.sql")
    before = fp(project)
    link.unlink()
    assert fp(project) != before


DEFAULTS = ["models", "seeds", "macros", "snapshots", "tests", "analyses", "dbt_packages"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model-paths: [\"models\", 'more']\n", ["models", "more"]),
        ("model-paths: [models]  # comment\n", ["models"]),
        ("model-paths: []\n", []),
        ("model-paths:\n  - a\n  - 'b'  # c\n\n  - \"d#e\"\nname: x\n", ["a", "b", "d#e"]),
        ("packages-install-path: ../pkgs\n", ["../pkgs"]),
        ("source-paths: [old]\ndata-paths: [older]\n", ["old", "older"]),
        ("macro-paths: [\"{{ env_var('T', 'tgt') }}\"]\n", ["tgt"]),
        ("macro-paths: [\"{{ env_var('T_SET') }}/x\"]\n", ["from_env/x"]),
        ("macro-paths: [\"{{ env_var('T_UNSET') }}\"]\n", []),
        ("macro-paths: [\"{{ var('t') }}\"]\n", []),
        ("models:\n  model-paths: [nested]\nname: x\n", []),
        ("# model-paths: [commented]\nname: x\n", []),
        ("name: [unclosed\n", []),
    ],
)
def test_read_folders(monkeypatch, text, expected):
    monkeypatch.setenv("T_SET", "from_env")
    monkeypatch.delenv("T", raising=False)
    monkeypatch.delenv("T_UNSET", raising=False)
    assert f.read_folders(text) == DEFAULTS + expected


def test_it_is_fast_on_a_large_project(project):
    # Not a timing test: it checks the walk stays linear (no re-reads, no quadratic lists).
    for i in range(2000):
        _write(project / f"models/bulk/m_{i}.sql", f"select {i} as id\n")
    first = fp(project)
    assert fp(project) == first
    _append("models/bulk/m_1999.sql")(project)
    assert fp(project) != first


@pytest.mark.parametrize(
    "value, dev_cli, expected",
    [
        ("1", None, True),
        ("true", None, True),
        ("YES", None, True),
        (" on ", None, True),
        ("0", None, False),
        ("false", None, False),
        ("no", None, False),
        ("", None, False),
        (None, None, False),
        # Unset under `dagster dev` / `dg dev`: on, as dagster-dbt's prepare_if_dev.
        (None, "1", True),
        ("", "1", True),
        ("1", "1", True),
        # An explicit no turns it off everywhere.
        ("0", "1", False),
        ("false", "1", False),
        ("no", "1", False),
    ],
)
def test_parse_on_load_switch(monkeypatch, value, dev_cli, expected):
    for name, v in ((m.PARSE_ON_LOAD_ENV, value), (m.DEV_CLI_ENV, dev_cli)):
        if v is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, v)
    assert m.parse_on_load_enabled() is expected


def test_a_dagster_project_nested_in_the_dbt_project_is_not_fingerprinted(project):
    # The tutorial's layout: <dbt>/jaffle_dagster/ next to models/ (dbt never reads it).
    nested = project / "jaffle_dagster"
    _write(nested / "pyproject.toml", "[tool.dbtscaffold]\ndbt_project_dir = '..'\n")
    _write(nested / "jaffle_dagster/assets.py", "from dagster import asset\n")
    _write(nested / "data/raw_customers.csv", "id\n1\n")
    _write(nested / ".dagster_home/history/runs.db", "x")
    _write(nested / ".dbtscaffold/journal.json", "{}")
    _write(project / "README.md", "# shop\n")
    _write(project / "notes/todo.sql", "select 1\n")
    before = fp(project)
    _append("jaffle_dagster/jaffle_dagster/assets.py", "\n# edited\n")(project)
    _write(nested / "data/raw_orders.csv", "id\n1\n")
    _write(nested / "tests/test_defs.yml", "x: 1\n")
    _append("README.md", "more\n")(project)
    assert fp(project) == before
    _append("models/marts/orders.sql")(project)
    assert fp(project) != before
