"""The Typer group behind `dbtscaffold`: global flags anywhere, help that reads well.

- `-v/--verbose` and `--no-color` belong to the app, but users type them after the command
  too (`dbtscaffold convert-seed raw_x -v`): they are moved in front of it before parsing
  (never past a `--`, after which arguments belong to `dagster dev`).
- The command list shows each command's whole summary (Click cuts it at the terminal's
  width with `...`), and the help shows metavars a user can read (`SEED...`, `--port PORT`)
  instead of Typer's types (`{seeds}...`, `<list[str]>`, `<int range>`).

Every command gets this, including ones added later, without code of its own.

This is the one module that touches Typer's internals: the readable metavars replace
TyperArgument's `_usage_display_name` and `_rich_display_name` and the parameters'
`display_type_rich` (Typer 0.29). pyproject.toml bounds typer below the next minor release,
and tests/unit/test_typer_private.py fails when one of them moves or changes its signature.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def tidy_command(cmd: Any, *, root: bool = False) -> None:
    """Whole summary, readable metavars and (below the root) the global options' epilog."""
    if cmd.help and not cmd.short_help:
        cmd.short_help = _summary(cmd.help)
    for param in cmd.params:
        _tidy_param(param)
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
