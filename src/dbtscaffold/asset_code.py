"""Source text of the upstream Python asset that `convert-seed` adds to assets.py.

`add_loader_asset(text, spec)` returns assets.py with the imports the asset needs and the
asset itself appended; `find_asset(text, key)` says whether assets.py already defines an
asset with that key (ours, or someone else's).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Literal

_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
LOADER_CALL = "warehouse.load_csv"


class AssetCodeError(ValueError):
    """assets.py cannot be parsed; `line` is 1-based."""

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
    description: str = ""


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
    """Whether assets.py defines an asset with KEY: one we generated, another, or none."""
    tree = _parse(text)
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            if _decorator_key(dec, node.name) == key:
                ours = LOADER_CALL in (ast.get_source_segment(text, node) or "")
                return "ours" if ours else "other"
    return None


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def function_name(seed: str, taken: set[str]) -> str:
    """A function name for the asset: the seed's name unless assets.py already uses it."""
    import keyword

    name = seed if not keyword.iskeyword(seed) else f"{seed}_"
    while name in taken:
        name = f"load_{name}"
    return name


def _insert_imports(text: str, tree: ast.Module, nl: str) -> str:
    """TEXT with `Path`, `MaterializeResult`, `asset` and `warehouse` imported."""
    lines = _NEWLINE_RE.split(text)
    ends = [m.group() for m in _NEWLINE_RE.finditer(text)]
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    bound = _bound_names(tree)
    need_dagster = [
        n for n in ("AssetExecutionContext", "MaterializeResult", "asset") if n not in bound
    ]
    edits: list[tuple[int, str]] = []  # (insert before 0-based line, text)
    replaced: dict[int, str] = {}
    if need_dagster:
        plain = [
            n
            for n in imports
            if isinstance(n, ast.ImportFrom)
            and n.module == "dagster"
            and n.level == 0
            and n.lineno == n.end_lineno
            and all(a.asname is None for a in n.names)
            and "(" not in lines[n.lineno - 1]
            and "#" not in lines[n.lineno - 1]
        ]
        if plain:
            node = plain[0]
            names = sorted({a.name for a in node.names} | set(need_dagster))
            indent = lines[node.lineno - 1][: node.col_offset]
            replaced[node.lineno - 1] = f"{indent}from dagster import {', '.join(names)}"
        else:
            after = max((n.end_lineno or n.lineno for n in imports), default=0)
            edits.append((after, f"from dagster import {', '.join(sorted(need_dagster))}"))
    if "Path" not in bound:
        first = min((n.lineno for n in imports), default=None)
        if first is None:
            edits.append((_after_docstring(tree), "from pathlib import Path"))
        else:
            edits.append((first - 1, "from pathlib import Path" + nl))
    if "warehouse" not in bound:
        relative = [n for n in imports if isinstance(n, ast.ImportFrom) and n.level >= 1]
        if relative:
            edits.append((min(n.lineno for n in relative) - 1, "from . import warehouse"))
        else:
            after = max((n.end_lineno or n.lineno for n in imports), default=_after_docstring(tree))
            edits.append(
                (after, nl + "from . import warehouse" if imports else "from . import warehouse")
            )
    for i, new in replaced.items():
        lines[i] = new
    # Back to front; edits at one line go in the order they were made.
    order = sorted(range(len(edits)), key=lambda i: (edits[i][0], i), reverse=True)
    for before, new in (edits[i] for i in order):
        lines.insert(before, new)
        ends.insert(before, nl)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i < len(ends):
            out.append(ends[i])
    return "".join(out)


def _after_docstring(tree: ast.Module) -> int:
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return body[0].end_lineno or 0
    return 0


def _py(value: object) -> str:
    """A Python literal, double-quoted like the rest of the generated code."""
    if isinstance(value, str):
        r = repr(value)
        if r.startswith("'") and '"' not in value:
            r = '"' + r[1:-1].replace("\\'", "'") + '"'
        return r
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def asset_block(spec: LoaderSpec, func: str, nl: str = "\n") -> str:
    """The decorated asset function, preceded by two blank lines."""
    desc = spec.description or f"The former dbt seed {spec.seed}, loaded from data/{spec.seed}.csv."
    lines = [
        "",
        "",
        f"# Added by `dbtscaffold convert-seed {spec.seed}`: the dbt seed became the source table",
        f"# {spec.schema}.{spec.table}, loaded from data/{spec.seed}.csv in this project.",
        "@asset(",
        f"    key=[{_py(spec.seed)}],",
        f"    kinds={{{_py(spec.adapter)}}},",
        f"    description={_py(desc)},",
        ")",
        f"def {func}(context: AssetExecutionContext) -> MaterializeResult:",
        f"    rows = {LOADER_CALL}(",
        f'        Path(__file__).resolve().parent.parent / "data" / {_py(spec.seed + ".csv")},',
        f"        schema={_py(spec.schema)},",
        f"        table={_py(spec.table)},",
        f"        column_types={_py(spec.column_types)},",
        f"        delimiter={_py(spec.delimiter)},",
        "    )",
        f'    context.log.info(f"Loaded {{rows}} rows into {spec.schema}.{spec.table}")',
        '    return MaterializeResult(metadata={"dagster/row_count": rows})',
    ]
    return nl.join(lines) + nl


def add_loader_asset(text: str, spec: LoaderSpec) -> str:
    """assets.py with SPEC's loader asset appended (and the imports it needs)."""
    m = _NEWLINE_RE.search(text)
    nl = m.group() if m else "\n"
    tree = _parse(text)
    func = function_name(spec.seed, _bound_names(tree) | {"warehouse", "Path"})
    out = _insert_imports(text, tree, nl)
    if out and not out.endswith(("\n", "\r")):
        out += nl
    return out.rstrip("\r\n") + nl + asset_block(spec, func, nl)
