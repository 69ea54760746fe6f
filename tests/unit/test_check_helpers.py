"""The pure parts of `dbtscaffold check`: asset keys from a manifest, key conflicts, reading
constants.py without importing it, the manifest's state without dbt, and the plain output."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from dbtscaffold import console
from dbtscaffold.check.finding import Context, split_line
from dbtscaffold.check.state import check_parse_on_load, key_conflicts
from dbtscaffold.dagster_project.generated import ConstantsPaths, python_assets, read_constants
from dbtscaffold.dbt.manifest import (
    DbtResource,
    asset_key,
    dbt_assets,
    dbt_sources,
    seeds_referenced,
)
from dbtscaffold.runtime import manifest_state as ms
from dbtscaffold.runtime import parse

# --- asset keys, as dagster-dbt's default translator gives them -------------------------


@pytest.mark.parametrize(
    ("props", "key"),
    [
        ({"resource_type": "model", "name": "orders", "config": {}}, ("orders",)),
        (
            {"resource_type": "model", "name": "orders", "config": {"schema": "marts"}},
            ("marts", "orders"),
        ),
        (
            {"resource_type": "model", "name": "orders", "version": 2, "alias": "orders_v2"},
            ("orders_v2",),
        ),
        (
            {"resource_type": "source", "source_name": "shop", "name": "raw", "config": {}},
            ("shop", "raw"),
        ),
        (
            {
                "resource_type": "source",
                "source_name": "shop",
                "name": "raw",
                "config": {"meta": {"dagster": {"asset_key": ["raw"]}}},
            },
            ("raw",),
        ),
        (
            {"resource_type": "seed", "name": "s", "meta": {"dagster": {"asset_key": "k"}}},
            ("k",),
        ),
    ],
)
def test_asset_key_follows_dagster_dbt(props, key):
    assert asset_key(props) == key


MANIFEST = {
    "nodes": {
        "seed.shop.raw_customers": {
            "resource_type": "seed",
            "name": "raw_customers",
            "package_name": "shop",
            "original_file_path": "seeds/raw_customers.csv",
            "config": {},
        },
        "model.shop.stg_customers": {
            "resource_type": "model",
            "name": "stg_customers",
            "original_file_path": "models/stg_customers.sql",
            "config": {"materialized": "view"},
            "depends_on": {"nodes": ["seed.shop.raw_customers", "source.shop.shop.orders"]},
        },
        "model.shop.helper": {
            "resource_type": "model",
            "name": "helper",
            "config": {"materialized": "ephemeral"},
            "depends_on": {"nodes": ["seed.shop.raw_customers"]},
        },
        "test.shop.not_null": {"resource_type": "test", "name": "not_null", "config": {}},
    },
    "sources": {
        "source.shop.shop.orders": {
            "resource_type": "source",
            "source_name": "shop",
            "name": "orders",
            "config": {},
        },
        "source.shop.shop.unused": {
            "resource_type": "source",
            "source_name": "shop",
            "name": "unused",
            "config": {},
        },
    },
}


def test_dbt_assets_are_models_seeds_snapshots_but_not_ephemeral_models():
    assert [r.unique_id for r in dbt_assets(MANIFEST)] == [
        "model.shop.stg_customers",
        "seed.shop.raw_customers",
    ]


def test_sources_used_only():
    assert [r.unique_id for r in dbt_sources(MANIFEST, used_only=True)] == [
        "source.shop.shop.orders"
    ]
    assert len(dbt_sources(MANIFEST)) == 2


def test_seeds_referenced_by_models_ephemeral_ones_included():
    assert seeds_referenced(MANIFEST, "shop") == {"raw_customers": ["helper", "stg_customers"]}
    assert seeds_referenced(MANIFEST, "other_package") == {}


# --- key conflicts ----------------------------------------------------------------------


def res(uid: str, key: tuple[str, ...]) -> DbtResource:
    return DbtResource(uid, uid.split(".")[0], key, f"{uid.split('.')[-1]}.x")


SEED = res("seed.shop.raw", ("raw",))
MODEL = res("model.shop.stg", ("stg",))
SOURCE_RAW = res("source.shop.shop.raw", ("raw",))
SOURCE_STG = res("source.shop.shop.stg", ("stg",))


@pytest.mark.parametrize(
    ("assets", "python", "sources", "used", "expected"),
    [
        # A loader with its source's key: how convert-seed wires it. Fine.
        ([MODEL], {("raw",): ["pkg/seed_assets.py:raw"]}, [SOURCE_RAW], {SOURCE_RAW.unique_id}, []),
        # The seed is still a seed while its loader exists.
        (
            [SEED],
            {("raw",): ["pkg/seed_assets.py:raw"]},
            [],
            set(),
            [(("raw",), ["dbt seed `raw` (raw.x)", "@asset in pkg/seed_assets.py:raw"])],
        ),
        # A seed shadows a source's key, even one nothing reads yet.
        (
            [SEED],
            {},
            [SOURCE_RAW],
            set(),
            [(("raw",), ["dbt seed `raw` (raw.x)", "source `shop.raw`"])],
        ),
        # A model with the key of a source nothing reads: dagster-dbt does not see the source.
        ([MODEL], {}, [SOURCE_STG], set(), []),
        (
            [MODEL],
            {},
            [SOURCE_STG],
            {SOURCE_STG.unique_id},
            [(("stg",), ["dbt model `stg` (stg.x)", "source `shop.stg`"])],
        ),
        # Two loaders.
        (
            [],
            {("raw",): ["a.py:x", "b.py:y"]},
            [],
            set(),
            [(("raw",), ["@asset in a.py:x", "@asset in b.py:y"])],
        ),
        # Two sources read under one key.
        (
            [],
            {},
            [SOURCE_RAW, res("source.shop.other.raw", ("raw",))],
            {SOURCE_RAW.unique_id, "source.shop.other.raw"},
            [(("raw",), ["source `shop.raw`", "source `other.raw`"])],
        ),
    ],
)
def test_key_conflicts(assets, python, sources, used, expected):
    assert key_conflicts(assets, python, sources, used) == expected


def test_python_assets_are_read_from_the_modules_definitions_loads(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "definitions.py").write_text(
        "from dagster import Definitions, load_assets_from_modules\n"
        "from pkg import assets, seed_assets\nfrom pkg.extra import more\n"
    )
    (pkg / "assets.py").write_text("from dagster import asset\n\n@asset\ndef a():\n    pass\n")
    (pkg / "seed_assets.py").write_text(
        "from dagster import asset\n\n@asset(key=['raw'])\ndef b():\n    pass\n"
    )
    (pkg / "extra.py").write_text("@asset(key_prefix='p', name='c')\ndef f():\n    pass\n")
    (pkg / "unused.py").write_text("@asset\ndef never_loaded():\n    pass\n")
    keys, problems = python_assets(pkg, "pkg")
    assert keys == {
        ("raw",): ["seed_assets.py:b"],
        ("a",): ["assets.py:a"],
        ("p", "c"): ["extra.py:f"],
    }
    assert problems == []
    (pkg / "seed_assets.py").write_text("def broken(:\n")
    assert python_assets(pkg, "pkg")[1] == ["seed_assets.py (invalid syntax)"]


# --- constants.py, read without importing it --------------------------------------------

HEAD = "from pathlib import Path\nHERE = Path(__file__).parent\n"
NESTED = (
    HEAD
    + 'DBT_PROJECT_DIR = find_dbt_project_dir(\n    HERE.joinpath("..", ".."), HERE / "dbt_project"\n)\n'
)


@pytest.mark.parametrize(
    ("body", "profiles", "target"),
    [
        (
            (
                "dbt_project = DbtProject(\n    project_dir=DBT_PROJECT_DIR,\n"
                "    profiles_dir=find_profiles_dir(DBT_PROJECT_DIR),\n)\n"
            ),
            None,
            "target",
        ),
        (
            (
                "dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=find_profiles_dir("
                'DBT_PROJECT_DIR, HERE.joinpath("..", "..", "profiles")), target_path="out")\n'
            ),
            "PKG/../../profiles",
            "out",
        ),
        (
            (
                "dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=find_profiles_dir("
                'DBT_PROJECT_DIR, Path.home() / ".dbt"))\n'
            ),
            "HOME/.dbt",
            "target",
        ),
    ],
)
def test_read_constants(tmp_path, body, profiles, target):
    pkg = tmp_path / "proj" / "pkg"
    found = read_constants(NESTED + body, pkg)
    expected = (
        Path(profiles.replace("PKG", str(pkg)).replace("HOME", str(Path.home())))
        if profiles
        else None
    )
    assert found == ConstantsPaths((pkg / ".." / "..", pkg / "dbt_project"), expected, target)


def test_read_constants_finds_the_first_candidate_with_a_dbt_project(tmp_path):
    pkg = tmp_path / "dbt" / "dagster" / "pkg"
    pkg.mkdir(parents=True)
    body = "dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)\n"
    paths = read_constants(NESTED + body, pkg)
    assert paths is not None and paths.dbt_project_dir() is None
    (tmp_path / "dbt" / "dbt_project.yml").write_text("name: x\n")
    assert paths.dbt_project_dir() == (tmp_path / "dbt").resolve()


@pytest.mark.parametrize(
    "text",
    [
        "def broken(:\n",
        HEAD + "x = 1\n",  # no DbtProject at all
        HEAD + "dbt_project = DbtProject(project_dir=os.environ['DIR'])\n",  # not what init writes
    ],
)
def test_read_constants_not_understood(tmp_path, text):
    assert read_constants(text, tmp_path) is None


# --- the manifest's state, without dbt ---------------------------------------------------


def _record(root: Path) -> None:
    """What a parse on load leaves: the manifest, and the record of what it was parsed from."""
    target = root / "target"
    target.mkdir(exist_ok=True)
    (target / "manifest.json").write_text("{}")
    st = os.stat(target / "manifest.json")
    current = parse.fingerprint(root, root)
    record = {
        "fingerprint": current,
        "manifest": [st.st_ino, st.st_size, st.st_mtime_ns],
        "project_dir": str(root),
        "parsed_at": 1000.0,
    }
    (target / parse.FINGERPRINT_FILE).write_text(json.dumps(record))


@pytest.fixture
def dbt_dir(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("DBT_"):
            monkeypatch.delenv(name)
    root = (tmp_path / "shop").resolve()
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: shop\nprofile: shop\n")
    (root / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
    )
    (root / "models" / "a.sql").write_text("select 1\n")
    return root


def test_manifest_state_current_then_stale(dbt_dir):
    assert ms.manifest_state(dbt_dir, dbt_dir, dbt_dir / "target") == ms.ManifestState(
        False, False, False, None
    )
    _record(dbt_dir)
    state = ms.manifest_state(dbt_dir, dbt_dir, "target")
    assert state.current and state.parsed_at == 1000.0
    (dbt_dir / "models" / "a.sql").write_text("select 2\n")
    state = ms.manifest_state(dbt_dir, dbt_dir, dbt_dir / "target")
    assert (state.exists, state.recorded, state.fingerprint_matches) == (True, True, False)


def test_manifest_rewritten_by_dbt_is_not_the_recorded_one(dbt_dir):
    _record(dbt_dir)
    manifest = dbt_dir / "target" / "manifest.json"
    manifest.unlink()
    manifest.write_text('{"nodes": {}}')  # `dbt build` by hand: another file
    state = ms.manifest_state(dbt_dir, dbt_dir, dbt_dir / "target")
    assert (state.exists, state.recorded, state.fingerprint_matches) == (True, False, True)
    assert not state.current


# --- parse on load, the lines, the table -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dev", "status", "words"),
    [
        (None, None, "ok", "unset: off here"),
        (None, "1", "ok", "DAGSTER_IS_DEV_CLI set: on"),
        ("1", None, "ok", "=1: on"),
        ("no", "1", "ok", "=no: off everywhere"),
        ("enable", None, "warn", "=enable is neither"),
    ],
)
def test_parse_on_load_values(monkeypatch, value, dev, status, words):
    for name, v in ((parse.PARSE_ON_LOAD_ENV, value), (parse.DEV_CLI_ENV, dev)):
        if v is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, v)
    ctx = Context(cwd=Path.cwd())
    finding = check_parse_on_load(ctx)
    assert finding.status == status
    assert words in finding.message
    assert ctx.cache["parse_on_load"] == parse.parse_on_load_enabled()


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        (
            "No profiles.yml in `x`; create one or pass --profiles-dir.",
            ("No profiles.yml in `x`", "create one or pass --profiles-dir"),
        ),
        ("Something is wrong.", ("Something is wrong.", "")),
        ("a; b; c.", ("a; b", "c")),
    ],
)
def test_split_line(line, parts):
    assert split_line(line) == parts


def test_status_table_is_aligned_plain_text_when_piped(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr("sys.stdout", buf)
    console.reset()
    try:
        console.status_table(
            [
                ("ok", "projects", "found [tool.dbtscaffold]", ""),
                ("fail", "env_vars", "`X` is unset", "export X=..."),
            ]
        )
    finally:
        console.reset()
    assert buf.getvalue() == (
        "ok    projects  found [tool.dbtscaffold]\n"
        "fail  env_vars  `X` is unset\n"
        "                fix: export X=...\n"
    )
