"""Hostile names and paths cannot break out of the strings of the generated project."""

from __future__ import annotations

import ast
import shutil

import pytest
import tomllib

from dbtscaffold.dagster_project.names import to_identifier
from tests.helpers.cli import EXAMPLE, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE_DIRS = [
    "it's",
    'say "hi"',
    "back\\slash",
    "new\nline",
    "{{ cookiecutter.project_name }}",
    "{% raw %}x",
    "$(touch pwned);`id`",
    "sp ace & <gt>",
]


def _literal_assignments(tree: ast.Module) -> dict[str, ast.AST]:
    return {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


@pytest.mark.parametrize("dirname", HOSTILE_DIRS, ids=range(len(HOSTILE_DIRS)))
def test_hostile_dbt_dir_and_name(tmp_path, dirname):
    base = tmp_path / "w"
    base.mkdir()
    dbt = base / dirname
    shutil.copytree(EXAMPLE, dbt)
    yml = dbt / "dbt_project.yml"
    text = yml.read_text()
    # a dbt project name dbt itself would reject must still not break our output
    hostile_name = 'shop"\n#{{x}}\\'
    assert text.startswith("name: jaffle_shop\n")
    quoted = '"' + hostile_name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    yml.write_text(text.replace("name: jaffle_shop\n", f"name: {quoted}\n", 1))
    out = tmp_path / "out"
    run_cli(
        "init",
        "--project-name",
        "shop_dagster",
        "--dbt-project-dir",
        dbt,
        "--output-dir",
        out,
        check=0,
    )
    proj = out / "shop_dagster"
    assert not (out / "pwned").exists() and not (proj / "pwned").exists()
    # every generated Python file parses
    for py in (proj / "shop_dagster").glob("*.py"):
        ast.parse(py.read_text(), filename=str(py))
    consts = ast.parse((proj / "shop_dagster" / "constants.py").read_text())
    call = _literal_assignments(consts)["DBT_PROJECT_DIR"]
    assert isinstance(call, ast.Call) and call.func.attr == "resolve"
    rel_call = call.func.value  # HERE.joinpath(...)
    rel_parts = [ast.literal_eval(a) for a in rel_call.args]
    assert rel_parts == ["..", "..", "..", "w", dirname]
    # No absolute path: the file is committed and must work on every machine.
    assert str(tmp_path) not in (proj / "shop_dagster" / "constants.py").read_text()
    # pyproject.toml parses and means what was given
    doc = tomllib.loads((proj / "pyproject.toml").read_text())
    assert doc["tool"]["dbtscaffold"]["dbt_project_dir"] == f"../../w/{dirname}"
    assert hostile_name in doc["project"]["description"]
    assert doc["tool"]["dagster"]["module_name"] == "shop_dagster.definitions"
    assets = ast.parse((proj / "shop_dagster" / "assets.py").read_text())
    fn = [n for n in assets.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in fn] == [to_identifier(hostile_name) + "_dbt_assets"]
    assert fn[0].name.isidentifier()


def test_hostile_adapter_type_is_refused(example_project, tmp_path):
    prof = example_project / "profiles.yml"
    prof.write_text(prof.read_text().replace("type: duckdb", 'type: "duckdb\\"]\\nevil = [\\""', 1))
    proc = run_cli("init", "--dbt-project-dir", example_project, "--output-dir", tmp_path / "o")
    assert proc.returncode == 1
    assert "invalid `type:`" in proc.stderr
    assert not (tmp_path / "o").exists()
