"""Every fenced command block of both READMEs runs as written, in order, in a fresh venv.

The tool's README first (installed from a copy of this checkout, as its first line says), then
the README `init` writes into the generated project, in that project. Left out, and tested
elsewhere with their servers: the lines that start a server and wait (`dbtscaffold dev`,
`dagster dev`: tests/e2e/test_dev.py), the blocks of the production machine (PostgreSQL and
three Dagster servers: test_production.py), the test suite's own command, and recipes for a
project of the user's (a block that starts with `cd` into a folder it did not make: moving a
Pythonic project to components, which ends with an edit by hand). A command already run in the
same folder is not run twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import REPO as ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.venv, pytest.mark.slow]

SERVER_LINE = re.compile(r"^\s*(dbtscaffold dev|dagster dev)\b")
SERVER_BLOCK = ("dagster code-server", "dagster-daemon")  # the production machine
SUITE = "python -m pytest"  # this suite itself


def blocks(readme: Path) -> list[list[str]]:
    """The commands of README's ```bash blocks (continued lines joined), in order."""
    out: list[list[str]] = []
    current: list[str] = []
    inside = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("```bash"):
            inside, current = True, []
        elif line.startswith("```") and inside:
            inside = False
            out.append(current)
        elif inside:
            if current and current[-1].endswith("\\"):
                current[-1] = current[-1][:-1] + " " + line.strip()
            else:
                current.append(line)
    return out


def runnable(block: list[str]) -> list[str]:
    if any(s in line for line in block for s in SERVER_BLOCK) or any(
        SUITE in line for line in block
    ):
        return []
    if block and re.fullmatch(r"cd \S+\s*(#.*)?", block[0].strip()):  # a recipe: see above
        return []
    return [line for line in block if line.strip() and not SERVER_LINE.match(line)]


def test_every_readme_block_runs_as_written(tmp_path):
    checkout = tmp_path / "dbtscaffold"
    shutil.copytree(
        ROOT, checkout,
        ignore=shutil.ignore_patterns(
            ".git", ".ci-venv", ".venv", "venv*", "__pycache__", "*.egg-info", "build", "dist",
            ".pytest_cache", ".ruff_cache", ".mypy_cache",
        ),
    )  # fmt: skip
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "DAGSTER_", "DBT_"))
    }
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # the user's shell: no venv of ours on it
    activate = f". {checkout / '.venv' / 'bin' / 'activate'}"
    done: set[tuple[str, str]] = set()
    ran: list[str] = []

    def run(block: list[str], cwd: Path) -> Path:
        """Run BLOCK's commands in one shell in CWD; the folder the block ends in."""
        todo = [c for c in runnable(block) if (str(cwd), c) not in done]
        if not todo:
            return cwd
        script = "\n".join(
            ["set -euo pipefail", *([activate] if (checkout / ".venv").is_dir() else [])]
            + [f"{c}\nprintf '\\n@cwd %s\\n' \"$PWD\"" for c in todo]
        )
        proc = subprocess.run(
            ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=1800, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, (
            f"README block failed in {cwd}:\n{script}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
        here = [line[5:] for line in proc.stdout.splitlines() if line.startswith("@cwd ")]
        folder = cwd
        for c, where in zip(todo, here):
            done.add((str(folder), c))
            folder = Path(where)
        ran.extend(todo)
        return folder

    tool = blocks(ROOT / "README.md")
    assert tool[0][0].startswith("python3 -m venv .venv") and "quickstart" in tool[0][1]
    run(tool[0], checkout)  # install, then quickstart
    assert (checkout / "dbtscaffold-quickstart" / "jaffle_shop" / "jaffle_shop.duckdb").is_file()
    project = None
    for i, block in enumerate(tool[1:], 1):
        workdir = tmp_path / f"block{i}"
        workdir.mkdir()
        end = run(block, workdir)
        if (end / "pyproject.toml").is_file() and "init" in " ".join(block):
            project = end  # the last project a block made: its README is next
    assert project is not None and (project / "dist").is_dir()

    generated = blocks(project / "README.md")
    assert generated, "the generated README has no command block"
    for block in generated:
        run(block, project)
    assert any("prepare-and-package" in c for c in ran)
    assert any(c.startswith("DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 pytest") for c in ran)
    assert list((project / "dist").glob("*.whl"))
