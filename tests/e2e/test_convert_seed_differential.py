"""Differential test of convert-seed over generated dbt-duckdb projects (hypothesis).

Each example is a small dbt project: random seeds (names, columns, rows, in the seeds folder
or a subfolder), seed configs (`+schema`, `+alias`, `column_types`, `quote_columns`,
`delimiter`, in dbt_project.yml per seed or per folder, or in the seed's YAML `config:`),
seed data tests, and models, a singular test and model YAML tests that ref the seeds in every
form (see REF_FORMS). `convert-seed` (the CLI, in a subprocess) converts every seed (one run
per schema the seeds are built in, as one source reads one schema); then
`dbt parse` (dbt's Python API, in this process) must succeed, and the manifest's graph must
equal the old one with each seed node replaced by its source: the same nodes, each depending
on the same things, the same tests on the same columns, and each source on the relation the
seed was built in. `undo` must then restore every byte.

CI runs DBTSCAFFOLD_DIFF_EXAMPLES (default 5) derandomized examples; for more, e.g.
    DBTSCAFFOLD_DIFF_EXAMPLES=100 DBTSCAFFOLD_DIFF_RANDOM=1 python -m pytest -p no:cacheprovider \\
        tests/e2e/test_convert_seed_differential.py
(DBTSCAFFOLD_DIFF_RANDOM=1 draws new examples each run instead of the fixed ones.)
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.cli import run_cli
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = "proj"
PACKAGE = "proj_dagster"
EXAMPLES = int(os.environ.get("DBTSCAFFOLD_DIFF_EXAMPLES", "5"))
IGNORE = (".dbtscaffold", "target", "logs", "__pycache__")

# How a model (or test) can name seed S; every one must become source('proj', 'S').
REF_FORMS = (
    "{{ ref('S') }}",
    '{{ ref("S") }}',
    "{{ref('S')}}",
    "{{- ref('S') -}}",
    "{{ ref( 'S' ) }}",
    "{{ ref('proj', 'S') }}",
    '{{ ref("proj", "S") }}',
)
# Where in a model the ref sits (dbt evaluates SQL comments; a Jinja comment is no ref).
PLACES = ("from", "depends_on", "set", "jinja_comment")


@dataclass
class Seed:
    name: str
    columns: list[str]
    rows: list[list[str]]
    sub: bool  # in seeds/sub/ (gets the folder's config)
    config: dict[str, object] = field(default_factory=dict)  # key -> value
    where: dict[str, str] = field(default_factory=dict)  # key -> "project" | "yaml"
    tests: list[str] = field(default_factory=list)  # data tests on the first column


@dataclass
class Model:
    name: str
    refs: list[tuple[str, str, str]]  # (seed, form, place)
    python: bool = False


@dataclass
class Case:
    seeds: list[Seed]
    folder: dict[str, object]
    models: list[Model]
    relationship: tuple[str, str] | None  # (model, seed): a relationships test
    singular: tuple[str, str] | None  # (seed, form): a singular test


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
VALUES = st.sampled_from(["1", "2", "42", "x", "Y z", "", "2024-01-02", "1.5", "true"])


@st.composite
def seeds(draw) -> list[Seed]:
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    out = []
    for name in names:
        cols = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
        rows = draw(st.lists(st.lists(VALUES, min_size=len(cols), max_size=len(cols)), max_size=3))
        seed = Seed(f"s_{name}", cols, rows, draw(st.booleans()))
        for key, values in (
            ("schema", st.sampled_from(["raw", "landing"])),
            ("alias", st.just(f"t_{name}")),
            ("column_types", st.just({cols[0]: "varchar"})),
            ("quote_columns", st.booleans()),
            ("delimiter", st.sampled_from([";", "|"])),
        ):
            if draw(st.booleans()):
                seed.config[key] = draw(values)
                seed.where[key] = draw(st.sampled_from(["project", "yaml"]))
        seed.tests = draw(st.lists(st.sampled_from(["unique", "not_null"]), unique=True))
        out.append(seed)
    return out


@st.composite
def cases(draw) -> Case:
    seed_list = draw(seeds())
    names = [s.name for s in seed_list]
    folder = {}
    if draw(st.booleans()):
        folder["schema"] = "staged"
    if draw(st.booleans()):
        folder["quote_columns"] = draw(st.booleans())
    models = []
    for i in range(draw(st.integers(1, 3))):
        picked = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names)))
        refs = [
            (s, draw(st.sampled_from(REF_FORMS)), draw(st.sampled_from(PLACES))) for s in picked
        ]
        models.append(Model(f"m{i}", refs, python=draw(st.integers(0, 4)) == 0))
    relationship = None
    if draw(st.booleans()):
        relationship = (
            draw(st.sampled_from([m.name for m in models])),
            draw(st.sampled_from(names)),
        )
    singular = None
    if draw(st.booleans()):
        singular = (draw(st.sampled_from(names)), draw(st.sampled_from(REF_FORMS)))
    return Case(seed_list, folder, models, relationship, singular)


# --- writing a case as a dbt project --------------------------------------------------------


def _j(value: object) -> str:
    return json.dumps(value)  # JSON is YAML


def _model_sql(model: Model) -> str:
    lines = []
    body = "select 1 as id"
    for seed, form, place in model.refs:
        ref = form.replace("S", seed)
        if place == "from":
            body = f"select * from {ref}"
        elif place == "depends_on":
            lines.append(f"-- depends_on: {ref}")
        elif place == "set":
            inner = ref.removeprefix("{{- ").removeprefix("{{ ").removeprefix("{{")
            inner = inner.removesuffix(" -}}").removesuffix(" }}").removesuffix("}}")
            lines.append(f"{{% set rel_{seed} = {inner} %}}-- {{{{ rel_{seed} }}}}")
        else:
            lines.append(f"{{# not a dependency: {ref} #}}")
    return "\n".join([*lines, body, ""])


def _model_py(model: Model) -> str:
    lines = ["def model(dbt, session):"]
    for seed, form, _ in model.refs:
        args = f'"{PROJECT}", "{seed}"' if "proj" in form else f"'{seed}'"
        lines.append(f"    df = dbt.ref({args})")
    return "\n".join([*lines, "    return df", ""])


def _block(tree: dict, indent: int = 0) -> list[str]:
    """TREE as block-style YAML lines (scalars as JSON)."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict) and not key.endswith("column_types"):
            out += [" " * indent + f"{key}:", *_block(value, indent + 2)]
        else:
            out.append(" " * indent + f"{key}: {_j(value)}")
    return out


