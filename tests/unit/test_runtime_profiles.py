"""dbtscaffold.runtime.profiles: one YAML reader and one renderer, held against dbt's own."""

from __future__ import annotations

import pytest

from dbtscaffold.runtime import profiles
from dbtscaffold.runtime.profiles import EnvVarMissing, ProfileError, load_yaml, render

ENV = {"T_PORT": "5432", "T_HOST": "db.example", "T_FLAG": "True", "T_FLOAT": "1.5"}

CASES = [
    "plain text",
    "{{ env_var('T_HOST') }}",
    "{{ env_var('T_PORT') }}",
    "{{ env_var('T_PORT') | as_number }}",
    "{{ env_var('T_PORT') | as_text }}",
    "{{ env_var('T_PORT') | as_native }}",
    "{{ env_var('T_FLOAT') | as_number }}",
    "{{ env_var('T_FLAG') | as_bool }}",
    "{{ env_var('T_FLAG') | as_native }}",
    "{{ env_var('T_UNSET', 'fallback') }}",
    "{{ env_var('T_UNSET', 7) }}",
    "{{ env_var('T_UNSET', '7') | as_number }}",
    "{{ env_var('T_UNSET', 'False') | as_bool }}",
    "host {{ env_var('T_HOST') }}:{{ env_var('T_PORT') }}",
    "{{ env_var('T_PORT') | as_number }} ms",
    "{{ 5432 }}",
    "{{ '[1, 2]' | as_native }}",
    "{% if env_var('T_HOST') %}yes{% endif %}",
]


@pytest.fixture
def env(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("T_UNSET", raising=False)


def _dbt_render(value):
    import os

    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(dict(os.environ))
    return ProfileRenderer({}).render_value(value)


@pytest.mark.parametrize("value", CASES)
def test_render_equals_dbt(env, value):
    ours = render(value)
    theirs = _dbt_render(value)
    assert (ours, type(ours)) == (theirs, type(theirs))


def test_a_missing_variable_without_default_is_an_error_dbt_agrees(env):
    with pytest.raises(EnvVarMissing) as e:
        render("{{ env_var('T_UNSET') }}")
    assert e.value.name == "T_UNSET"
    with pytest.raises(Exception, match="T_UNSET"):
        _dbt_render("{{ env_var('T_UNSET') }}")


@pytest.mark.parametrize("value", ["{{ env_var('T_HOST') | as_bool }}", "{{ 'x' | as_number }}"])
def test_a_filter_that_cannot_convert_is_an_error(env, value):
    with pytest.raises(ProfileError):
        render(value)


def test_render_walks_mappings_and_lists(env):
    assert render({"a": ["{{ env_var('T_PORT') | as_number }}", 1], "b": None}) == {
        "a": [5432, 1],
        "b": None,
    }


def test_load_yaml_refuses_duplicate_keys_and_keeps_jinja_as_text():
    assert load_yaml("a: \"{{ env_var('X') }}\"\n") == {"a": "{{ env_var('X') }}"}
    with pytest.raises(Exception, match='duplicate key "a"'):
        load_yaml("a: 1\na: 2\n")


def test_target_config_picks_dbt_target_then_the_default(tmp_path, monkeypatch, env):
    (tmp_path / "dbt_project.yml").write_text("name: shop\nprofile: shop\n")
    (tmp_path / "profiles.yml").write_text(
        "config: {send_anonymous_usage_stats: false}\n"
        "shop:\n  target: dev\n  outputs:\n"
        "    dev: {type: duckdb, path: shop.duckdb}\n"
        "    pg: {type: postgres, port: \"{{ env_var('T_PORT') | as_number }}\"}\n"
    )
    monkeypatch.delenv(profiles.TARGET_ENV, raising=False)
    assert profiles.target_config(tmp_path, tmp_path)["_target"] == "dev"
    monkeypatch.setenv(profiles.TARGET_ENV, "pg")
    assert profiles.target_config(tmp_path, tmp_path)["port"] == 5432
    with pytest.raises(ProfileError, match="target 'nope' not found"):
        profiles.target_config(tmp_path, tmp_path, "nope")


def test_target_name_renders_the_profiles_target_as_dbt_picks_it(monkeypatch):
    monkeypatch.delenv(profiles.TARGET_ENV, raising=False)
    monkeypatch.delenv("T_WHICH", raising=False)
    templated = "{{ env_var('T_WHICH', 'dev') }}"
    assert profiles.target_name(templated) == "dev"
    monkeypatch.setenv("T_WHICH", "prod")
    assert profiles.target_name(templated) == "prod"
    assert profiles.target_name(None) == "default"
    monkeypatch.setenv(profiles.TARGET_ENV, "ci")
    assert profiles.target_name(templated) == "ci"
    assert profiles.target_name(templated, "given") == "given"
    with pytest.raises(ProfileError):
        monkeypatch.delenv(profiles.TARGET_ENV)
        profiles.target_name("{{ env_var('T_UNSET') }}")
