"""Adapter types -> PyPI packages, and the dependencies `init` writes for each profile."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dbtscaffold.dagster_project.scaffold import plan_init
from dbtscaffold.dbt import project as proj

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# The adapters people use beyond DuckDB (issue 7), as their docs say to install them.
@pytest.mark.parametrize(
    ("target_type", "package"),
    [
        ("postgres", "dbt-postgres"),
        ("snowflake", "dbt-snowflake"),
        ("bigquery", "dbt-bigquery"),
        ("databricks", "dbt-databricks"),
        ("redshift", "dbt-redshift"),
        ("trino", "dbt-trino"),
        ("spark", "dbt-spark"),
        # dbt-athena-community is published for every dbt version (1.0 to today; from 1.9 on
        # it pulls in dbt Labs' dbt-athena), while `dbt-athena` only exists from 1.9 and
        # its older 0.0.x releases are an unrelated package: the community name is safe.
        ("athena", "dbt-athena-community"),
        ("synapse", "dbt-synapse"),
        ("sqlserver", "dbt-sqlserver"),
        ("fabric", "dbt-fabric"),
        ("clickhouse", "dbt-clickhouse"),
        ("duckdb", "dbt-duckdb"),
        ("glue", "dbt-glue"),
    ],
)
def test_adapter_package_of_common_adapters(target_type, package):
    assert proj.adapter_package(target_type) == package


def _dbt_project(tmp_path: Path, targets: dict[str, str], default: str) -> Path:
    d = tmp_path / "shop"
    d.mkdir()
    (d / "dbt_project.yml").write_text("name: shop\nprofile: shop\n", encoding="utf-8")
    outputs = "".join(f"    {name}:\n      type: {t}\n" for name, t in targets.items())
    (d / "profiles.yml").write_text(
        f"shop:\n  target: {default}\n  outputs:\n{outputs}", encoding="utf-8"
    )
    return d


def _dependencies(tmp_path: Path, targets: dict[str, str], default: str) -> list[str]:
    dbt_dir = _dbt_project(tmp_path, targets, default)
    result = plan_init(dbt_dir, tmp_path / "out", "shop_dagster")
    [pyproject] = [c for c in result.plan.changes if c.path.name == "pyproject.toml"]
    return tomllib.loads(pyproject.after.decode("utf-8"))["project"]["dependencies"]


def _names(deps: list[str]) -> list[str]:
    return [d.split("<")[0].split(">")[0].split("=")[0].strip() for d in deps]


def test_init_adds_dbt_postgres_for_a_postgres_target(tmp_path):
    deps = _names(_dependencies(tmp_path, {"dev": "duckdb", "pg": "postgres"}, "dev"))
    assert deps.count("dbt-postgres") == 1
    assert deps.count("dbt-duckdb") == 1


def test_init_adds_dbt_postgres_when_postgres_is_the_only_target(tmp_path):
    deps = _names(_dependencies(tmp_path, {"prod": "postgres"}, "prod"))
    assert "dbt-postgres" in deps
    assert "dbt-duckdb" not in deps
    assert "dagster-duckdb" not in deps


def test_init_maps_every_target_of_the_profile_once(tmp_path):
    targets = {
        "dev": "duckdb",
        "pg": "postgres",
        "pg2": "postgres",
        "sf": "snowflake",
        "bq": "bigquery",
        "dbx": "databricks",
        "rs": "redshift",
        "tr": "trino",
        "sp": "spark",
        "at": "athena",
    }
    deps = _names(_dependencies(tmp_path, targets, "dev"))
    adapters = [d for d in deps if d.startswith("dbt-") and d != "dbt-core"]
    assert adapters == [
        "dbt-duckdb",
        "dbt-postgres",
        "dbt-snowflake",
        "dbt-bigquery",
        "dbt-databricks",
        "dbt-redshift",
        "dbt-trino",
        "dbt-spark",
        "dbt-athena-community",
    ]


def test_example_profile_has_a_postgres_target_and_duckdb_default():
    location = proj.ProfilesLocation(
        Path(__file__).resolve().parents[2] / "src/dbtscaffold/example/profiles.yml", "project"
    )
    profile = proj.read_profile(location, "jaffle_shop")
    assert profile.default_target == "dev"
    assert profile.targets["dev"]["type"] == "duckdb"
    pg = profile.targets["postgres"]
    assert pg["type"] == "postgres"
    for key in ("host", "port", "user", "password", "dbname"):
        assert "env_var('JAFFLE_SHOP_PG_" in pg[key], key
    assert profile.target_types() == ["duckdb", "postgres"]