def write_case(case: Case, dbt_dir: Path) -> None:
    seeds_dir = dbt_dir / "seeds"
    (seeds_dir / "sub").mkdir(parents=True, exist_ok=True)
    (dbt_dir / "models").mkdir(exist_ok=True)
    (dbt_dir / "tests").mkdir(exist_ok=True)
    tree: dict = {f"+{k}": v for k, v in case.folder.items()}
    top: dict = {"sub": tree} if case.folder else {}
    yaml_seeds = []
    for seed in case.seeds:
        delimiter = str(seed.config.get("delimiter", ","))
        buf = io.StringIO()
        rows = [seed.columns, *seed.rows]
        csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
        folder = seeds_dir / "sub" if seed.sub else seeds_dir
        (folder / f"{seed.name}.csv").write_text(buf.getvalue(), encoding="utf-8")
        in_project = {f"+{k}": v for k, v in seed.config.items() if seed.where[k] == "project"}
        in_yaml = {k: v for k, v in seed.config.items() if seed.where[k] == "yaml"}
        if in_project:
            (top.setdefault("sub", tree) if seed.sub else top)[seed.name] = in_project
        entry = [f"  - name: {seed.name}", f"    description: Seed {seed.name}."]
        if in_yaml:
            entry.append(f"    config: {_j(in_yaml)}")
        if seed.tests:
            entry += [
                "    columns:",
                f"      - name: {_j(seed.columns[0])}",
                f"        data_tests: {_j(seed.tests)}",
            ]
        yaml_seeds.append("\n".join(entry))
    head = [f"name: {PROJECT}", f"profile: {PROJECT}", "config-version: 2", ""]
    seeds_block = _block({"seeds": {PROJECT: top}}) if top else []
    (dbt_dir / "dbt_project.yml").write_text("\n".join([*head, *seeds_block, ""]))
    (seeds_dir / "_seeds.yml").write_text(
        "version: 2\n\nseeds:\n" + "\n".join(yaml_seeds) + "\n", encoding="utf-8"
    )
    for model in case.models:
        if model.python:
            (dbt_dir / "models" / f"{model.name}.py").write_text(_model_py(model))
        else:
            (dbt_dir / "models" / f"{model.name}.sql").write_text(_model_sql(model))
    if case.relationship:
        model, seed = case.relationship
        (dbt_dir / "models" / "_models.yml").write_text(
            "version: 2\n\nmodels:\n"
            f"  - name: {model}\n    columns:\n      - name: id\n        data_tests:\n"
            "          - relationships:\n              arguments:\n"
            f"                to: ref('{seed}')\n"
            f"                field: {_j(next(s for s in case.seeds if s.name == seed).columns[0])}\n"
        )
    if case.singular:
        seed, form = case.singular
        ref = form.replace("S", seed)
        (dbt_dir / "tests" / "no_rows.sql").write_text(f"select * from {ref} where 1 = 0\n")


