"""Dagster's private API is used in dagster_private.py only, within a version bound that holds.

When a Dagster release moves or changes one of the internals it uses, the signature tests
here fail before `dbtscaffold materialize` does.
"""

from __future__ import annotations

import ast
import inspect
from importlib import metadata
from pathlib import Path

import tomllib

from dbtscaffold import dagster_private

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dbtscaffold"


def _private_dagster_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [n for n in names if n.split(".")[0] == "dagster" and "._" in f".{n}"[1:]]
    return found


def test_no_private_dagster_import_outside_dagster_private():
    offenders = {
        str(p.relative_to(SRC)): imports
        for p in SRC.rglob("*.py")
        if p.name != "dagster_private.py" and (imports := _private_dagster_imports(p))
    }
    assert offenders == {}


def test_installed_dagster_is_within_the_bound():
    version = tuple(int(x) for x in metadata.version("dagster").split(".")[:2])
    assert version < dagster_private.SUPPORTED_BELOW


def test_pyproject_bounds_dagster_where_dagster_private_says():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    major, minor = dagster_private.SUPPORTED_BELOW
    assert f"dagster>=1.8,<{major}.{minor}" in deps
    assert f"dagster-webserver>=1.8,<{major}.{minor}" in deps


def test_the_internals_it_uses_are_there_with_the_same_signatures():
    from dagster._cli.workspace.cli_target import get_repository_python_origin_from_cli_opts
    from dagster._core.execution.api import execute_run_iterator
    from dagster._core.origin import JobPythonOrigin
    from dagster._utils.hosted_user_process import (
        recon_job_from_origin,
        recon_repository_from_origin,
    )

    def params(f):
        return list(inspect.signature(f).parameters)[: len(expected[f])]

    expected = {
        get_repository_python_origin_from_cli_opts: ["params"],
        recon_repository_from_origin: ["origin"],
        recon_job_from_origin: ["origin"],
        execute_run_iterator: ["job", "dagster_run", "instance"],
    }
    assert {f.__name__: params(f) for f in expected} == {f.__name__: v for f, v in expected.items()}
    assert {"job_name", "repository_origin"} <= set(inspect.signature(JobPythonOrigin).parameters)
