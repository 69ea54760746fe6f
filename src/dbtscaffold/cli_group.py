"""The Typer group behind `dbtscaffold`: global flags anywhere, help that reads well.

- `-v/--verbose` and `--no-color` belong to the app, but users type them after the command
  too (`dbtscaffold convert-seed raw_x -v`): they are moved in front of it before parsing
  (never past a `--`, after which arguments belong to `dagster dev`).
- The command list shows each command's whole summary (Click cuts it at the terminal's
  width with `...`), and the help shows metavars a user can read (`SEED...`, `--port PORT`)
  instead of Typer's types (`{seeds}...`, `<list[str]>`, `<int range>`).
- Text and path values are taken as they are (`_PlainValue`), the way Typer would take
  them, without the Pydantic TypeAdapter Typer 0.29 builds for every value (importing
  Pydantic costs ~0.1 s of every command's start).

Every command gets this, including ones added later, without code of its own.

This is the one module that touches Typer's internals (Typer 0.29): the readable metavars
replace TyperArgument's `_usage_display_name` and `_rich_display_name` and the parameters'
`display_type_rich`; the plain values subclass `typer._coercion.RuntimeParam` and call
`build_runtime_param` and `typer._param_types.coerce_cli_path`, and set a parameter's
`_runtime_param` (0.15 s of a command's start measured on a busy 2-core machine: Pydantic's
import and a TypeAdapter per value). pyproject.toml bounds typer below 0.30, and
tests/unit/test_typer_private.py fails when one of them moves or changes its signature.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

from typer.core import TyperGroup

GLOBAL_FLAGS = ("-v", "--verbose", "--no-color")
GLOBAL_EPILOG = "Global options, before or after the command: -v/--verbose, --no-color."


def hoist_global_flags(args: list[str]) -> list[str]:
    """ARGS with the global flags that follow a command moved to the front."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    if not flags:
        return args
    return flags + [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:]


def _commands(group: Any) -> Iterator[Any]:
    for cmd in getattr(group, "commands", {}).values():
        yield cmd
        yield from _commands(cmd)


def _summary(help_text: str) -> str:
    """The first paragraph of HELP_TEXT on one line."""
    return " ".join(help_text.strip().split("\n\n")[0].split())


def _tidy_param(param: Any) -> None:
    if param.param_type_name == "argument":
        meta = param.metavar or param.name.upper()
        param.metavar = meta
        dots = "..." if param.nargs != 1 else ""
        usage = f"{meta}{dots}" if param.required else f"[{meta}]{dots}"
        # Instance attributes win over Typer's methods of the same name.
        param._usage_display_name = lambda: usage
        param._rich_display_name = lambda: f"{meta}{dots}"
        param.display_type_rich = lambda ctx: ""
    elif param.param_type_name == "option" and not (param.is_flag or param.count):
        meta = param.metavar or param.name.upper()
        param.display_type_rich = lambda ctx: meta


@functools.cache
def _plain_value_class() -> Any:
    """`_PlainValue`, made once from Typer's own RuntimeParam (None: a Typer without it)."""
    try:
        from dataclasses import dataclass

        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:  # another Typer: it coerces values its own way
        return None

    @dataclass(frozen=True)
    class _PlainValue(RuntimeParam):
        """A str, list[str], Path or bool value as Typer's adapters give it; else Typer's way.

        Typer 0.29 gives `str(value)` for text (typer/_adapters.py: _parse_cli_str), a
        list of those for list[str], and `coerce_cli_path` (its checks: exists, dir_okay,
        resolve_path...) for a Path, which needs no Pydantic when handed a Path already.
        No value (None) never gets here (RuntimeParam.coerce), whatever the type.
        """

        kind: str = "other"

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.kind == "bool" and isinstance(value, bool):
                return value
            if self.kind == "str" and isinstance(value, str):
                return value
            is_seq = isinstance(value, list | tuple)
            if self.kind == "list" and is_seq and all(isinstance(v, str) for v in value):
                return list(value)
            if self.kind == "path" and isinstance(value, str) and value:
                return coerce_cli_path(
                    Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx
                )
            # Anything else (bytes, an empty path...): exactly as Typer would.
            typer_way = build_runtime_param(param.type_descriptor)
            return typer_way._coerce_value(value, param=param, ctx=ctx)

    return _PlainValue


def _plain_coercion(param: Any) -> None:
    """Give PARAM `_PlainValue` (Typer 0.29: Typer's own coercion is built when needed)."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None or getattr(param, "_runtime_param", False) is not None:
        return
    info, ann = desc.parameter_info, desc.annotation
    if info.parser is not None or desc.file_annotation is not None:
        return
    if ann is str:
        kind = "str"
    elif get_origin(ann) is list and get_args(ann) == (str,):
        kind = "list"
    elif ann is Path and getattr(info, "path_type", None) in (None, Path):
        kind = "path"
    else:
        kind = "bool" if ann is bool else "other"
    plain = _plain_value_class()
    if plain is not None:
        param._runtime_param = plain(parameter_info=info, annotation=ann, kind=kind)


def tidy_command(cmd: Any, *, root: bool = False) -> None:
    """Whole summary, readable metavars and (below the root) the global options' epilog."""
    if cmd.help and not cmd.short_help:
        cmd.short_help = _summary(cmd.help)
    for param in cmd.params:
        _tidy_param(param)
    # Parameters Click and Typer add as the command runs (--help, --install-completion) too.
    get_params = cmd.get_params

    def params_plainly(ctx: Any) -> list[Any]:
        params: list[Any] = get_params(ctx)
        for param in params:
            _plain_coercion(param)
        return params

    cmd.get_params = params_plainly
    if not root and not getattr(cmd, "commands", None) and not cmd.epilog:
        cmd.epilog = GLOBAL_EPILOG


class Group(TyperGroup):
    """The root group: see the module docstring."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        tidy_command(self, root=True)
        for cmd in _commands(self):
            tidy_command(cmd)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_flags(list(args)))
