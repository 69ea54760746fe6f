"""`init --lock`: the generated project's uv.lock, resolved by uv before anything is written.

uv locks the planned pyproject.toml (and README.md, which it names) in a temporary folder,
starting from the project's uv.lock when there is one, so that `--dry-run` shows the lock and a
failed resolution changes nothing. uv's own settings choose the index (UV_INDEX_URL,
UV_FIND_LINKS, uv.toml, UV_OFFLINE=1 for its cache only).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from dbtscaffold import proc
from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.errors import UserError

LOCK_FILE = "uv.lock"


def find_uv() -> str | None:
    """The uv of the running interpreter's environment, else the one on PATH."""
    here = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    return str(here) if here.is_file() else shutil.which("uv")


def plan_uv_lock(plan: Plan, project_dir: Path) -> FileChange:
    """The change that writes PROJECT_DIR/uv.lock for the files PLAN writes there."""
    uv = find_uv()
    if uv is None:
        raise UserError(
            "--lock needs uv, which is not installed here: `pip install uv` (or see "
            "https://docs.astral.sh/uv/), or run init without --lock; nothing was changed."
        )
    planned = {c.path: c.after for c in plan.changes if c.after is not None}
    lock = project_dir / LOCK_FILE
    before = lock.read_bytes() if lock.is_file() else None
    with tempfile.TemporaryDirectory(prefix="dbtscaffold-lock-") as tmp:
        for name, data in (("pyproject.toml", None), ("README.md", None), (LOCK_FILE, before)):
            data = planned.get(project_dir / name, data)
            if data is not None:
                (Path(tmp) / name).write_bytes(data)
        # The interpreter dbtscaffold runs on, unless uv is told another: never a download.
        env = {"UV_PYTHON": sys.executable, **os.environ, "UV_NO_PROGRESS": "1"}
        try:
            proc.run([uv, "lock"], cwd=Path(tmp), env=env)
        except proc.ProcessError as e:
            lines = [ln.strip(" ×╰─▶│") for ln in e.stderr.splitlines() if ln.strip()]
            first = next((ln for ln in lines if ln.startswith(("error:", "No solution"))), "")
            last = lines[-1].removeprefix("cause: ") if lines else f"exit {e.returncode}"
            reason = (
                f"{first.removeprefix('error: ')}: {last}" if first and first != lines[-1] else last
            )
            raise UserError(
                f"`uv lock` could not resolve the dependencies of `{project_dir.name}` ({reason}); "
                "is the package index reachable (uv's UV_INDEX_URL, UV_FIND_LINKS or uv.toml; "
                "UV_OFFLINE=1 locks from uv's cache)? Or run init without --lock; nothing was "
                "changed.",
                details=e.stderr,
            ) from e
        return FileChange(lock, before, (Path(tmp) / LOCK_FILE).read_bytes())
