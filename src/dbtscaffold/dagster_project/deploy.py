"""What `dbtscaffold deploy` writes: the instance and the workspace of the production topology.

A gRPC code server runs the project's code; dagster-webserver and dagster-daemon find it
through deploy/workspace.yaml, and all three share deploy/dagster.yaml: run, event log and
schedule storage in PostgreSQL (dagster-postgres), runs queued for the daemon, schedules
ticked by it. It is the shape of Dagster's Docker, Kubernetes and Dagster+ hybrid
deployments, on whatever machines run the three processes.
"""

from __future__ import annotations

import re

from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.errors import UserError
from dbtscaffold.resources import templates_dir

DEPLOY_DIR = "deploy"
FILES = ("dagster.yaml", "workspace.yaml")
PG_ENV = (
    "DAGSTER_POSTGRES_HOST",
    "DAGSTER_POSTGRES_PORT",
    "DAGSTER_POSTGRES_DB",
    "DAGSTER_POSTGRES_USER",
    "DAGSTER_POSTGRES_PASSWORD",
)
_HOST_RE = re.compile(r"^[A-Za-z0-9._:\[\]-]+$")


def check_host(host: str) -> str:
    if not _HOST_RE.match(host):
        shown = host.encode("unicode_escape").decode("ascii")
        raise UserError(f"Host `{shown}` is not a host name or IP address; fix --host.")
    return host


def render_deploy_files(
    package: str, module: str, *, host: str, port: int, duckdb: bool
) -> dict[str, bytes]:
    """{file name: content} of deploy/ for PACKAGE's code server on HOST:PORT."""
    import jinja2

    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    context = {
        "package": package,
        "module": module,
        "host": check_host(host),
        "host_yaml": f'"{host}"' if ":" in host else host,
        "port": port,
        "duckdb": duckdb,
        "max_concurrent_runs": 1 if duckdb else 10,
    }
    out = {}
    for name in FILES:
        source = (templates_dir() / "deploy" / f"{name}.jinja").read_text(encoding="utf-8")
        out[name] = env.from_string(source).render(**context).encode("utf-8")
    return out


def plan_deploy(
    info: DagsterProjectInfo, module: str, *, host: str, port: int, duckdb: bool
) -> tuple[Plan, list[str]]:
    """Plan deploy/dagster.yaml and deploy/workspace.yaml; also name those that differ."""
    plan = Plan(roots=(info.dir,), description=f"deploy {info.package}")
    rendered = render_deploy_files(info.package, module, host=host, port=port, duckdb=duckdb)
    differing = []
    for name, data in rendered.items():
        path = info.dir / DEPLOY_DIR / name
        if path.is_dir():
            raise UserError(f"`{path}` is a folder; move it away and retry.")
        before = path.read_bytes() if path.is_file() else None
        if before is not None and before != data:
            differing.append(f"{DEPLOY_DIR}/{name}")
        plan.add(FileChange(path, before, data))
    return plan, differing


def refuse_overwrite(differing: list[str]) -> UserError:
    """The error for deploy files that exist with other content (no --force)."""
    them = " and ".join(f"`{d}`" for d in differing)
    return UserError(
        f"{them} already {'exist' if len(differing) > 1 else 'exists'} with other content; "
        "pass --force to overwrite (backed up for `dbtscaffold undo`), or --dry-run to see "
        "the difference."
    )
