from __future__ import annotations

import ast

import pytest
import tomllib

from dbtscaffold.dagster_project.locate import relpath
from dbtscaffold.dagster_project.names import name_problem, py_literal, to_identifier
from dbtscaffold.dagster_project.scaffold import toml_str, validate_project_name
from dbtscaffold.dbt import project as proj
from dbtscaffold.errors import UserError


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("jaffle_shop_dagster", None),
        ("shop2", None),
        ("_private", None),
        (
            "1abc",
            "is not a valid Python identifier (letters, digits and underscores; not starting with a digit)",
        ),
        (
            "my-project",
            "is not a valid Python identifier (letters, digits and underscores; not starting with a digit)",
        ),
        (
            "../x",
            "is not a valid Python identifier (letters, digits and underscores; not starting with a digit)",
        ),
        (
            "héllo",
            "is not a valid Python identifier (letters, digits and underscores; not starting with a digit)",
        ),
        ("", "is empty"),
        ("class", "is a Python keyword"),
        ("match", "is a Python keyword"),
        ("json", "would shadow the standard-library module of the same name"),
        ("os", "would shadow the standard-library module of the same name"),
        ("dagster", "would shadow a package the project depends on"),
        ("dagster_dbt", "would shadow a package the project depends on"),
        ("dbt", "would shadow a package the project depends on"),
        ("duckdb", "would shadow a package the project depends on"),
    ],
)
def test_name_problem(name, problem):
    assert name_problem(name) == problem


def test_validate_project_name_message():
    with pytest.raises(UserError) as e:
        validate_project_name("class")
    assert (
        e.value.line()
        == "Project name `class` is a Python keyword; choose another with --project-name."
    )


@pytest.mark.parametrize(
    ("text", "ident"),
    [
        ("jaffle_shop", "jaffle_shop"),
        ("my-shop", "my_shop"),
        ("2shop", "_2shop"),
        ("class", "class_"),
        ("---", "dbt"),
    ],
)
def test_to_identifier(text, ident):
    assert to_identifier(text) == ident


@pytest.mark.parametrize(
    ("target", "start", "expected"),
    [
        ("a/b/dbt", "a/b/dag/dag", "../../dbt"),
        ("a/dbt", "a/b/c/d", "../../../dbt"),
        ("a/b/c", "a/b", "c"),
        ("a", "a", "."),
    ],
)
def test_relpath(tmp_path, target, start, expected):
    assert relpath(tmp_path / target, tmp_path / start) == expected


@pytest.mark.parametrize(
    ("target_type", "package"),
    [
        ("duckdb", "dbt-duckdb"),
        ("postgres", "dbt-postgres"),
        ("snowflake", "dbt-snowflake"),
        ("athena", "dbt-athena-community"),
        ("layer", "dbt-layer-bigquery"),
        ("watsonx_presto", "dbt-watsonx-presto"),
        ("Postgres", "dbt-postgres"),
    ],
)
def test_adapter_package(target_type, package):
    assert proj.adapter_package(target_type) == package


def test_adapter_packages_deduplicated():
    assert proj.adapter_packages(["duckdb", "postgres", "duckdb"]) == ["dbt-duckdb", "dbt-postgres"]


HOSTILE = [
    "plain",
    "quote'",
    'dq"',
    "back\\slash",
    "new\nline",
    "{{ cookiecutter.x }}",
    "tab\t",
    "😀",
    "\x00nul",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_py_literal_round_trips(value):
    assert ast.literal_eval(py_literal(value)) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_toml_str_round_trips(value):
    assert tomllib.loads(f"x = {toml_str(value)}\n")["x"] == value


def test_find_profiles_order(tmp_path, monkeypatch):
    dbt = tmp_path / "dbt"
    dbt.mkdir()
    home = tmp_path / "home"
    (home / ".dbt").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    (home / ".dbt" / "profiles.yml").write_text("x: {}\n")
    assert proj.find_profiles(dbt).how == "home"
    (dbt / "profiles.yml").write_text("x: {}\n")
    assert proj.find_profiles(dbt).how == "project"
    envdir = tmp_path / "env"
    envdir.mkdir()
    (envdir / "profiles.yml").write_text("x: {}\n")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(envdir))
    assert proj.find_profiles(dbt).how == "DBT_PROFILES_DIR"
    assert proj.find_profiles(dbt, profiles_dir=home / ".dbt").how == "--profiles-dir"


def test_read_profile_skips_config_and_lists_types(tmp_path):
    p = tmp_path / "profiles.yml"
    p.write_text(
        "config:\n  send_anonymous_usage_stats: false\n"
        "shop:\n  target: dev\n  outputs:\n"
        "    dev: {type: duckdb, path: x.duckdb}\n"
        "    prod: {type: postgres, host: h}\n"
        "    ci: {type: duckdb, path: y.duckdb}\n"
    )
    info = proj.read_profile(proj.ProfilesLocation(p, "project"), "shop")
    assert info.default_target == "dev"
    assert info.target_types() == ["duckdb", "postgres"]
    with pytest.raises(UserError, match="Profile `config` not found"):
        proj.read_profile(proj.ProfilesLocation(p, "project"), "config")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: a\nname: b\n", "is not valid YAML"),
        ("name:\n\t- x\n", "is not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_read_dbt_project_rejects(tmp_path, text, fragment):
    (tmp_path / "dbt_project.yml").write_text(text)
    with pytest.raises(UserError, match=fragment):
        proj.read_dbt_project(tmp_path)


def test_read_dbt_project_paths(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\nseed-paths: [data, more_seeds]\ntarget-path: out\n"
    )
    info = proj.read_dbt_project(tmp_path)
    assert info.name == "shop" and info.profile == "shop"
    assert info.seed_paths == ("data", "more_seeds")
    assert info.target_path == "out"
    assert info.dir == tmp_path.resolve()
