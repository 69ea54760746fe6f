"""Typer's internals are touched in cli_group.py only, within a version bound that holds.

When a Typer release moves or changes one of them, these tests fail before `--help` reads
`{seeds}...` again.
"""

from __future__ import annotations

import ast
import inspect
from importlib import metadata
from pathlib import Path

import tomllib
from typer.core import TyperArgument, TyperOption

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dbtscaffold"
INTERNALS = {
    "_usage_display_name",
    "_rich_display_name",
    "display_type_rich",
    "_runtime_param",
    "_coerce_value",
}
BOUND = (0, 30)


def _touches(path: Path) -> list[str]:
    """Private typer modules PATH imports, and the internals it names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("typer._"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("typer._")]
        elif isinstance(node, ast.Attribute) and node.attr in INTERNALS:
            found.append(node.attr)
    return found


def test_no_typer_internals_outside_cli_group():
    offenders = {
        str(p.relative_to(SRC)): names
        for p in SRC.rglob("*.py")
        if p.name != "cli_group.py" and (names := _touches(p))
    }
    assert offenders == {}
    # cli_group.py imports these private modules, and no other.
    modules = {n for n in _touches(SRC / "cli_group.py") if n.startswith("typer.")}
    assert modules == {"typer._coercion", "typer._param_types"}


def test_installed_typer_is_within_the_bound():
    version = tuple(int(x) for x in metadata.version("typer").split(".")[:2])
    assert version < BOUND


def test_pyproject_bounds_typer():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"typer>=0.12,<{BOUND[0]}.{BOUND[1]}" in deps


def test_the_internals_it_replaces_are_there_with_the_same_signatures():
    def params(f):
        return list(inspect.signature(f).parameters)

    assert params(TyperArgument._usage_display_name) == ["self"]
    assert params(TyperArgument._rich_display_name) == ["self"]
    assert params(TyperArgument.display_type_rich) == ["self", "ctx"]
    assert params(TyperOption.display_type_rich) == ["self", "ctx"]
    # ...and Typer still calls them where the help and the usage line are made.
    source = inspect.getsource(TyperArgument)
    assert "self._rich_display_name()" in source
    assert "self._usage_display_name()" in source
    assert "display_type_rich(ctx=ctx)" in inspect.getsource(TyperOption)


def test_help_shows_the_readable_metavars():
    from typer.testing import CliRunner

    from dbtscaffold.cli import app

    done = CliRunner().invoke(app, ["convert-seed", "--help"], prog_name="dbtscaffold")
    assert done.exit_code == 0, done.output
    usage = done.output.splitlines()[0]
    assert "SEED..." in usage and "{" not in usage, usage


def test_the_coercion_internals_are_there_with_the_same_signatures():
    import dataclasses

    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
    from typer.core import TyperArgument

    def params(f):
        return list(inspect.signature(f).parameters)

    assert dataclasses.is_dataclass(RuntimeParam)
    fields = [f.name for f in dataclasses.fields(RuntimeParam)]
    assert {"parameter_info", "annotation"} <= set(fields), fields
    assert params(RuntimeParam._coerce_value) == ["self", "value", "param", "ctx"]
    assert params(build_runtime_param) == ["descriptor"]
    assert params(coerce_cli_path)[:2] == ["value", "parameter_info"]
    assert {"path_type", "param", "ctx"} <= set(params(coerce_cli_path))
    # Typer reads a parameter's `_runtime_param` before building one of its own.
    assert "self._runtime_param" in inspect.getsource(TyperArgument.__mro__[1])
