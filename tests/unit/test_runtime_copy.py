"""The runtime copy every generated project carries (`<package>/_dbtscaffold/`) stays small and
whole: what dagster-dbt, dbt and dagster-duckdb do not already do, and nothing else (issue 22).
Its size depends on the project: the components layout adds component.py, and each fast loader
(load_<type>.py) is copied only where the dbt profile names its adapter type."""

from __future__ import annotations

import ast

import pytest

from dbtscaffold.dagster_project.generated import FAST_LOADERS, copied_modules
from dbtscaffold.resources import runtime_dir

# The largest copy: the components layout, a profile naming every type with a fast loader.
LARGEST = copied_modules("components", FAST_LOADERS)
MAX_LINES = 870
# A project whose profile names DuckDB only, in the tutorial's layout.
DUCKDB_ONLY = copied_modules("python", ["duckdb"])
MAX_LINES_DUCKDB_ONLY = 703


def _lines(modules: frozenset[str]) -> dict[str, int]:
    return {name: len((runtime_dir() / name).read_text("utf-8").splitlines()) for name in modules}


@pytest.mark.parametrize(
    ("modules", "bar"), [(LARGEST, MAX_LINES), (DUCKDB_ONLY, MAX_LINES_DUCKDB_ONLY)]
)
def test_the_runtime_copy_stays_small(modules, bar):
    lines = _lines(modules)
    assert sum(lines.values()) <= bar, sorted(lines.items())


def test_a_fast_loader_is_copied_only_where_the_profile_names_its_type():
    assert "load_postgres.py" not in DUCKDB_ONLY and "load_duckdb.py" in DUCKDB_ONLY
    assert not set(FAST_LOADERS.values()) & copied_modules("python", ["snowflake"])
    assert copied_modules("python", [" PostGres "]) == copied_modules("python", ["postgres"])
    assert all((runtime_dir() / name).is_file() for name in LARGEST)


def _relative_imports(name: str) -> tuple[set[str], set[str]]:
    """(modules of the copy NAME imports relatively, dbtscaffold modules it imports)."""
    own: set[str] = set()
    ours: set[str] = set()
    for node in ast.walk(ast.parse((runtime_dir() / name).read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            own.add(f"{node.module}.py")
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and not node.level:
            modules.append(node.module or "")
        ours.update(m for m in modules if m.split(".")[0] == "dbtscaffold")
    return own, ours


@pytest.mark.parametrize("name", sorted(LARGEST))
def test_the_copy_imports_only_itself_among_dbtscaffolds_modules(name):
    own, ours = _relative_imports(name)
    assert not ours, (name, ours)
    # Every copy has what each module imports: a fast loader needs no other fast loader, and
    # only component.py (the components layout's) needs component.py.
    base = copied_modules("python") | {name}
    assert own <= base, (name, own - base)
