"""The Rich consoles: stdout carries data, stderr carries progress and errors."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_out: Console | None = None
_err: Console | None = None
VERBOSE = False
NO_COLOR = False
_status_active = False


def _make(stderr: bool) -> Console:
    from rich.console import Console

    # Rich honours NO_COLOR and goes plain when not on a terminal; soft wrap keeps long
    # lines (paths) whole instead of wrapping them at the terminal's width.
    return Console(
        stderr=stderr, highlight=False, emoji=False, soft_wrap=True, no_color=NO_COLOR or None
    )


def set_no_color() -> None:
    """--no-color: no colours from here on (in this process and the ones it starts)."""
    global NO_COLOR
    NO_COLOR = True
    os.environ["NO_COLOR"] = "1"
    reset()


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


def _plain(stderr: bool) -> IO[str] | None:
    """The stream itself when Rich would surely print plain text to it, else None.

    That is: not a terminal, no TTY_COMPATIBLE or FORCE_COLOR asking Rich to treat it as
    one, and no spinner running (anything else goes to Rich, which decides). Written directly,
    piped output costs no Rich import (tens of ms) and no rendering (about 0.1 ms a line).
    Text that is not plainly printable (tabs, control codes, which Rich may expand or strip)
    goes to Rich too: see `_as_is`.
    """
    if _status_active or "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return None  # (a spinner's Live swaps sys.stdout/stderr for proxies: Rich's to route)
    stream = sys.stderr if stderr else sys.stdout
    isatty = getattr(stream, "isatty", None)
    try:
        return None if isatty is None or isatty() else stream
    except ValueError:  # closed
        return None


def is_terminal(stderr: bool = False) -> bool:
    """Whether stdout (or stderr) gets Rich's terminal output: colours, spinners, tables."""
    return _plain(stderr) is None and _console(stderr).is_terminal


def _console(stderr: bool) -> Console:
    return err() if stderr else out()


def _as_is(stream: IO[str] | None, text: str) -> IO[str] | None:
    """STREAM, when TEXT is lines of printable characters; else None (let Rich print it).

    Rich prints such text, escaped and unstyled, as it is; what it does with anything else
    (it expands tabs and strips some control codes) is Rich's business, so Rich prints it.
    """
    if stream is None or not text.replace("\n", "").isprintable():
        return None
    return stream


def _write(stream: IO[str], text: str) -> None:
    stream.write(text)
    stream.flush()  # as Rich does after each print: stdout and stderr stay in order


def _say(message: str, style: str = "", label: str = "", label_style: str = "") -> None:
    """MESSAGE (plain text) as a line on stderr after LABEL (`warning:`); coloured on a terminal."""
    stream = _as_is(_plain(stderr=True), message)
    if stream is not None:
        _write(stream, f"{label} {message}\n" if label else f"{message}\n")
        return
    body = f"[{style}]{_esc(message)}[/{style}]" if style else _esc(message)
    err().print(f"[{label_style}]{label}[/{label_style}] {body}" if label else body)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def info(message: str) -> None:
    _say(message)


def success(message: str) -> None:
    _say(message, "green")


def warn(message: str) -> None:
    _say(message, label="warning:", label_style="yellow")


def error(message: str) -> None:
    _say(message, label="error:", label_style="bold red")


def detail(message: str) -> None:
    """Shown only with --verbose."""
    if VERBOSE:
        _say(message, "dim")


_steps_only = False


def _results() -> Console:
    """Where results go: stdout, or stderr while a spinner shares the terminal with it
    (or while a command's steps run for a result of its own: see `results_as_progress`)."""
    return err() if _results_stderr() else out()


def _results_stderr() -> bool:
    return _steps_only or (_status_active and is_terminal())


@contextlib.contextmanager
def results_as_progress() -> Iterator[None]:
    """Within: the results of the steps of a bigger command (quickstart) are progress."""
    global _steps_only
    before, _steps_only = _steps_only, True
    try:
        yield
    finally:
        _steps_only = before


_ACTION_COLOURS = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "move": "cyan",
    "identical": "dim",
    "restore": "cyan",
    "built": "green",
}


def _action_line(verb: str, path: str) -> str:
    colour = _ACTION_COLOURS.get(verb, "white")
    return f"  [{colour}]{verb:>9}[/{colour}]  {_esc(path)}"


def action(verb: str, path: str) -> None:
    """One result line (`create  path`, `built  key`): on stdout, for scripts."""
    actions([(verb, path)])


def actions(items: list[tuple[str, str]]) -> None:
    """Many result lines as `action` prints them, in one go (Rich costs ~1 ms a call)."""
    if not items:
        return
    lines = "".join(f"  {verb:>9}  {path}\n" for verb, path in items)
    stream = _as_is(_plain(_results_stderr()), lines)
    if stream is not None:
        _write(stream, lines)
        return
    _results().print("\n".join(_action_line(verb, path) for verb, path in items))


def relay(line: str) -> None:
    """One line of a child process's output (e.g. `dagster dev`'s log) on stderr."""
    from rich.text import Text

    err().print(Text.from_ansi(line), markup=False, highlight=False)


def data(text: str) -> None:
    """Write text to stdout as is (diffs, lists)."""
    _write(_plain(False) or out().file, text)


def print_diff(diff: str) -> None:
    if is_terminal() and not os.environ.get("NO_COLOR"):
        from rich.syntax import Syntax

        out().print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
    else:
        data(diff)


def table(title: str, columns: list[str], rows: list[list[Any]], *, to_stdout: bool = True) -> None:
    """A Rich table on a terminal; piped, plain lines aligned with spaces, never wrapped."""
    stderr = _results_stderr() if to_stdout else True
    cells = [[str(c) for c in row] for row in rows]
    if not is_terminal(stderr):
        _write(_plain(stderr) or _console(stderr).file, plain_table(title, columns, cells))
        return
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in cells:
        t.add_row(*row)
    _console(stderr).print(t)


def plain_table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    """TITLE, then COLUMNS and ROWS aligned with two spaces: text for pipes and files."""
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() + "\n"

    return f"{title}\n" + line(columns) + "".join(line(r) for r in rows)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on a terminal; a plain progress line otherwise."""
    global _status_active
    if is_terminal(stderr=True):
        _status_active = True
        try:
            with err().status(_esc(message)):
                yield
        finally:
            _status_active = False
    else:
        info(message)
        yield


_STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def status_table(rows: list[tuple[str, str, str, str]]) -> None:
    """(status, name, finding, fix) rows on stdout: a table on a terminal, else aligned text.

    Piped, each row is `status  name  finding` on one line (never wrapped), and a fix goes
    on the next line, indented under the finding.
    """
    if not is_terminal():
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
