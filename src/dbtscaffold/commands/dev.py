"""`dbtscaffold dev`: preflight checks, start `dagster dev` or `dg dev`, wait for the UI, stop.

`dagster dev` runs in its own session with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 and a
persistent DAGSTER_HOME. Readiness is read from the webserver's GraphQL endpoint, which
also carries the code location's load error: broken definitions are reported once and the
UI stays up, so that a fix and Reload definitions continue the session (each reload is
reported). Ctrl-C, SIGTERM and SIGHUP cancel the runs in flight through Dagster, then
stop every process that was started.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dbtscaffold import console
from dbtscaffold.commands.dev_ui import (
    LoadState,
    any_run_process,
    locations_signature,
    probe,
    run_statuses,
    runs_in_flight,
    terminate_run,
    ui_url,
)
from dbtscaffold.dagster_project.locate import DagsterProjectInfo, resolve_dagster_project
from dbtscaffold.errors import UserError

if TYPE_CHECKING:
    from dbtscaffold.proc import ProcessGroup

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DEV_CLI_ENV = "DAGSTER_IS_DEV_CLI"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
DAGSTER_HOME_DIR = ".dagster_home"
DEFAULT_PORT = 3000
DEFAULT_HOST = "127.0.0.1"
# How long the UI may take to answer at all. Once it answers, dev waits for the definitions
# however long they take: a 10,000-model project's cold start took 15 min on 2 busy cores.
READY_TIMEOUT = 900.0
# The dagster.yaml of dev's own DAGSTER_HOME: Dagster's defaults, but a code server may take
# 30 min to start (Dagster's default is 180 s), since the first parse on load of a large dbt
# project runs inside it (5,000 models took 10 min on 2 busy cores).
DEV_INSTANCE_YAML = "code_servers:\n  local_startup_timeout: 1800\n"
POLL_INTERVAL = 0.2
# Stop budget when idle: SIGINT, then SIGTERM, then SIGKILL, all within about 10 s. On a
# loaded 2-core machine `dagster dev` alone takes 6 to 8 s to stop after SIGINT (its daemon
# and webserver finish their loops), so SIGINT gets most of it.
INTERRUPT_TIMEOUT = 8.5
TERMINATE_TIMEOUT = 1.0
# An in-flight run (a dbt build) gets this long to stop once canceled.
RUN_INTERRUPT_TIMEOUT = 30.0
# How often the UI is asked whether the code was reloaded.
LOOK_INTERVAL = 2.0


def dagster_env(info: DagsterProjectInfo) -> dict[str, str]:
    """The environment for `dagster` commands on the project INFO.

    Parse on load is on, as under `dagster dev`; DAGSTER_HOME is the project's `.dagster_home` unless the user set
    one (without one, `dagster dev` keeps run history in a temp folder deleted on exit);
    this interpreter's bin folder comes first on PATH, as dagster-dbt runs `dbt` from it.
    """
    env = dict(os.environ)
    env[PARSE_ON_LOAD_ENV] = "1"
    # As `dagster dev` sets it for its code servers: dagster-dbt's DbtProject then uses the
    # dbt project itself, not the copy `package` left in the package (materialize too).
    env[DEV_CLI_ENV] = "1"
    home = env.get(DAGSTER_HOME_ENV, "").strip()
    if home:
        if not Path(home).expanduser().is_absolute():
            raise UserError(
                f"DAGSTER_HOME `{home}` is not an absolute path; set it to one or unset it."
            )
        if not Path(home).expanduser().is_dir():  # Dagster would stop with a traceback
            raise UserError(
                f"DAGSTER_HOME `{home}` is not a folder; create it (Dagster keeps runs there) "
                "or unset it to use the project's .dagster_home."
            )
        env[DAGSTER_HOME_ENV] = str(Path(home).expanduser())
    else:
        env[DAGSTER_HOME_ENV] = str(ensure_dagster_home(info.dir / DAGSTER_HOME_DIR))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p)]
    )
    if info.layout == "components":
        # dg's code server imports the package by name: src/ on the path, as `pip install -e .`.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(info.source_dir), env.get("PYTHONPATH", "")) if p
        )
    return env


def ensure_dagster_home(path: Path) -> Path:
    """PATH as a usable DAGSTER_HOME (the generated .gitignore already ignores it)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        config = path / "dagster.yaml"
        if not config.exists() or config.stat().st_size == 0:  # ours, as an older dev left it
            config.write_text(DEV_INSTANCE_YAML, encoding="utf-8")
    except OSError as e:
        raise UserError(
            f"Cannot create DAGSTER_HOME `{path}`: {e.strerror}; set DAGSTER_HOME."
        ) from e
    return path