PROFILES = f"{PROJECT}:\n  target: dev\n  outputs:\n    dev: {{type: duckdb, path: proj.duckdb}}\n"


# --- the comparison ---------------------------------------------------------------------------


def parse(dbt_dir: Path):
    """The Manifest of `dbt parse` on DBT_DIR (in this process; nothing written into it)."""
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory(prefix="diff-parse-") as tmp:
        args = ["parse", "--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir),
                "--target-path", tmp, "--log-path", tmp, "--no-partial-parse", "--quiet"]  # fmt: skip
        res = dbtRunner().invoke(args)
    assert res.success, f"dbt parse failed: {res.exception}"
    return res.result


def graph(manifest, mapping: dict[str, str]) -> Counter:
    """Every node but the seeds, as (identity, what it depends on), seeds mapped to MAPPING.

    A generic test is identified by its name, column and what it tests, not by its unique_id
    (a seed's `unique` becomes the source's `source_unique`)."""
    out: Counter = Counter()
    for uid, node in manifest.nodes.items():
        if node.resource_type == "seed":
            continue
        deps = tuple(sorted(mapping.get(d, d) for d in node.depends_on.nodes))
        meta = getattr(node, "test_metadata", None)
        ident = ("test", meta.name, node.column_name) if meta is not None else (uid,)
        out[(ident, deps)] += 1
    return out


def check_case(case: Case, dbt_dir: Path) -> None:
    before = parse(dbt_dir)
    names = [s.name for s in case.seeds]
    seeds_before = {n: before.nodes[f"seed.{PROJECT}.{n}"] for n in names}
    files_before = tree_hash(dbt_dir, ignore=IGNORE)

    # One source reads one schema: the seeds of each schema go into a source of their own
    # (the first into the default, the project's name), one change each.
    groups: dict[str, list[str]] = {}
    for name, seed in seeds_before.items():
        groups.setdefault(seed.schema, []).append(name)
    mapping = {}
    for i, (schema, group) in enumerate(groups.items()):
        source = PROJECT if i == 0 else f"{PROJECT}_{schema}"
        option = ["--source-name", source] if i else []
        run_cli("convert-seed", *group, *option, cwd=dbt_dir, check=0)
        mapping.update({f"seed.{PROJECT}.{n}": f"source.{PROJECT}.{source}.{n}" for n in group})
    after = parse(dbt_dir)
    assert not [u for u in after.nodes if u.startswith("seed.")]
    for name, seed in seeds_before.items():
        source = after.sources[mapping[f"seed.{PROJECT}.{name}"]]
        # The source reads the relation the seed was built in.
        assert (source.database, source.schema, source.identifier) == (
            seed.database, seed.schema, seed.alias,
        ), name  # fmt: skip
        assert source.meta.get("dagster", source.config.meta.get("dagster")) == {
            "asset_key": [name]
        }
    assert graph(after, {}) == graph(before, mapping)

    for _ in groups:
        run_cli("undo", cwd=dbt_dir, check=0)
    assert tree_hash(dbt_dir, ignore=IGNORE) == files_before


@pytest.fixture
def template(tmp_path) -> Path:
    """A dbt project holding only dbt_project.yml and profiles.yml, and its Dagster project
    (made once for all the examples: hypothesis runs them inside one call of the test)."""
    root = tmp_path / "template" / PROJECT
    root.parent.mkdir()
    root.mkdir()
    (root / "dbt_project.yml").write_text(
        f"name: {PROJECT}\nprofile: {PROJECT}\nconfig-version: 2\n"
    )
    (root / "profiles.yml").write_text(PROFILES)
    run_cli("init", "--project-name", PACKAGE, cwd=root, check=0)
    return root


_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("DBTSCAFFOLD_DIFF_RANDOM"),
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # `template` is meant to be shared by all examples
    ],
)


@_settings
@given(case=cases())
def test_convert_seed_keeps_the_graph_and_undo_restores_every_byte(template, case):
    with tempfile.TemporaryDirectory(prefix="diff-case-") as tmp:
        dbt_dir = Path(tmp) / PROJECT
        shutil.copytree(template, dbt_dir)
        write_case(case, dbt_dir)
        check_case(case, dbt_dir)
