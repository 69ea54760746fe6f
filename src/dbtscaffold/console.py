"""The Rich consoles: stdout carries data, stderr carries progress and errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_out: Console | None = None
_err: Console | None = None
VERBOSE = False


def _make(stderr: bool) -> Console:
    from rich.console import Console

    # Rich honours NO_COLOR and goes plain when not on a terminal; we only widen
    # the piped width so that paths are not wrapped mid-line.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def out() -> Console:
    global _out
    if _out is None:
        _out = _make(stderr=False)
    return _out


def err() -> Console:
    global _err
    if _err is None:
        _err = _make(stderr=True)
    return _err


def reset() -> None:
    """Forget the consoles (tests that swap stdout/stderr call this)."""
    global _out, _err
    _out = _err = None


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def info(message: str) -> None:
    err().print(_esc(message))


def success(message: str) -> None:
    err().print(f"[green]{_esc(message)}[/green]")


def warn(message: str) -> None:
    err().print(f"[yellow]warning:[/yellow] {_esc(message)}")


def error(message: str) -> None:
    err().print(f"[bold red]error:[/bold red] {_esc(message)}")


def detail(message: str) -> None:
    """Shown only with --verbose."""
    if VERBOSE:
        err().print(_esc(message), style="dim")


def action(verb: str, path: str) -> None:
    colour = {
        "create": "green",
        "update": "yellow",
        "delete": "red",
        "move": "cyan",
        "identical": "dim",
        "restore": "cyan",
    }.get(verb, "white")
    err().print(f"  [{colour}]{verb:>9}[/{colour}]  {_esc(path)}")


def relay(line: str) -> None:
    """One line of a child process's output (e.g. `dagster dev`'s log) on stderr."""
    from rich.text import Text

    err().print(Text.from_ansi(line), markup=False, highlight=False)


def data(text: str) -> None:
    """Write text to stdout as is (diffs, lists)."""
    out().file.write(text)
    out().file.flush()


def print_diff(diff: str) -> None:
    if out().is_terminal and not os.environ.get("NO_COLOR"):
        from rich.syntax import Syntax

        out().print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
    else:
        data(diff)


def table(title: str, columns: list[str], rows: list[list[Any]], *, to_stdout: bool = True) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*(str(c) for c in row))
    (out() if to_stdout else err()).print(t)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on a terminal; a plain progress line otherwise."""
    if err().is_terminal:
        with err().status(_esc(message)):
            yield
    else:
        err().print(_esc(message))
        yield


_STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def status_table(rows: list[tuple[str, str, str, str]]) -> None:
    """(status, name, finding, fix) rows on stdout: a table on a terminal, else aligned text.

    Piped, each row is `status  name  finding` on one line (never wrapped), and a fix goes
    on the next line, indented under the finding.
    """
    if not out().is_terminal:
        width = max((len(name) for _, name, _, _ in rows), default=0)
        lines = []
        for status, name, finding, fix in rows:
            lines.append(f"{status:<5} {name:<{width}}  {finding}")
            if fix:
                lines.append(f"{'':<5} {'':<{width}}  fix: {fix}")
        data("".join(line + "\n" for line in lines))
        return
    from rich.table import Table
    from rich.text import Text

    t = Table(show_lines=False, header_style="bold", expand=False)
    for col in ("", "check", "finding", "fix"):
        t.add_column(col, overflow="fold")
    for status, name, finding, fix in rows:
        t.add_row(Text(status, style=_STATUS_STYLE.get(status, "")), name, Text(finding), Text(fix))
    out().print(t)