def check_webserver(layout: str = "python") -> None:
    """dagster-webserver (and dg for LAYOUT components) must be importable by this interpreter."""
    needed = [("dagster", "dagster"), ("dagster_webserver", "dagster-webserver")]
    if layout == "components":
        needed.append(("dagster_dg_cli", "dagster-dg-cli"))
    for module, package in needed:
        if importlib.util.find_spec(module) is None:
            raise UserError(
                f"{package} is not installed in `{sys.prefix}`; run "
                f"`{sys.executable} -m pip install {package}` and retry."
            )


def check_port(host: str, port: int) -> None:
    """Raise a UserError unless HOST:PORT can be listened on right now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise UserError(f"Host `{host}` cannot be resolved; pass --host 127.0.0.1.") from None
    family, socktype, proto, _, addr = infos[0]
    with socket.socket(family, socktype, proto) as s:
        # As uvicorn does: a port in TIME_WAIT is free to listen on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(
                    f"Port {port} on {host} is already in use; stop what uses it or pass "
                    f"--port {port + 1}."
                ) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise UserError(
                    f"Host `{host}` is not an address of this machine; pass --host 127.0.0.1."
                ) from None
            if e.errno == errno.EACCES:
                raise UserError(
                    f"Not allowed to listen on port {port}; pass a port above 1023."
                ) from None
            raise


def _show_tail(text: str, lines: int = 40) -> None:
    for line in text.strip().splitlines()[-lines:]:
        console.relay(line)


def run_dev(
    *,
    dagster_project_dir: Path | None,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    extra_args: list[str] | None = None,
) -> int:
    """Run `dagster dev` on the project until Ctrl-C or SIGTERM; return the exit code."""
    from dbtscaffold import proc

    info = resolve_dagster_project(dagster_project_dir)
    check_webserver(info.layout)
    check_port(host, port)
    env = dagster_env(info)
    # `dg dev` for dg's layout: it checks the defs.yaml files, then runs `dagster dev`.
    tool = ["dagster_dg_cli.cli"] if info.layout == "components" else ["dagster"]
    cmd = [sys.executable, "-m", *tool, "dev", "--host", host, "--port", str(port)]
    cmd += list(extra_args or [])
    url = ui_url(host, port)

    stop = threading.Event()
    hurry = threading.Event()
    relaying = threading.Event()
    if console.VERBOSE:
        relaying.set()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            hurry.set()  # a second Ctrl-C: skip to SIGTERM/SIGKILL
        stop.set()

    def on_line(line: str) -> None:
        if relaying.is_set():
            console.relay(line)

    started = time.monotonic()
    with proc.stop_signals(on_signal):
        group = proc.ProcessGroup(cmd, cwd=info.dir, env=env, on_line=on_line)
        try:
            code = _serve(group, info, url, started, stop, relaying)
        finally:
            # What the processes print while they stop (KeyboardInterrupt tracebacks of
            # each of them) is noise, not news: only --verbose shows it.
            if not console.VERBOSE:
                relaying.clear()
            _stop(group, url, hurry, tool=_tool(info))
    return code


def _tool(info: DagsterProjectInfo) -> str:
    """What dev runs for INFO's layout, as messages name it."""
    return "dg dev" if info.layout == "components" else "dagster dev"


def _serve(
    group: ProcessGroup,
    info: DagsterProjectInfo,
    url: str,
    started: float,
    stop: threading.Event,
    relaying: threading.Event,
) -> int:
    """Wait for the UI, report, then serve until a stop signal; return the exit code."""
    state: LoadState | None = None
    answered = slow = False  # the UI answered once; said that the load outlasts READY_TIMEOUT
    with console.status(f"Starting {_tool(info)} for `{info.package}` (loading definitions)..."):
        while not stop.is_set():
            code = group.poll()
            if code is not None:
                console.error(
                    f"`{_tool(info)}` exited with code {code} before the UI was ready; its output:"
                )
                _show_tail(group.output())
                return code or 1
            state = probe(url)
            if state is not None and not state.loading:
                break
            answered = answered or state is not None
            if time.monotonic() - started > READY_TIMEOUT:
                if not answered:
                    console.error(
                        f"The Dagster UI did not answer at {url} within {READY_TIMEOUT:.0f} s; "
                        "rerun with --verbose to see dagster's output."
                    )
                    return 1
                if not slow:  # the UI answers: a big project's first parse may take longer
                    slow = True
                    console.info(
                        f"The Dagster UI answers at {url}; the definitions are still loading "
                        f"after {READY_TIMEOUT:.0f} s (a first dbt parse of a large project). "
                        "Waiting; Ctrl-C stops."
                    )
            group.track()
            stop.wait(POLL_INTERVAL)
    if stop.is_set() or state is None:
        return 0
    elapsed = time.monotonic() - started
    if state.errors:
        _report_errors(state, url, again=False)
        console.info(
            f"Dagster UI running at {url} in {elapsed:.1f} s, without assets until the "
            "definitions load. Press Ctrl-C to stop."
        )
    else:
        own = "" if console.VERBOSE else " `dbtscaffold -v dev` shows Dagster's own output."
        console.success(
            f"Dagster UI ready at {url} ({console.count(len(state.assets), 'asset')} loaded "
            f"from `{info.package}` in {elapsed:.1f} s). Press Ctrl-C to stop.{own}"
        )
    relaying.set()
    return _watch(group, info, url, stop, failing=bool(state.errors))


