"""Shared fixtures: isolation from the user's machine, the example, the session's servers.

Shared functions live in tests/helpers; a test module imports them from there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import BIN, CLI, EXAMPLE, isolated_env, run, run_cli
from tests.helpers.scheduling import one_worker_scheduler

# The PostgreSQL server and the Spark cluster of the session, for every test that asks.
from tests.helpers.postgres import pg_database, pg_server  # noqa: F401 (fixtures)
from tests.helpers.spark import spark_schema, spark_server  # noqa: F401 (fixtures)


# --- what a test costs, and where it runs --------------------------------------------------

# A test that needs one of these is slow too: `pytest -m "not slow"` skips it.
COSTLY = ("dev_server", "venv", "network", "postgres", "spark")
# Modules whose tests share an expensive module-scoped fixture (a shipped wheel in a fresh
# venv, an out-of-step package index, a converted and materialized project...): under
# `--dist loadgroup` (pyproject's addopts) each runs on one xdist worker, so the fixture is
# built once rather than once per worker.
ONE_WORKER = (
    "tests/e2e/test_production.py",
    "tests/e2e/test_install_pins.py",
    "tests/e2e/test_generated_tests.py",
    "tests/e2e/test_seed_fidelity.py",
    # one scaffolded example whose first definitions load parses: parsed once, not per worker
    "tests/e2e/test_materialize.py",
    # its module project is validated by `dagster definitions validate` (a parse): once
    "tests/e2e/test_check.py",
)
# Started first, so that the longest tests do not end the run on one worker alone: these
# modules, then every other slow test, then the rest (collection order within each).
FIRST = (
    # the README's venv and quickstart, which test_readme_project_blocks.py's tests wait for
    "tests/e2e/test_readme_blocks.py",
    "tests/e2e/test_spark_workflow.py",
    "tests/e2e/test_production.py",
    "tests/e2e/test_concurrent_loads.py",
    "tests/reliability/test_dev_stress.py",
    "tests/e2e/test_install_pins.py",
    "tests/e2e/test_generated_venv.py",
    "tests/e2e/test_tutorial.py",
    "tests/e2e/test_dev.py",
)


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` that sends every test of a ONE_WORKER module to one worker
    (tests/helpers/scheduling.py says why xdist's own marks do not)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return one_worker_scheduler(config, log, ONE_WORKER)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::")[0]
        if any(item.get_closest_marker(m) for m in COSTLY):
            item.add_marker(pytest.mark.slow)
        if path in ONE_WORKER:
            item.add_marker(pytest.mark.xdist_group(path))

    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        if path in FIRST:
            return FIRST.index(path)
        return len(FIRST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=rank)  # stable: collection order within each rank


@pytest.fixture(autouse=True)
def isolation(tmp_path_factory, monkeypatch):
    """Point HOME, DAGSTER_HOME and dbt's settings into tmp; plain, narrow output."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("dagster_home")))
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.delenv("DAGSTER_DBT_PARSE_PROJECT_ON_LOAD", raising=False)
    monkeypatch.delenv("JAFFLE_SHOP_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    yield home


@pytest.fixture(autouse=True)
def signal_dispositions_restored():
    """SIGINT's and SIGTERM's handlers as they were before the test. Code run in process can
    change them for good: Dagster's in-process execution maps SIGTERM to SIGINT's handler,
    which is SIG_IGN in an xdist worker, and an ignored signal stays ignored in every child
    started afterwards (a `dagster dev` or a process tree the test then fails to stop)."""
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        if signal.getsignal(s) is not handler and handler is not None:
            signal.signal(s, handler)


@pytest.fixture
def example_project(tmp_path) -> Path:
    """A fresh copy of the bundled example dbt project."""
    dest = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE, dest)
    return dest


@pytest.fixture
def scaffolded(example_project, tmp_path) -> tuple[Path, Path]:
    """(dbt project, Dagster project) after `dbtscaffold init` on the example."""
    run_cli("init", "--dbt-project-dir", example_project, "--output-dir", tmp_path, check=0)
    return example_project, tmp_path / "jaffle_shop_dagster"


@pytest.fixture(scope="session")
def initialized_template(tmp_path_factory) -> Path:
    """The example and the Dagster project `init` made for it, once per session (and xdist
    worker), with HOME in tmp: copy it (`initialized`), never edit it."""
    root = tmp_path_factory.mktemp("initialized")
    shutil.copytree(EXAMPLE, root / "jaffle_shop")
    run(
        [CLI, "init", "--dbt-project-dir", root / "jaffle_shop", "--output-dir", root],
        env=isolated_env(root),
    )
    return root


@pytest.fixture
def initialized(initialized_template, tmp_path) -> tuple[Path, Path]:
    """(dbt project, Dagster project) as `scaffolded` gives them, copied from the session's
    init: for the tests of what comes after init (init writes no absolute path, so a copy
    is what init would have written there)."""
    for name in ("jaffle_shop", "jaffle_shop_dagster"):
        shutil.copytree(initialized_template / name, tmp_path / name, symlinks=True)
    return tmp_path / "jaffle_shop", tmp_path / "jaffle_shop_dagster"
