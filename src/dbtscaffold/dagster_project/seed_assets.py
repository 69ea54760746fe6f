"""The loader assets `convert-seed` adds to `<package>/seed_assets.py`.

The Python comes from the templates in templates/seed_assets/ (the module's head, and one
asset per seed); this module fills them with escaped literals and finds out what a
module already defines, by parsing it (`find_asset`).
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dbtscaffold.dagster_project.names import py_literal
from dbtscaffold.errors import UserError
from dbtscaffold.resources import templates_dir

_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
LOADER_CALL = "load_csv"
# What the asset template uses, defined by the head template.
HEAD_NAMES: tuple[str, ...] = (
    "AssetExecutionContext",
    "MaterializeResult",
    "asset",
    "load_csv",
    "dbt_project",
)
HEAD_NAMES += ("DATA_DIR",)


class AssetCodeError(ValueError):
    """A Python module cannot be parsed; `line` is 1-based."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class LoaderSpec:
    """What the generated asset loads, and where to."""

    seed: str
    schema: str
    table: str
    adapter: str
    column_types: dict[str, str] = field(default_factory=dict)
    delimiter: str = ","
    quote_columns: bool | None = None
    description: str = ""
    group: str | None = None  # the seed's Dagster group (dagster-dbt's translator)
    key: tuple[str, ...] = ()  # the asset key, when not [seed] (a source table's own)
    owners: tuple[str, ...] = ()