def _report_errors(state: LoadState, url: str, *, again: bool) -> None:
    for location, message, stack in state.errors:
        console.error(
            f"The Dagster definitions of `{location}` failed to load{' again' if again else ''}; "
            f"fix the error below, then click Reload definitions in the UI ({url}/locations)."
        )
        _show_tail(message, lines=60)
        console.detail(stack)


def _watch(
    group: ProcessGroup, info: DagsterProjectInfo, url: str, stop: threading.Event, failing: bool
) -> int:
    """Serve until a stop signal or `dagster dev` exits; report each reload of the code."""
    signature = locations_signature(url)
    next_look = time.monotonic() + LOOK_INTERVAL
    while not stop.is_set():
        code = group.poll()
        if code is not None:
            console.error(f"`{_tool(info)}` exited on its own with code {code}.")
            return code or 1
        group.track()
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + LOOK_INTERVAL
            now = locations_signature(url)
            if now is not None and now != signature:
                signature = now
                state = probe(url)
                if state is not None and not state.loading:
                    failing = _report_reload(state, info, url, failing)
        stop.wait(0.5)
    return 0


def _report_reload(state: LoadState, info: DagsterProjectInfo, url: str, failing: bool) -> bool:
    """One line (and the error, if any) for a reload; True while the definitions fail."""
    if state.errors:
        _report_errors(state, url, again=True)
        return True
    n = len(state.assets)
    verb = "loaded" if failing else "reloaded"
    console.success(f"Definitions of `{info.package}` {verb}: {n} asset{'s' if n != 1 else ''}.")
    return False


def _stop(group: ProcessGroup, url: str, hurry: threading.Event, tool: str = "dagster dev") -> None:
    """Cancel runs in flight through Dagster, then stop the group; leave nothing behind."""
    if not group.alive():
        group.stop(interrupt_timeout=0.5, terminate_timeout=0.5)
        return
    runs = runs_in_flight(url) or []
    in_flight = bool(runs) or any_run_process(group)
    what = f"{tool} (waiting for the run in progress to stop)" if in_flight else tool
    console.info(f"Stopping {what}...")
    if runs:
        _cancel_runs(group, url, [run_id for run_id, _ in runs], hurry)
    # Runs canceled through Dagster are over; a run process left (one that did not
    # report to the UI) still gets the long grace after SIGINT.
    grace = RUN_INTERRUPT_TIMEOUT if in_flight and not runs else INTERRUPT_TIMEOUT
    report = group.stop(interrupt_timeout=grace, terminate_timeout=TERMINATE_TIMEOUT, hurry=hurry)
    if report.survivors:
        console.warn(
            f"Processes {', '.join(map(str, report.survivors))} did not stop; end them with "
            "`kill -9`."
        )
    else:
        how = " then ".join(report.signals) or "nothing to do"
        console.info(f"Stopped {tool} in {report.seconds:.1f} s ({how}).")


def _cancel_runs(group: ProcessGroup, url: str, run_ids: list[str], hurry: threading.Event) -> None:
    """Terminate RUN_IDS as the UI's button does (they end CANCELED); wait until they end."""
    for run_id in run_ids:
        terminate_run(url, run_id)
    deadline = time.monotonic() + RUN_INTERRUPT_TIMEOUT
    left: list[tuple[str, str]] | None = []
    while time.monotonic() < deadline and not hurry.is_set():
        left = runs_in_flight(url)
        if not left:  # all over, or the UI stopped answering
            break
        group.track()
        hurry.wait(0.25)
    for run_id, status in run_statuses(url, run_ids):
        console.info(f"Run {run_id[:8]} {status.lower()}.")
