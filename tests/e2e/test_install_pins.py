"""Installs of a generated project resolve on an index whose newest Dagster is out of step.

A local package index (a folder of wheels: `pip download` once, then `--no-index --find-links`)
holds what the generated project needs at this environment's versions, plus the newest
`dagster`, `dagster-webserver` and their lockstep packages from PyPI with no dependencies: newer
than the `dagster-dbt` here allows (on 2026-12-07: dagster 1.13.29 and dagster-webserver 1.13.28,
where dagster-dbt 0.29.27 pins dagster==1.13.27). Unpinned, such an index once sent pip
backtracking for over 8 minutes. The generated pyproject pins Dagster's libraries in lockstep
with the versions init ran with, so the README's install commands resolve at once:

- `pip install "dist/<wheel>[deploy]" "dagster-webserver==X"` (production) and
  `pip install -e ".[dev]"` (development), resolved by pip (`--dry-run`);
- the same installed into fresh venvs by uv (pip's install of ~120 wheels is dominated by
  unpacking on this shared 2-core machine, not by resolution);

with exactly the pinned versions, and pip without backtracking: under `-vv` pip logs each
candidate it rejects ("Will try a different candidate"), which the unpinned requirements do on
this index (dagster-webserver 1.13.28 first), and the test fails on that line. The times are
printed for the notes, not asserted (speed is measured by bench/, not by tests). Building the
index needs the network the first time (marked `network`); it is kept in DBTSCAFFOLD_TEST_INDEX
(default: a folder in the system temp dir) for the next runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

from tests.helpers.cli import BIN, run_cli, run_tool, write_constraints
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.slow, pytest.mark.venv]

PACKAGE = "jaffle_dagster"
ROOT = Path(__file__).resolve().parents[2]  # dbtscaffold's own project
# What pip logs (at DEBUG: -vv) for each candidate its resolver rejects, i.e. each backtrack.
BACKTRACKING = "Will try a different candidate"
# The newest of these from PyPI, without dependencies: the out-of-step part of the index.
NEWEST = ("dagster", "dagster-webserver", "dagster-graphql", "dagster-pipes", "dagster-shared")
INDEX = Path(
    os.environ.get("DBTSCAFFOLD_TEST_INDEX")
    or Path(tempfile.gettempdir()) / "dbtscaffold-out-of-step-index"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path]:
    """(the generated Dagster project, its wheel built with pip wheel --no-deps)."""
    root = tmp_path_factory.mktemp("pins")
    run_cli("example", "jaffle_shop", cwd=root, check=0)
    run_cli("init", "--project-name", PACKAGE, cwd=root / "jaffle_shop", check=0)
    project = root / "jaffle_shop" / PACKAGE
    pip_wheel = ("-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "dist")
    run_tool("python", *pip_wheel, ".", cwd=project)
    [wheel] = (project / "dist").glob("*.whl")
    return project, wheel


@pytest.fixture(scope="module")
def index(project, tmp_path_factory) -> Path:
    """The out-of-step local index, downloaded once (then reused)."""
    done = INDEX / ".complete"
    if done.is_file():
        return INDEX
    _, wheel = project
    INDEX.mkdir(parents=True, exist_ok=True)
    constraints = write_constraints(tmp_path_factory.mktemp("c") / "constraints.txt")
    webserver = f"dagster-webserver=={metadata.version('dagster')}"
    download = ("-m", "pip", "download", "-q", "-d", INDEX)
    run_tool("python", *download, "-c", constraints, f"{wheel}[deploy,dev]", webserver,
             "setuptools>=64", cwd=INDEX, timeout=1800)  # fmt: skip
    # dbtscaffold's own install (its README's `pip install -e .`): its dependencies and its
    # build backend.
    run_tool("python", *download, "-c", constraints, ROOT, "hatchling>=1.21", "editables~=0.3",
             cwd=INDEX, timeout=1800)  # fmt: skip
    for ours in INDEX.glob("dbtscaffold-*"):
        ours.unlink()
    for name in NEWEST:
        run_tool("python", *download, "--no-deps", name, cwd=INDEX, timeout=600)
    for built in INDEX.glob(f"{PACKAGE}-*.whl"):
        built.unlink()  # the project comes from its own folder, not from the index
    done.write_text("")
    return INDEX


@pytest.fixture(scope="module")
def uv_cache(tmp_path_factory) -> Path:
    """One uv cache for the module's installs and lock (empty at first, as a new user's):
    each wheel of the index is unpacked into it once, not once per test."""
    return tmp_path_factory.mktemp("uv-cache")


def _newest(index: Path, name: str) -> str:
    stem = name.replace("-", "_") + "-"
    versions = [p.name[len(stem) :].split("-")[0] for p in index.glob(f"{stem}*.whl")]
    return max(versions, key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))


def _pinned(project: Path) -> dict[str, str]:
    doc = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = [
        *doc["project"]["dependencies"],
        *doc["project"]["optional-dependencies"]["dev"],
        *doc["project"]["optional-dependencies"]["deploy"],
    ]
    return dict(r.split("==") for r in reqs if "==" in r)


def test_generated_pyproject_pins_dagster_in_lockstep(project):
    pins = _pinned(project[0])
    assert pins == {
        "dagster": metadata.version("dagster"),
        "dagster-webserver": metadata.version("dagster"),
        "dagster-dbt": metadata.version("dagster-dbt"),
        "dagster-duckdb": metadata.version("dagster-dbt"),
        "dagster-postgres": metadata.version("dagster-dbt"),
    }
    deps = tomllib.loads((project[0] / "pyproject.toml").read_text())["project"]["dependencies"]
    major, minor = metadata.version("dbt-core").split(".")[:2]
    assert f"dbt-core>={major}.{minor},<{major}.{int(minor) + 1}" in deps


def test_dbtscaffold_itself_resolves_on_an_out_of_step_index(index, tmp_path):
    # Its README's `pip install -e .`: dagster and dagster-dbt bounded to one release series.
    source = tmp_path / "dbtscaffold"
    # Its source as a checkout holds it: not the caches of mypy, ruff and pytest (mypy's is
    # ~180 MB where CI ran it first).
    caches = (".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__")
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".git", "*.egg-info", ".venv", *caches)
    )
    venv = tmp_path / "venv"
    run_tool("python", "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    pip = ("python", "-m", "pip", "--python", venv / "bin" / "python", "install")
    report = tmp_path / "report.json"
    offline = ("--no-index", "--find-links", index, "--dry-run", "--report", report)
    # Unpinned within a series, pip may reject a release or two here (dagster-webserver 1.13.28
    # on this index): what must hold is the lockstep it ends with, not zero backtracks.
    resolved, _ = _timed(*pip, "-q", *offline, "-e", source, cwd=source)
    print(f"dbtscaffold: pip resolved in {resolved:.1f} s")
    chosen = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert chosen["dagster"] == chosen["dagster-webserver"] == metadata.version("dagster")
    assert chosen["dagster-dbt"] == metadata.version("dagster-dbt")


def _timed(*cmd, cwd, env=None, timeout=600) -> tuple[float, str]:
    """How long CMD took (for the notes), and what it printed."""
    started = time.monotonic()
    proc = run_tool(*cmd, cwd=cwd, env=env, timeout=timeout)
    return time.monotonic() - started, proc.stdout + proc.stderr


def _pip_resolved(*cmd, cwd) -> float:
    """Seconds of a pip resolve (CMD: pip's arguments after `install`) that must not backtrack."""
    took, said = _timed(*cmd, "-vv", cwd=cwd)
    assert BACKTRACKING not in said, said[-3000:]
    return took


@pytest.mark.parametrize("which", ["production", "development"])
def test_readme_installs_resolve_on_an_out_of_step_index(project, index, uv_cache, which, tmp_path):
    project_dir, wheel = project
    pins = _pinned(project_dir)
    if _newest(index, "dagster") == pins["dagster"]:
        pytest.skip("PyPI's newest dagster is the one pinned: the index is not out of step")
    if which == "production":  # `pip install "dist/...whl[deploy]" "dagster-webserver==X"`
        webserver = f"dagster-webserver=={pins['dagster-webserver']}"
        args, cwd = (f"{wheel}[deploy]", webserver), tmp_path
    else:  # the README's `pip install -e ".[dev]"`
        args, cwd = ("-e", f"{project_dir}[dev]"), project_dir
    offline = ("--no-index", "--find-links", index)
    venv = tmp_path / "venv"
    run_tool("python", "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    pip = ("python", "-m", "pip", "--python", venv / "bin" / "python")
    resolved = _pip_resolved(*pip, "install", "--dry-run", *offline, *args, cwd=cwd)
    uv = shutil.which("uv", path=str(BIN))
    assert uv, "uv is a test dependency"
    env = {"UV_CACHE_DIR": str(uv_cache), "UV_PYTHON_DOWNLOADS": "never"}
    installed, _ = _timed(
        "uv", "pip", "install", "-q", "--python", venv / "bin" / "python", *offline, *args,
        cwd=cwd, env=env,
    )  # fmt: skip
    print(f"{which}: pip resolved in {resolved:.1f} s, uv installed in {installed:.1f} s")
    probe = (
        "import json; from importlib import metadata as m; "
        f"print(json.dumps({{n: m.version(n) for n in {sorted(pins)!r}}}))"
    )
    if which == "development":
        pins.pop("dagster-postgres")  # only in the deploy extra
        probe = probe.replace("'dagster-postgres', ", "")
    out = run_tool(venv / "bin" / "python", "-c", probe, cwd=tmp_path).stdout
    assert json.loads(out.strip().splitlines()[-1]) == pins


def _uv_env(index: Path, cache: Path) -> dict[str, str]:
    """uv settings for the local index only (uv reads no pip.conf): what a user would set."""
    return {"UV_NO_INDEX": "1", "UV_FIND_LINKS": str(index), "UV_CACHE_DIR": str(cache),
            "UV_PYTHON_DOWNLOADS": "never"}  # fmt: skip


def test_init_lock_writes_a_uv_lock_of_the_pins_from_an_out_of_step_index(
    index, uv_cache, tmp_path
):
    run_cli("example", "jaffle_shop", cwd=tmp_path, check=0)
    dbt_dir, env = tmp_path / "jaffle_shop", _uv_env(index, uv_cache)
    before = tree_hash(dbt_dir)
    init = ("init", "--project-name", PACKAGE, "--lock")
    shown = run_cli(*init, "--dry-run", cwd=dbt_dir, env=env, check=0)
    assert f"+++ b/{PACKAGE}/uv.lock" in shown.stdout, shown.stdout[-3000:]
    assert tree_hash(dbt_dir) == before  # a dry run resolves, and writes nothing
    started = time.monotonic()
    run_cli(*init, cwd=dbt_dir, env=env, check=0)
    took = time.monotonic() - started
    print(f"init --lock: {took:.1f} s")
    project = dbt_dir / PACKAGE
    locked = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    versions = {p["name"]: p["version"] for p in locked["package"]}
    pins = _pinned(project)
    assert {name: versions[name] for name in pins} == pins  # the pins, not the index's newest
    run_tool("uv", "lock", "--check", cwd=project, env=env)  # uv: the lock is current
    # Once more: the same lock, nothing to do.
    again = run_cli(*init, "--force", cwd=dbt_dir, env=env, check=0)
    assert "Nothing to do" in again.stdout + again.stderr, again.stderr