def _parse(text: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as e:
        raise AssetCodeError(e.msg, e.lineno) from None


def _decorator_key(dec: ast.expr, func_name: str) -> list[str] | None:
    """The asset key an `@asset` / `@asset(...)` decorator gives, else None."""
    call = dec if isinstance(dec, ast.Call) else None
    target = call.func if call else dec
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    if name != "asset":
        return None
    kwargs = {k.arg: k.value for k in call.keywords if k.arg} if call else {}
    key = kwargs.get("key")
    if isinstance(key, ast.Call) and key.args:  # AssetKey([...])
        key = key.args[0]
    if isinstance(key, (ast.List, ast.Tuple)):
        return [str(e.value) for e in key.elts if isinstance(e, ast.Constant)]
    if isinstance(key, ast.Constant):
        return str(key.value).split("/")
    base = kwargs.get("name")
    base_name = base.value if isinstance(base, ast.Constant) else func_name
    prefix = kwargs.get("key_prefix")
    parts: list[str] = []
    if isinstance(prefix, ast.Constant):
        parts = [str(prefix.value)]
    elif isinstance(prefix, (ast.List, ast.Tuple)):
        parts = [str(e.value) for e in prefix.elts if isinstance(e, ast.Constant)]
    return [*parts, str(base_name)]


def find_asset(text: str, key: list[str]) -> Literal["ours", "other"] | None:
    """Whether module TEXT defines an asset with KEY: a loader we generated, another, or none."""
    tree = _parse(text)
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            if _decorator_key(dec, node.name) == key:
                ours = f"{LOADER_CALL}(" in (ast.get_source_segment(text, node) or "")
                return "ours" if ours else "other"
    return None


def loader_key(text: str, seed: str) -> list[str] | None:
    """The key of the loader asset in module TEXT that loads SEED's CSV (data/SEED.csv)."""
    for node in _parse(text).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        csv = any(isinstance(n, ast.Constant) and n.value == f"{seed}.csv" for n in ast.walk(node))
        if not csv or f"{LOADER_CALL}(" not in (ast.get_source_segment(text, node) or ""):
            continue
        for dec in node.decorator_list:
            if (key := _decorator_key(dec, node.name)) is not None:
                return key
    return None


def bound_names(text: str) -> set[str]:
    """The names module TEXT binds at its top level."""
    names: set[str] = set()
    for node in _parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def function_name(seed: str, taken: set[str]) -> str:
    """A function name for the asset: the seed's name unless the module already uses it."""
    name = seed if not keyword.iskeyword(seed) else f"{seed}_"
    while name in taken:
        name = f"load_{name}"
    return name


def _render(name: str, context: dict[str, object]) -> str:
    import jinja2

    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    source = (templates_dir() / "seed_assets" / name).read_text(encoding="utf-8")
    return env.from_string(source).render(**context)


def _is_placeholder(text: str) -> bool:
    """True for the module init writes (a docstring, nothing else), or an empty one."""
    tree = _parse(text)
    body = tree.body
    return not body or (
        len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    )


def missing_names(text: str) -> list[str]:
    """What the asset template needs that module TEXT does not define (none if it is new)."""
    if _is_placeholder(text):
        return []
    bound = bound_names(text)
    return [n for n in HEAD_NAMES if n not in bound]


def _py_list(items: tuple[str, ...]) -> str:
    """`["a", "b"]`: strings as py_literal writes them (double quotes, as ruff formats)."""
    return "[" + ", ".join(py_literal(i) for i in items) + "]"


def add_loader_asset(
    text: str, spec: LoaderSpec, package: str, dbt_project_dir_py: str | None = None
) -> str:
    """seed_assets.py TEXT with SPEC's loader asset appended (its head written if needed).

    DBT_PROJECT_DIR_PY (the components layout's defs/seed_assets.py): the dbt project's
    folder relative to that module, as `joinpath()` arguments.
    """
    m = _NEWLINE_RE.search(text)
    nl = m.group() if m else "\n"
    if _is_placeholder(text) and dbt_project_dir_py is not None:
        head: dict[str, object] = {"dbt_project_dir_parts_py": dbt_project_dir_py}
        text = _render("head_components.py.jinja", head).replace("\n", nl)
    elif _is_placeholder(text):
        text = _render("head.py.jinja", {"package": package}).replace("\n", nl)
    func = function_name(spec.seed, bound_names(text))
    desc = spec.description or f"The former dbt seed {spec.seed}, loaded from data/{spec.seed}.csv."
    block = _render(
        "asset.py.jinja",
        {
            "key_py": _py_list(spec.key or (spec.seed,)),
            "adapter_py": py_literal(spec.adapter),
            "description_py": py_literal(desc),
            "group_py": py_literal(spec.group) if spec.group else "",
            "owners_py": _py_list(spec.owners) if spec.owners else "",
            "function": func,
            "csv_name_py": py_literal(f"{spec.seed}.csv"),
            "schema_py": py_literal(spec.schema),
            "table_py": py_literal(spec.table),
            "column_types_py": py_literal(spec.column_types) if spec.column_types else "",
            "delimiter_py": py_literal(spec.delimiter) if spec.delimiter != "," else "",
            "quote_columns_py": py_literal(spec.quote_columns)
            if spec.quote_columns is not None
            else "",
            "relation_py": py_literal(f"{spec.schema}.{spec.table}"),
        },
    )
    return text.rstrip("\r\n") + nl + block.replace("\n", nl)


def defined_assets(text: str) -> list[tuple[str, list[str]]]:
    """(function name, asset key) of every `@asset` function at the top level of module TEXT."""
    found = []
    for node in _parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                key = _decorator_key(dec, node.name)
                if key is not None:
                    found.append((node.name, key))
    return found


def asset_state(
    modules: list[tuple[Path, str]], key: list[str], shown: Callable[[Path], str]
) -> Literal["ours", "other"] | None:
    """Whether one of MODULES ((path, text), seed_assets.py first) defines the asset KEY.

    "ours": a loader we generated (in seed_assets.py, or in assets.py by an older
    dbtscaffold); "other": an asset of the user's has that key; None: no asset has it.
    """
    for path, text in modules:
        try:
            state = find_asset(text, key)
        except AssetCodeError as e:
            raise UserError(
                f"`{shown(path)}` is not valid Python (line {e.line}: {e}); fix it and retry."
            ) from None
        if state is not None:
            return state
    return None


def seed_dagster_props(
    inherited: dict[str, Any], own: dict[str, Any], entry: Any
) -> tuple[str | None, list[str]]:
    """(group, owners) Dagster gave the seed's asset, as dagster-dbt's translator reads them.

    meta.dagster.group, else dbt's `group` config; meta.dagster.owners. Meta merges as dbt
    merges it: dbt_project.yml's inherited config, the seed's own block, then its YAML entry.
    """
    from dbtscaffold.dbt.yaml_values import as_dbt_reads

    def mapping(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    plain = mapping(as_dbt_reads(entry) if isinstance(entry, dict) else None)
    meta: dict[str, Any] = {}
    group = None
    for cfg in (inherited, own, plain, mapping(plain.get("config"))):
        meta.update(mapping(cfg.get("meta")))
        if isinstance(cfg.get("group"), str) and cfg is not plain:
            group = cfg["group"]
    dagster = mapping(meta.get("dagster"))
    if isinstance(dagster.get("group"), str):
        group = dagster["group"]
    owners = dagster.get("owners")
    return group, [str(o) for o in owners] if isinstance(owners, list) else []


def components_dbt_dir(dagster: Any, dbt_dir: Path, module: Path) -> str | None:
    """The dbt project from MODULE (defs/seed_assets.py) as joinpath() arguments; None when
    DAGSTER is not a components-layout project."""
    if dagster.layout != "components":
        return None
    from dbtscaffold.dagster_project.locate import relpath

    rel = relpath(dbt_dir, module.parent)
    return ", ".join(py_literal(p) for p in rel.split("/") if p != ".") or '"."'
