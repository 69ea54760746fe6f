"""console.py writes piped output itself; what it writes must be what Rich would have."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from dbtscaffold import console

MESSAGES = ["plain", "path [bold]x[/bold] a\\b", "Ärger ✓", "", "  lead", "x" * 300]
# Rich expands tabs and strips some control codes; what it keeps it prints as is.
ALTERED = ["tab\there", "bell\x07 cr\r lf", "a\x0cb", "esc\x1b[1m", "nul\x00", "zw\u200bsp"]


def _both(monkeypatch, emit) -> tuple[str, str]:
    """What EMIT writes to a piped stderr/stdout: written directly, and through Rich."""
    outs = []
    for rich in (False, True):
        if rich:
            monkeypatch.setenv("TTY_COMPATIBLE", "0")  # Rich, which still prints plain
        else:
            monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
        monkeypatch.delenv("FORCE_COLOR", raising=False)
        buf = io.StringIO()
        monkeypatch.setattr(sys, "stderr", buf)
        monkeypatch.setattr(sys, "stdout", buf)
        console.reset()
        emit()
        outs.append(buf.getvalue())
    console.reset()
    return outs[0], outs[1]


@pytest.mark.parametrize("message", MESSAGES + ALTERED)
def test_piped_text_is_what_rich_prints(monkeypatch, message):
    def emit():
        console.info(message)
        console.warn(message)
        console.error(message)
        console.success(message)
        console.actions([("update", message), ("create", "a/b")])

    direct, rich = _both(monkeypatch, emit)
    assert direct == rich


def test_results_go_to_piped_stdout_while_a_spinner_runs_on_the_terminal():
    # While Rich's spinner runs, sys.stdout and sys.stderr are its proxies: results must
    # still reach the pipe, as Rich routes them.
    code = (
        "from dbtscaffold import console\n"
        "with console.status('working'):\n"
        "    console.action('built', 'a/b')\n"
        "    console.data('DATA\\n')\n"
        "console.action('built', 'after')\n"
    )
    main, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=env,
            timeout=60,
            check=True,
        )
    finally:
        os.close(secondary)
        os.close(main)
    assert proc.stdout.decode().split() == ["built", "a/b", "DATA", "built", "after"]
