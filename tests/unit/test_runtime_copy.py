"""The runtime copy every generated project carries (`<package>/_dbtscaffold/`) stays small and
whole: what dagster-dbt, dbt and dagster-duckdb do not already do, and nothing else (issue 22)."""

from __future__ import annotations

import ast

from dbtscaffold.dagster_project.generated import COPIED
from dbtscaffold.resources import runtime_dir

MAX_LINES = 800


def test_the_runtime_copy_stays_under_800_lines():
    lines = {name: len((runtime_dir() / name).read_text("utf-8").splitlines()) for name in COPIED}
    assert sum(lines.values()) <= MAX_LINES, sorted(lines.items())


def test_the_copy_imports_only_itself_among_dbtscaffolds_modules():
    for name in sorted(COPIED):
        tree = ast.parse((runtime_dir() / name).read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert f"{node.module}.py" in COPIED, (name, node.module)
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                modules.append(node.module or "")
            assert not [m for m in modules if m.split(".")[0] == "dbtscaffold"], name
