"""The pure parts of `package` and `deploy`: what is copied, the edits, the deploy files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtscaffold.changes.plan import DIFF_SIZE_LIMIT, unified_diff
from dbtscaffold.dagster_project.deploy import check_host, render_deploy_files
from dbtscaffold.dagster_project.package import (
    dbt_project_files,
    pyproject_with_package_data,
    seed_assets_with_packaged_data,
)
from dbtscaffold.dbt.project import ProfileInfo, ProfilesLocation, read_dbt_project
from dbtscaffold.dbt.target import duckdb_path
from dbtscaffold.errors import UserError

PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "pkg"

[tool.setuptools]
packages = ["pkg"]
"""


def test_package_data_is_appended_when_missing():
    assert pyproject_with_package_data(PYPROJECT, "pkg", Path("pyproject.toml")) == (
        PYPROJECT
        + "\n[tool.setuptools.package-data]\n"
        + "# The copies `dbtscaffold package` makes of the dbt project and of data/.\n"
        + 'pkg = ["dbt_project/**/*", "data/**/*"]\n'
    )


def test_package_data_already_declared_is_left_alone():
    text = PYPROJECT + '\n[tool.setuptools.package-data]\npkg = ["dbt_project/**/*", "data/**/*"]\n'
    assert pyproject_with_package_data(text, "pkg", Path("pyproject.toml")) == text


def test_package_data_without_the_patterns_is_the_users_to_fix():
    text = PYPROJECT + '\n[tool.setuptools.package-data]\npkg = ["*.sql"]\n'
    with pytest.raises(UserError) as e:
        pyproject_with_package_data(text, "pkg", Path("p/pyproject.toml"))
    assert e.value.line() == (
        "`[tool.setuptools.package-data]` in `p/pyproject.toml` does not include the packaged "
        'copies; set `pkg = ["dbt_project/**/*", "data/**/*"]` there and retry.'
    )


def test_another_build_backend_is_left_alone():
    text = '[build-system]\nbuild-backend = "hatchling.build"\n'
    assert pyproject_with_package_data(text, "pkg", Path("pyproject.toml")) == text


@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_an_old_seed_assets_module_looks_for_packaged_data(nl):
    head = ["from pathlib import Path", "", 'DATA_DIR = Path(__file__).parent.parent / "data"', ""]
    out = seed_assets_with_packaged_data(nl.join(head))
    assert out == nl.join(
        [
            "from pathlib import Path",
            "",
            "HERE = Path(__file__).parent",
            (
                "# The project's data/ folder, else the copy `dbtscaffold package` puts in this "
                "package."
            ),
            'DATA_DIR = HERE.parent / "data" if (HERE.parent / "data").is_dir() else HERE / "data"',
            "",
        ]
    )
    assert seed_assets_with_packaged_data(out) == out


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_the_copy_skips_what_dbt_writes_and_the_nested_dagster_project(tmp_path):
    dbt = tmp_path / "shop"
    _write(
        dbt,
        {
            "dbt_project.yml": "name: shop\nprofile: shop\n",
            "profiles.yml": "shop: {}\n",
            "models/a.sql": "select 1",
            "seeds/s.csv": "a\n1\n",
            "target/manifest.json": "{}",
            "target/run_results.json": "{}",
            "logs/dbt.log": "",
            "dbt_packages/x/dbt_project.yml": "",
            "shop.duckdb": "",
            "shop.duckdb.wal": "",
            ".user.yml": "id: 1\n",
            ".env": "SECRET=1\n",
            ".venv/pyvenv.cfg": "",
            "tools/venv/pyvenv.cfg": "",
            "models/__pycache__/x.pyc": "",
            "shop_dagster/pyproject.toml": "",
            "shop_dagster/shop_dagster/dbt_project/dbt_project.yml": "",
        },
    )
    manifest = tmp_path / "parsed.json"
    manifest.write_text('{"parsed": true}')
    files = dbt_project_files(read_dbt_project(dbt), manifest, dbt / "shop_dagster")
    assert sorted(files) == [
        "dbt_project.yml",
        "models/a.sql",
        "profiles.yml",
        "seeds/s.csv",
        "target/manifest.json",
    ]
    assert files["target/manifest.json"] == manifest


def test_installed_packages_are_copied_when_the_project_declares_them(tmp_path):
    dbt = tmp_path / "shop"
    _write(
        dbt,
        {
            "dbt_project.yml": "name: shop\nprofile: shop\n",
            "packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
            "dbt_packages/dbt_utils/dbt_project.yml": "name: dbt_utils\n",
        },
    )
    files = dbt_project_files(read_dbt_project(dbt), tmp_path / "m.json", tmp_path / "elsewhere")
    assert "dbt_packages/dbt_utils/dbt_project.yml" in files


def _profile(path: str, target: str = "dev") -> ProfileInfo:
    return ProfileInfo(
        ProfilesLocation(Path("profiles.yml"), "project"),
        "shop",
        target,
        {"dev": {"type": "duckdb", "path": path}, "pg": {"type": "postgres"}},
    )


@pytest.mark.parametrize(
    ("path", "env", "file_name", "relative"),
    [
        ("{{ env_var('SHOP_DB', 'shop.duckdb') }}", "SHOP_DB", "shop.duckdb", True),
        ('{{ env_var("SHOP_DB", "/srv/shop.duckdb") }}', "SHOP_DB", "shop.duckdb", False),
        ("{{ env_var('SHOP_DB') }}", "SHOP_DB", "warehouse.duckdb", False),
        ("shop.duckdb", None, "shop.duckdb", True),
        ("/data/shop.duckdb", None, "shop.duckdb", False),
        ("md:shop", None, "warehouse.duckdb", False),
    ],
)
def test_the_duckdb_path_a_deployment_must_set(path, env, file_name, relative):
    found = duckdb_path(_profile(path))
    assert (found.env, found.file_name, found.relative) == (env, file_name, relative)


def test_no_duckdb_target_no_duckdb_path():
    profile = ProfileInfo(
        ProfilesLocation(Path("p"), "project"), "shop", "pg", {"pg": {"type": "postgres"}}
    )
    assert duckdb_path(profile) is None


def test_deploy_files():
    files = render_deploy_files("shop", "shop.definitions", host="0.0.0.0", port=4100, duckdb=False)
    assert sorted(files) == ["dagster.yaml", "workspace.yaml"]
    workspace = files["workspace.yaml"].decode()
    assert workspace.endswith(
        "load_from:\n  - grpc_server:\n      host: 0.0.0.0\n      port: 4100\n"
        "      location_name: shop\n"
    )
    assert "dagster code-server start -m shop.definitions -h 0.0.0.0 -p 4100" in workspace
    instance = files["dagster.yaml"].decode()
    assert "max_concurrent_runs: 10\n" in instance and "DuckDB" not in instance
    duck = render_deploy_files("shop", "shop.definitions", host="::1", port=1, duckdb=True)
    assert 'host: "::1"' in duck["workspace.yaml"].decode()
    assert "max_concurrent_runs: 1\n" in duck["dagster.yaml"].decode()


def test_a_host_with_spaces_is_refused():
    with pytest.raises(UserError):
        check_host("a b")


def test_a_diff_of_a_huge_file_is_one_line():
    big = b"{" + b"x" * DIFF_SIZE_LIMIT + b"}"
    assert unified_diff(None, big, "target/manifest.json") == (
        f"Files /dev/null and b/target/manifest.json differ ({len(big):,} bytes: too large to "
        "show)\n"
    )
