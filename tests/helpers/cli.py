"""The CLI under test and the tools beside it: one subprocess runner, and an in-process one.

`run` is the one way the tests start a program and wait for it; `run_cli` and `run_tool`
are `run` of this venv's `dbtscaffold`, `dbt` and `dagster`. `invoke` runs the CLI in this
process through Typer's CliRunner, for the fast cases (errors, dry runs) that need no
child process; the subprocess tests stay the real thing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
CLI = BIN / "dbtscaffold"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "src" / "dbtscaffold" / "example"
PACKAGE = "jaffle_shop_dagster"  # the Dagster project `init` makes of the example by default
# uv's cache of this machine, read when the tests are collected (before the isolation fixture
# points HOME into tmp): the venvs the tests build install from it, as a user's second
# install does, rather than downloading and unpacking every wheel again.
UV_CACHE = os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")


def run(
    cmd: list[Any],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    check: int | None = 0,
    timeout: float = 600,
    input: str | None = None,
    tail: int = 6000,
) -> subprocess.CompletedProcess[str]:
    """Run CMD (text, output captured); ENV (default: ours) plus EXTRA is its environment.

    With CHECK (an exit code, 0 by default; None: any), a different exit code fails the
    test with the command and the tails of its stdout and stderr.
    """
    full_env = dict(os.environ if env is None else env, **(extra or {}))
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )
    if check is not None and proc.returncode != check:
        shown = " ".join(str(c) for c in cmd)
        raise AssertionError(
            f"{shown} exited {proc.returncode}, expected {check}\n"
            f"--- stdout\n{proc.stdout[-tail:]}\n--- stderr\n{proc.stderr[-tail:]}"
        )
    return proc


def run_cli(*args: Any, cwd=None, env=None, check=None, timeout=600, input=None):
    """The installed `dbtscaffold ARGS` in a subprocess, ENV added to ours."""
    return run([CLI, *args], cwd=cwd, extra=env, check=check, timeout=timeout, input=input)


def run_tool(tool: str, *args: Any, cwd=None, env=None, check=0, timeout=600):
    """An executable of this venv (dbt, dagster) with ARGS, ENV added to ours."""
    return run([BIN / tool, *args], cwd=cwd, extra=env, check=check, timeout=timeout)


def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """os.environ minus the user's Dagster/dbt settings, with HOME in ROOT."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "DBT_", "JAFFLE_SHOP_"))
    }
    home = root / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        COLUMNS="200",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def scaffold(root: Path) -> Path:
    """The example dbt project and its Dagster project under ROOT; return the latter."""
    dbt_dir = root / "jaffle_shop"
    shutil.copytree(EXAMPLE, dbt_dir)
    run(
        [CLI, "init", "--dbt-project-dir", dbt_dir, "--output-dir", root],
        env=isolated_env(root),
        timeout=120,
    )
    return root / PACKAGE


def write_constraints(path: Path) -> Path:
    """This environment's versions as a pip constraints file (dbtscaffold left out)."""
    from importlib import metadata

    pins = sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in metadata.distributions()
            if d.metadata["Name"] and d.metadata["Name"].lower() != "dbtscaffold"
        }
    )
    path.write_text("\n".join(pins) + "\n")
    return path


class Result:
    """What `invoke` saw: the exit code, stdout and stderr apart, and the exception if any."""

    def __init__(self, exit_code: int, stdout: str, stderr: str, exception: BaseException | None):
        self.returncode = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.exception = exception


def invoke(
    *args: Any, cwd: Path | str | None = None, env: Mapping[str, str] | None = None
) -> Result:
    """`dbtscaffold ARGS` in this process (Typer's CliRunner), in CWD, with ENV added to
    os.environ for the call; stdout and stderr apart.

    The console's module state (verbose, no-color, the Rich consoles bound to the old
    streams) and os.environ are reset around the call, so one invocation never leaks into
    the next.
    """
    from typer.testing import CliRunner

    from dbtscaffold import cli, console

    before = Path.cwd()
    saved = (console.VERBOSE, console.NO_COLOR)
    saved_env = dict(os.environ)  # NO_COLOR, and whatever else a command sets for itself
    console.reset()
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(cli.app, [str(a) for a in args], prog_name="dbtscaffold")
    finally:
        os.chdir(before)
        console.VERBOSE, console.NO_COLOR = saved
        if dict(os.environ) != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)
        console.reset()
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return Result(result.exit_code, result.stdout, result.stderr, exc)


def invoke_ok(*args: Any, cwd: Path | str | None = None, env=None, check: int | None = None):
    """`invoke`, failing the test on an exception (what the installed script would print as a
    traceback) and, with CHECK, on another exit code."""
    done = invoke(*args, cwd=cwd, env=env)
    if done.exception is not None:
        import traceback

        trace = "".join(traceback.format_exception(done.exception))
        raise AssertionError(f"dbtscaffold {args}: Traceback (in process)\n{trace}{done.stderr}")
    if check is not None and done.returncode != check:
        raise AssertionError(
            f"dbtscaffold {args} exited {done.returncode}, expected {check}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done
