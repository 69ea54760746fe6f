"""Talking to the Dagster UI `dbtscaffold dev` started: its GraphQL endpoint, on loopback.

What the code locations loaded (or the error they failed with), which runs are in flight,
and terminating them the way the UI's Terminate button does, so that they end CANCELED.
Every call has a short timeout and returns None / False / [] while nothing answers.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbtscaffold.proc import ProcessGroup

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


def graphql(base_url: str, query: str, timeout: float = 2.0, **variables: Any) -> Any:
    """The `data` of QUERY at BASE_URL/graphql, or None while nothing answers there."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        base_url + "/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, OSError):
        return None
    return payload.get("data") if isinstance(payload, dict) else None


def probe(base_url: str, timeout: float = 2.0) -> LoadState | None:
    """The load state from BASE_URL/graphql, or None while nothing answers there."""
    data = graphql(base_url, WORKSPACE_QUERY, timeout)
    return None if data is None else parse_load_state({"data": data})


LOCATIONS_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus updatedTimestamp locationOrLoadError { __typename } } } } }
"""


def locations_signature(base_url: str) -> tuple[Any, ...] | None:
    """Something that changes whenever a code location reloads (cheap to ask for)."""
    data = graphql(base_url, LOCATIONS_QUERY, 1.0)
    try:
        entries = data["workspaceOrError"]["locationEntries"]
        return tuple(
            (e["name"], e["loadStatus"], e["updatedTimestamp"], e["locationOrLoadError"])
            for e in entries
        )
    except (KeyError, TypeError):
        return None


RUNS_QUERY = """
{ runsOrError(filter: {statuses: [STARTING, STARTED, CANCELING]}) {
    ... on Runs { results { runId status } } } }
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


def runs_in_flight(base_url: str, timeout: float = 0.5) -> list[tuple[str, str]] | None:
    """(run id, status) of every run starting, going or canceling; None if no answer."""
    data = graphql(base_url, RUNS_QUERY, timeout)
    try:
        return [(r["runId"], r["status"]) for r in data["runsOrError"]["results"]]
    except (KeyError, TypeError):
        return None


def any_run_process(group: ProcessGroup) -> bool:
    return group.any_running(_is_run_process)


TERMINATE = """
mutation($runId: String!) { terminateRun(runId: $runId) { __typename } }
"""


def terminate_run(base_url: str, run_id: str) -> bool:
    """Ask Dagster to cancel RUN_ID (as the UI's Terminate does); True if it accepted."""
    data = graphql(base_url, TERMINATE, 5.0, runId=run_id)
    try:
        return bool(data["terminateRun"]["__typename"] == "TerminateRunSuccess")
    except (KeyError, TypeError):
        return False


STATUSES_QUERY = """
query($ids: [String!]) { runsOrError(filter: {runIds: $ids}) {
    ... on Runs { results { runId status } } } }
"""


def run_statuses(base_url: str, run_ids: list[str]) -> list[tuple[str, str]]:
    """(run id, status) of RUN_IDS as the instance has them ([] if no answer)."""
    data = graphql(base_url, STATUSES_QUERY, 2.0, ids=run_ids)
    try:
        return [(r["runId"], r["status"]) for r in data["runsOrError"]["results"]]
    except (KeyError, TypeError):
        return []
