"""A generated project stands on its own: installed into a fresh environment that has no
dbtscaffold (it is not on the package index), with pip from the normal index and with
`uv sync`, its definitions load and every dbt model is an asset."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import BIN, UV_CACHE, run, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.venv]

PACKAGE = "jaffle_dagster"
RUNTIME = Path(__file__).resolve().parents[2] / "src" / "dbtscaffold" / "runtime"
MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
# Prints the asset keys the definitions load (dbt parses on load, from this venv's dbt).
PROBE = (
    "import json, sys; from jaffle_dagster.definitions import defs; "
    "print(json.dumps(sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())))"
)


def _tutorial_layout(tmp_path: Path) -> Path:
    run_cli("example", tmp_path / "jaffle_shop", check=0)
    run_cli("init", "--project-name", PACKAGE, cwd=tmp_path / "jaffle_shop", check=0)
    return tmp_path / "jaffle_shop" / PACKAGE


def _env(venv_bin: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # Only the fresh environment on PATH: no dbtscaffold, no dbt of ours.
    env["PATH"] = os.pathsep.join([str(venv_bin), "/usr/bin", "/bin"])
    env["DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"] = "1"
    return env


def _run(cmd: list, cwd: Path, env: dict[str, str], timeout: int = 900) -> str:
    return run(cmd, cwd=cwd, env=env, timeout=timeout, tail=3000).stdout


def _check(python: Path, project: Path, env: dict[str, str]) -> None:
    found = _run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('dbtscaffold'))"],
        project,
        env,
    )
    assert found.strip() == "None"
    keys = _run([str(python), "-c", PROBE], project, env).strip().splitlines()[-1]
    assert MODELS <= set(__import__("json").loads(keys))
    assert (project.parent / "target" / "manifest.json").is_file()


def test_the_runtime_copy_is_byte_identical(tmp_path):
    project = _tutorial_layout(tmp_path)
    from dbtscaffold.dagster_project.generated import copied_modules

    copy = project / PACKAGE / "_dbtscaffold"
    copied = copied_modules("python", ["duckdb", "postgres"])  # the example's profile's types
    ours = sorted(p.name for p in RUNTIME.glob("*.py") if p.name in copied)
    assert len(ours) == len(copied)  # every module it copies exists
    assert sorted(p.name for p in copy.glob("*.py")) == ours
    for name in ours:
        assert (copy / name).read_bytes() == (RUNTIME / name).read_bytes(), name
    from dbtscaffold import __version__

    assert f'__version__ = "{__version__}"' in (copy / "__init__.py").read_text()


@pytest.mark.network  # pip installs from the package index
def test_pip_install_in_a_fresh_venv_without_dbtscaffold(tmp_path):
    project = _tutorial_layout(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = _env(venv / "bin")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", ".[dev]"], project, env)
    _check(venv / "bin" / "python", project, env)


@pytest.mark.network  # uv resolves against the package index
def test_uv_sync_installs_the_project_and_its_dev_group(tmp_path):
    uv = shutil.which("uv", path=str(BIN))
    assert uv, "uv is a test dependency (pip install -e '.[test]')"
    project = _tutorial_layout(tmp_path)
    env = _env(project / ".venv" / "bin")
    env["UV_PYTHON"] = sys.executable  # the same interpreter version, no download
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_CACHE_DIR"] = UV_CACHE  # this machine's: the wheels are not downloaded again
    _run([uv, "sync", "-q"], project, env)
    python = project / ".venv" / "bin" / "python"
    _run([str(python), "-c", "import dagster_webserver, pytest"], project, env)  # the dev group
    _check(python, project, env)
    # [tool.dagster] and [tool.dg] name the definitions: no -m needed.
    _run([uv, "run", "--no-sync", "dagster", "definitions", "validate"], project, env)
    # dg (dagster-dg-cli, not a dependency of the project) reads [tool.dg].
    version = _run([str(python), "-c", "import dagster; print(dagster.__version__)"], project, env)
    dg_cli = f"dagster-dg-cli=={version.strip()}"
    _run([uv, "pip", "install", "-q", "--python", str(python), dg_cli], project, env)
    out = _run([uv, "run", "--no-sync", "dg", "check", "defs"], project, env)
    assert "All definitions loaded successfully" in out, out
