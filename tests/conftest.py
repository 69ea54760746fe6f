"""Shared fixtures: isolation from the user's machine, the installed CLI, tree hashes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CLI = BIN / "dbtscaffold"
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "dbtscaffold" / "example"


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


def run_cli(*args, cwd=None, env=None, check=None, timeout=600, input=None):
    """Run the installed `dbtscaffold` in a subprocess; return CompletedProcess (text)."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [str(CLI), *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"dbtscaffold {' '.join(map(str, args))} exited {proc.returncode}, expected {check}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def run_tool(tool, *args, cwd=None, env=None, check=0, timeout=600):
    """Run an executable from this venv (dbt, dagster) and assert its exit code."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [str(BIN / tool), *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"{tool} {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def tree_hash(root: Path, ignore=(".dbtscaffold",)) -> dict[str, str]:
    """{relative path: sha256} of every file (and symlink target) under ROOT."""
    out = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ignore]
        rel_dir = Path(dirpath).relative_to(root)
        out[str(rel_dir) + "/"] = "dir"
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink():
                out[str(rel_dir / f)] = "link:" + os.readlink(p)
            else:
                out[str(rel_dir / f)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


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
