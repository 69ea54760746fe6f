"""`dbtscaffold dev`: preflight checks, start `dagster dev`, wait for the UI, report, stop.

`dagster dev` runs in its own session with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 and a
persistent DAGSTER_HOME. Readiness is read from the webserver's GraphQL endpoint, which
also carries the code location's load error, so broken definitions fail fast instead of
serving an empty UI. Ctrl-C, SIGTERM and SIGHUP stop every process that was started.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtscaffold import console
from dbtscaffold.dagster_project.locate import DagsterProjectInfo, resolve_dagster_project
from dbtscaffold.errors import UserError

if TYPE_CHECKING:
    from dbtscaffold.proc import ProcessGroup

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
DAGSTER_HOME_DIR = ".dagster_home"
DEFAULT_PORT = 3000
DEFAULT_HOST = "127.0.0.1"
# A 5,000-model project can take minutes to parse on a cold start.
READY_TIMEOUT = 900.0
POLL_INTERVAL = 0.2
# Stop budget when idle: SIGINT, then SIGTERM, then SIGKILL, all within about 10 s.
INTERRUPT_TIMEOUT = 6.0
TERMINATE_TIMEOUT = 3.0
# An in-flight run (a dbt build) gets this long after SIGINT to stop cleanly.
RUN_INTERRUPT_TIMEOUT = 30.0

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } } } }
          ... on PythonError { message stack errorChain { error { message stack } } }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""


def dagster_env(info: DagsterProjectInfo) -> dict[str, str]:
    """The environment for `dagster` commands on the project INFO.

    Parse on load is on; DAGSTER_HOME is the project's `.dagster_home` unless the user set
    one (without one, `dagster dev` keeps run history in a temp folder deleted on exit);
    this interpreter's bin folder comes first on PATH, as dagster-dbt runs `dbt` from it.
    """
    env = dict(os.environ)
    env[PARSE_ON_LOAD_ENV] = "1"
    home = env.get(DAGSTER_HOME_ENV, "").strip()
    if home:
        if not Path(home).expanduser().is_absolute():
            raise UserError(
                f"DAGSTER_HOME `{home}` is not an absolute path; set it to one or unset it."
            )
        env[DAGSTER_HOME_ENV] = str(Path(home).expanduser())
    else:
        env[DAGSTER_HOME_ENV] = str(ensure_dagster_home(info.dir / DAGSTER_HOME_DIR))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p)]
    )
    return env


def ensure_dagster_home(path: Path) -> Path:
    """PATH as a usable DAGSTER_HOME (the generated .gitignore already ignores it)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        config = path / "dagster.yaml"
        if not config.exists():
            # An empty dagster.yaml means the defaults, minus Dagster's warning about it.
            config.write_text("", encoding="utf-8")
    except OSError as e:
        raise UserError(
            f"Cannot create DAGSTER_HOME `{path}`: {e.strerror}; set DAGSTER_HOME."
        ) from e
    return path


def check_webserver() -> None:
    """dagster-webserver must be importable by this interpreter (it runs `dagster dev`)."""
    for module, package in (("dagster", "dagster"), ("dagster_webserver", "dagster-webserver")):
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


def ui_url(host: str, port: int) -> str:
    """The URL to open (and poll) for a server listening on HOST:PORT."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@dataclass
class LoadState:
    """What the webserver says about its code locations."""

    loading: bool = True
    assets: list[tuple[str, ...]] = field(default_factory=list)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (location, message, stack)


def _python_error_text(err: dict[str, Any]) -> tuple[str, str]:
    """(messages, stack) of a GraphQL PythonError, its cause chain included."""
    parts = [err.get("message") or ""]
    stacks = ["".join(err.get("stack") or [])]
    for link in err.get("errorChain") or []:
        cause = link.get("error") or {}
        parts.append(cause.get("message") or "")
        stacks.append("".join(cause.get("stack") or []))
    messages = "\nThe above was caused by:\n".join(p.strip() for p in parts if p.strip())
    return messages, "\n".join(s for s in stacks if s)


def parse_load_state(payload: dict[str, Any]) -> LoadState:
    state = LoadState()
    workspace = (payload.get("data") or {}).get("workspaceOrError") or {}
    if workspace.get("__typename") == "PythonError":
        state.loading = False
        state.errors.append(("workspace", *_python_error_text(workspace)))
        return state
    entries = workspace.get("locationEntries")
    if not entries:
        return state
    if any(e.get("loadStatus") != "LOADED" for e in entries):
        return state
    state.loading = False
    keys: dict[tuple[str, ...], None] = {}
    for entry in entries:
        loc = entry.get("locationOrLoadError") or {}
        if loc.get("__typename") == "PythonError":
            state.errors.append((entry.get("name", "?"), *_python_error_text(loc)))
            continue
        for repo in loc.get("repositories") or []:
            for node in repo.get("assetNodes") or []:
                keys[tuple(node["assetKey"]["path"])] = None
    state.assets = list(keys)
    return state


def probe(base_url: str, timeout: float = 2.0) -> LoadState | None:
    """The load state from BASE_URL/graphql, or None while nothing answers there."""
    body = json.dumps({"query": WORKSPACE_QUERY}).encode()
    request = urllib.request.Request(
        base_url + "/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, OSError):
        return None
    return parse_load_state(payload)


RUNS_QUERY = """
{ runsOrError(filter: {statuses: [STARTING, STARTED, CANCELING]}) {
    ... on Runs { results { runId } } } }
