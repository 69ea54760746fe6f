"""What `dbt parse` reads, hashed: top files and the folders dbt_project.yml names (packages
too), profiles.yml, DBT_* and env_var() variables, dbt and its packages' versions. A Dagster
project nested in the dbt project (the tutorial's) is not read, so it never makes a load parse."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

_SUFFIXES = re.compile(r"\.(sql|ya?ml|csv|md|py|jinja2?|j2|sqlx|txt)$", re.IGNORECASE)
_TOP_FILES = ["dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml"]
_TOP_FILES += ["selectors.yml", ".dbtignore"]
# The folder keys of dbt_project.yml (old spellings too), and the folders dbt reads by default.
_FOLDER_KEYS = ["model", "seed", "macro", "snapshot", "test", "analysis", "docs", "source", "data"]
_DEFAULT_FOLDERS = ["models", "seeds", "macros", "snapshots", "tests", "analyses", "dbt_packages"]
_ENV_VAR_RE = re.compile(rb"""env_var\(\s*['"]([^'"]+)['"]""")
_SECRET_RE = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.IGNORECASE)


def dbt_command() -> list[str]:
    """The dbt of the running interpreter's environment, else the one on PATH."""
    exe = Path(sys.executable).parent / ("dbt.exe" if os.name == "nt" else "dbt")
    found = str(exe) if exe.is_file() else shutil.which("dbt")
    return [found] if found else [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]


def run_dbt(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`dbt ARGS` run in CWD, its output captured."""
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    cmd = [*dbt_command(), *args]
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", check=False
    )


def render(value: Any) -> Any:
    """VALUE with its env_var() calls rendered, as text (dbt's own renderer needs dbt's flags
    and invocation context); a KeyError names a variable unset and without default."""
    if not isinstance(value, str) or "{" not in value:
        return value
    import jinja2

    def env_var(name: str, default: str | None = None) -> str:
        if name not in os.environ and default is None:
            raise KeyError(name)
        return os.environ.get(name, default or "")

    env = jinja2.Environment()
    env.filters.update(dict.fromkeys(("as_text", "as_bool", "as_number", "as_native"), str))
    return env.from_string(value).render(env_var=env_var)


def read_folders(text: str) -> list[str]:
    """The folders dbt reads, as dbt_project.yml TEXT names them, and the default ones."""
    import jinja2
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:  # dbt says what is wrong when it parses
        data = None
    data = data if isinstance(data, dict) else {}
    found = list(_DEFAULT_FOLDERS)
    for key in [f"{k}-paths" for k in _FOLDER_KEYS] + ["packages-install-path"]:
        value = data.get(key)
        for v in value if isinstance(value, list) else [value]:
            with contextlib.suppress(KeyError, jinja2.TemplateError):
                v = render(v)
                if isinstance(v, str) and v and "{" not in v:
                    found.append(v)
    return found


def _files(root: Path, seen: set[tuple[int, int]]) -> list[Path]:
    """The files dbt may read under ROOT, following links (each folder once)."""
    out = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        if "dbt_project.yml" in names and Path(folder) != root:  # a package: not its output
            dirs[:] = [d for d in dirs if d not in ("target", "logs")]
        out += [Path(folder, n) for n in names if _SUFFIXES.search(n)]
    return out


def _versions() -> str:
    """The dbt packages installed, with their versions (their macros are in the manifest)."""
    dirs = [d for d in sys.path if os.path.isdir(d)]
    found = [e.name for d in dirs for e in os.scandir(d) if e.name.startswith(("dbt_", "dbt-"))]
    return " ".join(sorted(n for n in found if n.endswith(".dist-info")))


def fingerprint(project_dir: Path, profiles_dir: Path) -> str:
    """A hash of everything `dbt parse` reads for PROJECT_DIR."""
    return digest(inputs(project_dir, profiles_dir))


def digest(parts: dict[str, str]) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:40]


def inputs(project_dir: Path, profiles_dir: Path) -> dict[str, str]:
    """What `dbt parse` reads, each with a digest (a variable: its value), for `check` too."""
    project_dir = Path(project_dir).resolve()
    files = [project_dir / n for n in _TOP_FILES if (project_dir / n).is_file()]
    dbt_project = project_dir / "dbt_project.yml"
    text = dbt_project.read_text("utf-8", "replace") if dbt_project.is_file() else ""
    folders = {(project_dir / os.path.expanduser(f)).resolve() for f in read_folders(text)}
    seen: set[tuple[int, int]] = set()
    for folder in sorted(f for f in folders if f.is_dir() and f != project_dir):
        files += _files(folder, seen)
    files.append(Path(profiles_dir).resolve() / "profiles.yml")
    env_names = {k for k in os.environ if k.upper().startswith("DBT_")}
    parts = {"project": str(project_dir), "dbt": " ".join([_versions(), *dbt_command()])}
    for path in sorted(set(files)):
        try:
            data = path.read_bytes()
        except OSError:
            data = b"\0unreadable"
        rel = os.path.relpath(path, project_dir)  # a package's files outside: absolute
        key = f"file:{path if rel.startswith('..') else rel}"
        parts[key] = hashlib.blake2b(data).hexdigest()[:20]
        env_names.update(n.decode("utf-8", "replace") for n in _ENV_VAR_RE.findall(data))
    for name in sorted(env_names):  # None (unset) and "" differ
        value = repr(os.environ.get(name))
        secret = _SECRET_RE.search(name) and name in os.environ
        parts[f"env:{name}"] = hashlib.blake2b(value.encode()).hexdigest()[:20] if secret else value
    return parts
