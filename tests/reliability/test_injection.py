"""No code injection: hostile names, paths and profile values stay inside their strings.

Whatever a user passes (folder names, profile locations and values, seed descriptions,
column names and types, delimiters) is rendered with proper escaping into the generated
Python, TOML and YAML. Each test feeds hostile values (quotes, newlines, backslashes,
Jinja braces, shell metacharacters, triple quotes), then checks that every generated file
still parses (ast, tomllib, YAML) and that the parsed value is exactly what was given.
One test goes further and runs the generated loader against DuckDB, reading back the
hostile column names and types from the table it made.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbtscaffold.dagster_project.names import py_literal
from dbtscaffold.dagster_project.scaffold import toml_str
from dbtscaffold.dagster_project.seed_assets import LoaderSpec, add_loader_asset
from tests.helpers.cli import EXAMPLE, run_cli, run_tool
from tests.helpers.projects import DAGSTER, DBT, PACKAGE, copy_template

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE = [
    "it's",
    'say "hi"',
    "back\\slash\\",
    "new\nline",
    "tab\tand\rreturn",
    "{{ cookiecutter.project_name }}",
    "{% raw %}{{ x }}",
    "$(touch pwned);`id`|&>x",
    "\"\"\" and '''",
    "\\N{BULLET} \\x00 \\u2028",
    "caf\u00e9 \u2713 \u2028",
    "#{x} ${x} %s {0}",
    "del\x7fchar",
]
IDS = [f"h{i}" for i in range(len(HOSTILE))]


def _yaml_load(text: str):
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _parse_all_python(package: Path) -> dict[str, ast.Module]:
    return {
        p.name: ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for p in package.glob("*.py")
    }


def _assignment(tree: ast.Module, name: str) -> ast.expr:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
    raise AssertionError(f"no assignment to {name}")


def _eval_path(node: ast.expr, names: dict[str, Path]) -> Path:
    """Evaluate the small path expressions init writes (no eval() of generated code)."""
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Path":
        return Path(*(ast.literal_eval(a) for a in node.args))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        base = node.func.value
        if node.func.attr == "joinpath":
            return _eval_path(base, names).joinpath(*(ast.literal_eval(a) for a in node.args))
        if node.func.attr == "resolve":
            return _eval_path(base, names).resolve()
        if node.func.attr == "home" and isinstance(base, ast.Name) and base.id == "Path":
            return Path.home()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _eval_path(node.left, names) / ast.literal_eval(node.right)
    raise AssertionError(f"unexpected path expression: {ast.dump(node)}")


# --- the escaping helpers, for any text at all ------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_python_and_toml_literals_mean_exactly_the_text(value):
    assert ast.literal_eval(py_literal(value)) == value
    assert tomllib.loads(f"x = {toml_str(value)}\n")["x"] == value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    description=TEXT,
    column_types=st.dictionaries(TEXT, TEXT, max_size=4),
    delimiter=st.text(min_size=1, max_size=1),
)
def test_generated_asset_keeps_every_value_in_its_string(description, column_types, delimiter):
    spec = LoaderSpec(
        seed="raw_customers", schema="main", table="raw_customers", adapter="duckdb",
        column_types=column_types, delimiter=delimiter, description=" ".join(description.split()),
    )  # fmt: skip
    source = add_loader_asset('"""Assets."""\n', spec, "pkg")
    tree = ast.parse(source)
    [func] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    call = _loader_call(func)
    # Defaults are left out of the call.
    assert ast.literal_eval(call.get("column_types", ast.Constant({}))) == column_types
    assert ast.literal_eval(call.get("delimiter", ast.Constant(","))) == delimiter
    decorator = func.decorator_list[0]
    assert isinstance(decorator, ast.Call)
    kwargs = {k.arg: k.value for k in decorator.keywords}
    expected = (
        spec.description or "The former dbt seed raw_customers, loaded from data/raw_customers.csv."
    )
    assert ast.literal_eval(kwargs["description"]) == expected


def _loader_call(func: ast.FunctionDef) -> dict[str, ast.expr]:
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_csv":
            return {k.arg: k.value for k in node.keywords}
    raise AssertionError("no load_csv call")


# --- init: hostile folders, profile locations and profile values --------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_init_with_hostile_output_and_profiles_folders(tmp_path, hostile):
    base = tmp_path / f"dbt {hostile}"
    dbt = base / DBT
    shutil.copytree(EXAMPLE, dbt)
    profiles = (dbt / "profiles.yml").read_text()
    (dbt / "profiles.yml").unlink()
    # profiles.yml next to the dbt project (rendered relative to the package) in a hostile
    # folder, and a hostile output folder
    prof_dir = base / hostile / "profiles"
    prof_dir.mkdir(parents=True)
    (prof_dir / "profiles.yml").write_text(profiles)
    out = tmp_path / f"out {hostile}"
    run_cli(
        "init", "--dbt-project-dir", dbt, "--output-dir", out, "--profiles-dir", prof_dir, check=0
    )
    project = out / DAGSTER
    trees = _parse_all_python(project / PACKAGE)
    consts = trees["constants.py"]
    here = (project / PACKAGE).resolve()
    names = {"HERE": here, "DBT_PROJECT_DIR": dbt.resolve()}
    project_dir = _assignment(consts, "DBT_PROJECT_DIR")
    assert _eval_path(project_dir, names) == dbt.resolve()
    [profiles_kw] = [
        k for k in _assignment(consts, "dbt_project").keywords if k.arg == "profiles_dir"
    ]
    assert _eval_path(profiles_kw.value, names) == prof_dir.resolve()
    assert str(tmp_path) not in (project / PACKAGE / "constants.py").read_text(encoding="utf-8")
    doc = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert (project / doc["tool"]["dbtscaffold"]["dbt_project_dir"]).resolve() == dbt.resolve()
    assert hostile in doc["tool"]["dbtscaffold"]["dbt_project_dir"]
    assert not list(tmp_path.rglob("pwned"))


def test_init_with_profiles_elsewhere_and_hostile_profile_values(tmp_path):
    """Every hostile value at once, profiles.yml outside the dbt project's folder (a
    path relative to constants.py), and the generated module imported for real."""
    hostile = "".join(HOSTILE[:9]).replace("\r", "")
    dbt = tmp_path / "w" / DBT
    shutil.copytree(EXAMPLE, dbt)
    profiles = (dbt / "profiles.yml").read_text()
    (dbt / "profiles.yml").unlink()
    # hostile target and profile names, and values (never rendered into code, only read)
    profiles = (
        profiles.replace("target: dev", f"target: {json.dumps(hostile)}")
        .replace("    dev:\n", f"    {json.dumps(hostile)}:\n")
        .replace("threads: 1", f"threads: 1\n      schema: {json.dumps(hostile)}")
    )
    profiles = profiles.replace("jaffle_shop:\n", f"{json.dumps('p ' + hostile)}:\n", 1)
    yml = dbt / "dbt_project.yml"
    yml.write_text(
        yml.read_text().replace("profile: jaffle_shop", f"profile: {json.dumps('p ' + hostile)}")
    )
    prof_dir = tmp_path / "elsewhere" / hostile
    prof_dir.mkdir(parents=True)
    (prof_dir / "profiles.yml").write_text(profiles)
    assert _yaml_load(profiles)["p " + hostile]["target"] == hostile
    out = tmp_path / "out"
    run_cli(
        "init", "--dbt-project-dir", dbt, "--output-dir", out, "--profiles-dir", prof_dir, check=0
    )
    project = out / DAGSTER
    trees = _parse_all_python(project / PACKAGE)
    [profiles_kw] = [
        k for k in _assignment(trees["constants.py"], "dbt_project").keywords
        if k.arg == "profiles_dir"
    ]  # fmt: skip
    names = {"HERE": (project / PACKAGE).resolve()}
    assert _eval_path(profiles_kw.value, names) == prof_dir.resolve()
    tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    # What Python itself makes of it: import the module (a manifest file stands in for
    # dbt parse, which the hostile profile name would not survive in dbt itself).
    (dbt / "target").mkdir()
    (dbt / "target" / "manifest.json").write_text("{}")
    probe = run_tool(
        "python",
        "-c",
        "import json; from jaffle_shop_dagster import constants as c; "
        "print(json.dumps([str(c.dbt_project.profiles_dir), str(c.DBT_PROJECT_DIR)]))",
        cwd=project,
        env={"DBT_PROFILES_DIR": ""},
    )
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == [
        str(prof_dir.resolve()),
        str(dbt.resolve()),
    ]
    assert not list(tmp_path.rglob("pwned"))


# --- convert-seed: hostile folders ---------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_convert_seed_with_hostile_folders(template, tmp_path, hostile):
    """The projects live in a hostile folder, and the seed sits in a hostile sub-folder."""
    root = copy_template(template, tmp_path / hostile)
    dbt = root / DBT
    nested = dbt / "seeds" / hostile
    nested.mkdir(parents=True)
    (dbt / "seeds" / "raw_customers.csv").rename(nested / "raw_customers.csv")
    yml = dbt / "dbt_project.yml"
    yml.write_text(
        yml.read_text()
        + f"    {json.dumps(hostile)}:\n      raw_customers:\n        +column_types:\n          id: bigint\n"
    )
    run_cli("convert-seed", "raw_customers", cwd=dbt, check=0)
    trees = _parse_all_python(root / DAGSTER / PACKAGE)
    [func] = [
        n
        for n in trees["seed_assets.py"].body
        if isinstance(n, ast.FunctionDef) and n.name == "raw_customers"
    ]
    assert ast.literal_eval(_loader_call(func)["column_types"]) == {"id": "bigint"}
    sources = _yaml_load((dbt / "models" / "sources.yml").read_text())
    assert sources["sources"][0]["tables"][0]["name"] == "raw_customers"
    project = _yaml_load(yml.read_text())  # the seed's block left dbt_project.yml cleanly
    assert "raw_customers" not in json.dumps(project.get("seeds"))
    tomllib.loads((root / DAGSTER / "pyproject.toml").read_text(encoding="utf-8"))
    assert (root / DAGSTER / "data" / "raw_customers.csv").is_file()
    assert not list(tmp_path.rglob("pwned"))


# --- convert-seed: hostile seed properties, all the way into DuckDB ------------------------

COLUMNS = ["id", 'it\'s "quoted"', "back\\slash", "{{ x }}", "new\nline", "semi;colon"]
# dbt renders Jinja in property names, so `{{ x }}` is a column of the CSV (and of the
# loader's types) but cannot be declared in YAML, before or after the conversion.
YAML_COLUMNS = [c for c in COLUMNS if "{{" not in c]
TYPES = {'it\'s "quoted"': "varchar", "back\\slash": "decimal(10, 2)", "{{ x }}": "varchar"}
DESCRIPTION = (
    "It's \"quoted\",\nacross lines \\ with a backslash, {{ 'braces' }}, \"\"\" and ''' "
    "and {% raw %}{{ not jinja }}{% endraw %}"
)


def _hostile_seed(dbt: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="|", lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerow([1, "a'b", "1.50", "{{", "x\ny", "p;q"])
    w.writerow([2, '"', "2", "}}", "", ""])
    (dbt / "seeds" / "hostile_seed.csv").write_text(buf.getvalue())
    entry = {
        "name": "hostile_seed",
        "description": DESCRIPTION,
        "config": {"column_types": TYPES, "delimiter": "|"},
        "columns": [{"name": c, "description": f"column {c}"} for c in YAML_COLUMNS],
    }
    from ruamel.yaml import YAML

    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump({"version": 2, "seeds": [entry]}, out)
    (dbt / "seeds" / "_hostile.yml").write_text(out.getvalue())
    (dbt / "models" / "uses_hostile.sql").write_text("select * from {{ ref('hostile_seed') }}\n")


def test_hostile_seed_properties_reach_duckdb_as_given(template, tmp_path):
    root = copy_template(template, tmp_path / "w")
    dbt, dagster = root / DBT, root / DAGSTER
    _hostile_seed(dbt)
    run_cli("convert-seed", "hostile_seed", cwd=dbt, check=0)

    # Python: parses, and the literals are exactly the given values.
    trees = _parse_all_python(dagster / PACKAGE)
    [func] = [
        n
        for n in trees["seed_assets.py"].body
        if isinstance(n, ast.FunctionDef) and n.name == "hostile_seed"
    ]
    call = _loader_call(func)
    assert ast.literal_eval(call["column_types"]) == TYPES
    assert ast.literal_eval(call["delimiter"]) == "|"
    decorator = {k.arg: k.value for k in func.decorator_list[0].keywords}
    assert ast.literal_eval(decorator["description"]) == " ".join(DESCRIPTION.split())
    assert ast.literal_eval(decorator["key"]) == ["hostile_seed"]

    # YAML: the source table carries the description and columns exactly.
    sources = _yaml_load((dbt / "models" / "sources.yml").read_text())
    [table] = sources["sources"][0]["tables"]
    assert table["name"] == "hostile_seed"
    assert table["description"] == DESCRIPTION
    assert [c["name"] for c in table["columns"]] == YAML_COLUMNS
    assert table["config"]["meta"] == {"dagster": {"asset_key": ["hostile_seed"]}}
    # The seed's YAML held nothing else: it went with the conversion.
    assert not (dbt / "seeds" / "_hostile.yml").exists()
    assert (
        "source('jaffle_shop', 'hostile_seed')" in (dbt / "models" / "uses_hostile.sql").read_text()
    )

    # dbt reads it, and the loader Dagster runs puts exactly these columns into DuckDB.
    db = tmp_path / "hostile.duckdb"
    script = (
        "import json, duckdb\n"
        "from dagster import materialize\n"
        "from jaffle_shop_dagster import assets, seed_assets  # assets parses on load\n"
        "result = materialize([seed_assets.hostile_seed])\n"
        "assert result.success\n"
        f"con = duckdb.connect({str(db)!r}, read_only=True)\n"
        'cols = con.execute("select column_name, data_type from information_schema.columns '
        "where table_name = 'hostile_seed' order by ordinal_position\").fetchall()\n"
        "rows = con.execute('select * from main.hostile_seed order by 1').fetchall()\n"
        "print(json.dumps({'cols': cols, 'rows': [[str(v) for v in r] for r in rows]}))\n"
    )
    env = {"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD": "1", "JAFFLE_SHOP_DUCKDB_PATH": str(db)}
    proc = run_tool("python", "-c", script, cwd=dagster, env=env, timeout=600)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [c[0] for c in got["cols"]] == COLUMNS
    types = dict(got["cols"])
    assert types['it\'s "quoted"'] == "VARCHAR"
    assert types["back\\slash"] == "DECIMAL(10,2)"
    assert got["rows"] == [
        ["1", "a'b", "1.50", "{{", "x\ny", "p;q"],
        ["2", '"', "2.00", "}}", "None", "None"],
    ]
    manifest = json.loads((dbt / "target" / "manifest.json").read_text())
    assert "source.jaffle_shop.jaffle_shop.hostile_seed" in manifest["sources"]


# --- convert-seed: hostile profile values ----------------------------------------------------


def test_hostile_profile_values_never_reach_generated_code(template, tmp_path):
    """The target's schema and database path are read by convert-seed. A seed built in a
    schema that is not a plain name is refused with one line; nothing reaches any file."""
    root = copy_template(template, tmp_path / "w")
    dbt = root / DBT
    hostile = "".join(HOSTILE[:9]).replace("\r", "")
    prof = dbt / "profiles.yml"
    text = prof.read_text()
    text = text.replace(
        "path: \"{{ env_var('JAFFLE_SHOP_DUCKDB_PATH', 'jaffle_shop.duckdb') }}\"",
        f"path: {json.dumps(hostile + '.duckdb')}\n      schema: {json.dumps(hostile)}",
    )
    prof.write_text(text)
    assert _yaml_load(text)["jaffle_shop"]["outputs"]["dev"]["schema"] == hostile
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    proc = run_cli("convert-seed", "raw_customers", "raw_orders", cwd=dbt)
    assert proc.returncode == 1
    [line] = [x for x in proc.stderr.splitlines() if x.strip()]
    assert "not a plain name" in line and "Traceback" not in proc.stderr
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.rglob("pwned"))