"""


def _is_run_process(cmd: list[str]) -> bool:
    """A run worker (multiprocessing child of the code server, or `execute_run`) or dbt."""
    joined = " ".join(cmd)
    return (
        "spawn_main" in joined
        or "execute_run" in joined
        or "execute_step" in joined
        or any(Path(a).name == "dbt" for a in cmd[:2])
    )


def runs_in_flight(base_url: str, group: ProcessGroup) -> bool:
    """True when the group has a run process, or the instance a run starting or going."""
    if group.any_running(_is_run_process):
        return True
    body = json.dumps({"query": RUNS_QUERY}).encode()
    request = urllib.request.Request(
        base_url + "/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=0.5) as response:
            return bool(json.load(response)["data"]["runsOrError"]["results"])
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return False


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
    check_webserver()
    check_port(host, port)
    env = dagster_env(info)
    cmd = [sys.executable, "-m", "dagster", "dev", "--host", host, "--port", str(port)]
    cmd += list(extra_args or [])
    url = ui_url(host, port)

    stop = threading.Event()
    hurry = threading.Event()
    signals: list[int] = []
    relaying = threading.Event()
    if console.VERBOSE:
        relaying.set()

    def on_signal(signum: int) -> None:
        signals.append(signum)
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
            _stop(group, url, hurry)
    return code


def _serve(
    group: ProcessGroup,
    info: DagsterProjectInfo,
    url: str,
    started: float,
    stop: threading.Event,
    relaying: threading.Event,
) -> int:
    """Wait for the UI, report, then wait for a stop signal; return the exit code."""
    state: LoadState | None = None
    with console.status(f"Starting dagster dev for `{info.package}` (loading definitions)..."):
        while not stop.is_set():
            code = group.poll()
            if code is not None:
                console.error(
                    f"`dagster dev` exited with code {code} before the UI was ready; its output:"
                )
                _show_tail(group.output())
                return code or 1
            state = probe(url)
            if state is not None and not state.loading:
                break
            if time.monotonic() - started > READY_TIMEOUT:
                console.error(
                    f"The Dagster UI did not answer at {url} within {READY_TIMEOUT:.0f} s; "
                    "rerun with --verbose to see dagster's output."
                )
                return 1
            group.track()
            stop.wait(POLL_INTERVAL)
    if stop.is_set() or state is None:
        return 0
    if state.errors:
        for location, message, stack in state.errors:
            console.error(
                f"The Dagster definitions of `{location}` failed to load; fix the error below "
                "and rerun `dbtscaffold dev`."
            )
            _show_tail(message, lines=60)
            console.detail(stack)
        return 1
    elapsed = time.monotonic() - started
    n = len(state.assets)
    console.success(
        f"Dagster UI ready at {url} ({n} asset{'s' if n != 1 else ''} loaded from "
        f"`{info.package}` in {elapsed:.1f} s). Press Ctrl-C to stop."
    )
    relaying.set()
    while not stop.is_set():
        code = group.poll()
        if code is not None:
            console.error(f"`dagster dev` exited on its own with code {code}.")
            return code or 1
        group.track()
        stop.wait(0.5)
    return 0


def _stop(group: ProcessGroup, url: str, hurry: threading.Event) -> None:
    """Stop the group; an in-flight run gets RUN_INTERRUPT_TIMEOUT after SIGINT."""
    if not group.alive():
        group.stop(interrupt_timeout=0.5, terminate_timeout=0.5)
        return
    in_flight = runs_in_flight(url, group)
    grace = RUN_INTERRUPT_TIMEOUT if in_flight else INTERRUPT_TIMEOUT
    what = "dagster dev (waiting for the run in progress to stop)" if in_flight else "dagster dev"
    console.info(f"Stopping {what}...")
    report = group.stop(interrupt_timeout=grace, terminate_timeout=TERMINATE_TIMEOUT, hurry=hurry)
    if report.survivors:
        console.warn(
            f"Processes {', '.join(map(str, report.survivors))} did not stop; end them with "
            "`kill -9`."
        )
    else:
        how = " then ".join(report.signals) or "nothing to do"
        console.info(f"Stopped dagster dev in {report.seconds:.1f} s ({how}).")
