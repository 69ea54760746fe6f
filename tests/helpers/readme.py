"""The README tests' blocks, their runner, and the checkout with the README's venv.

`readme_checkout` copies this checkout and runs the tool README's first block in it (a fresh
venv, `pip install -e .`, `dbtscaffold quickstart`) once per test run: xdist's workers share
it through a lock in their common temp folder, so the test modules that run the other blocks
can run on either worker (tests/e2e/test_readme_blocks.py, test_readme_project_blocks.py).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.cli import run as run_command

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


def installs(block: list[str]) -> bool:
    """Whether BLOCK installs into the venv (so it runs in the one test that changes it)."""
    return any(re.search(r"\bpip install\b", line) for line in runnable(block))


def user_env(home: Path | str) -> dict[str, str]:
    """The user's shell: no venv of ours on PATH, none of the tests' settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "DAGSTER_", "DBT_"))
    }
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["HOME"] = str(home)
    return env


@dataclass
class Runner:
    """Runs README blocks in the checkout's venv; a command already run in a folder is not
    run there again."""

    checkout: Path
    env: Mapping[str, str]
    done: set[tuple[str, str]] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)

    def run(self, block: list[str], cwd: Path) -> Path:
        """Run BLOCK's commands in one shell in CWD; the folder the block ends in."""
        todo = [c for c in runnable(block) if (str(cwd), c) not in self.done]
        if not todo:
            return cwd
        venv = self.checkout / ".venv"
        activate = [f". {venv / 'bin' / 'activate'}"] if venv.is_dir() else []
        script = "\n".join(
            ["set -euo pipefail", *activate]
            + [f"{c}\nprintf '\\n@cwd %s\\n' \"$PWD\"" for c in todo]
        )
        proc = run_command(["bash", "-c", script], cwd=cwd, env=self.env, timeout=1800, check=None)
        assert proc.returncode == 0, (
            f"README block failed in {cwd}:\n{script}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
        here = [line[5:] for line in proc.stdout.splitlines() if line.startswith("@cwd ")]
        folder = cwd
        for c, where in zip(todo, here):
            self.done.add((str(folder), c))
            folder = Path(where)
        self.ran.extend(todo)
        return folder


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _install_and_quickstart(checkout: Path, home: Path) -> None:
    shutil.copytree(
        REPO, checkout,
        ignore=shutil.ignore_patterns(
            ".git", ".ci-venv", ".venv", "venv*", "__pycache__", "*.egg-info", "build", "dist",
            ".pytest_cache", ".ruff_cache", ".mypy_cache",
        ),
    )  # fmt: skip
    home.mkdir()
    first = blocks(REPO / "README.md")[0]
    assert first[0].startswith("python3 -m venv .venv") and "quickstart" in first[1], first
    Runner(checkout, user_env(home)).run(first, checkout)


@pytest.fixture(scope="session")
def readme_checkout(tmp_path_factory) -> Path:
    """A copy of this checkout in which the README's first block ran (venv, quickstart).

    Built by the first worker that asks, under a lock the other waits on; a failure is kept
    and reported to every test that asks."""
    root = _shared_root(tmp_path_factory) / "readme"
    root.mkdir(exist_ok=True)
    checkout, failed = root / "dbtscaffold", root / "failed"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not checkout.exists() and not failed.exists():
                try:
                    _install_and_quickstart(checkout, root / "home")
                except BaseException as e:
                    failed.write_text(f"{type(e).__name__}: {e}", encoding="utf-8")
                    raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if failed.exists():
        pytest.fail("the README's first block failed:\n" + failed.read_text(encoding="utf-8"))
    return checkout
