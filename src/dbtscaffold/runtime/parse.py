"""Parse on load: dbt parses only when the fingerprint of what it reads (top files and the
folders dbt_project.yml names, packages too; profiles.yml; DBT_* and env_var() variables; dbt
and its packages' versions) differs from the one recorded with the last parse, or when
target/manifest.json is no longer that parse's. dbt parses into a state folder of its own,
under the locks of locks.py, and the manifest is renamed into place. A Dagster project nested in
the dbt project (the tutorial's) is not read, so it never makes a load parse.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .locks import RUN_FILE, acquire, hold_for_load, release_after_import

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DEV_CLI_ENV = "DAGSTER_IS_DEV_CLI"
FINGERPRINT_FILE = "dbtscaffold_fingerprint.json"
STATE_DIR = "dbtscaffold_parse"
_DISK_FULL = ("No space left on device", "File too large", "Disk quota exceeded")
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


class DbtError(RuntimeError):
    """dbt exited with an error; the message ends with the tail of its output."""


class ManifestMissingError(FileNotFoundError):
    """Parse on load is off and the dbt project has no manifest."""


def parse_on_load_enabled() -> bool:
    """On with DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1/true/yes/on, or when it is unset under
    `dagster dev`/`dg dev` (as dagster-dbt's prepare_if_dev); off with any other value."""
    value = (os.environ.get(PARSE_ON_LOAD_ENV) or "").strip().lower()
    return value in ("1", "true", "yes", "on") if value else bool(os.environ.get(DEV_CLI_ENV))


def read_record(target_path: Path) -> dict[str, Any]:
    """What the last parse recorded: its fingerprint, its manifest's file_id, ..."""
    with contextlib.suppress(OSError, ValueError):
        record = json.loads((target_path / FINGERPRINT_FILE).read_text(encoding="utf-8"))
        return record if isinstance(record, dict) else {}
    return {}


def file_id(path: Path) -> list[int] | None:
    """(inode, size, mtime) of PATH: a `dbt build` by hand that rewrote it changes it."""
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return [st.st_ino, st.st_size, st.st_mtime_ns]
    return None


def _is_current(target_path: Path, current: str) -> bool:
    record, manifest = read_record(target_path), file_id(target_path / "manifest.json")
    now = [record.get("manifest"), record.get("fingerprint")]
    return manifest is not None and now == [manifest, current]


def _run_dbt(args: list[str], project_dir: Path, profiles_dir: Path) -> None:
    dirs = ["--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]
    proc = run_dbt([*args, *dirs], project_dir)
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        tail = "\n".join(output.strip().splitlines()[-25:])
        for reason in (r for r in _DISK_FULL if r in output):
            raise DbtError(
                f"`dbt {args[0]}` could not write its output for {project_dir} ({reason}); free "
                f"some space and try again.\n{tail}"
            )
        raise DbtError(f"`dbt {args[0]}` failed in {project_dir} (exit {proc.returncode}):\n{tail}")


def _parse(project_dir: Path, profiles_dir: Path, target_path: Path) -> None:
    """Parse into TARGET_PATH/manifest.json, recorded if nothing changed while dbt read."""
    parts = inputs(project_dir, profiles_dir)
    state = target_path / STATE_DIR
    if read_record(target_path).get("project_dir") != str(project_dir):
        # A moved project: partial parsing would keep the seeds' old root_path
        # (dagster-io/dagster#33471), so parse from scratch.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(state / "partial_parse.msgpack")
    with contextlib.suppress(FileNotFoundError):  # never take the last parse's for this one's
        os.unlink(state / "manifest.json")
    started = time.time()
    args = ["parse", "--target-path", str(state)]
    try:
        _run_dbt(args, project_dir, profiles_dir)
    except DbtError as e:
        if 'Run "dbt deps"' not in str(e):  # packages declared, not installed: as dagster-dbt
            raise
        _run_dbt(["deps"], project_dir, profiles_dir)
        parts = inputs(project_dir, profiles_dir)
        _run_dbt(args, project_dir, profiles_dir)
    # Into place by a rename (same folder tree): loads see the old manifest or the new one.
    # No record meanwhile: a crash in between makes the next load parse again.
    manifest = target_path / "manifest.json"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target_path / FINGERPRINT_FILE)
    os.replace(state / "manifest.json", manifest)
    # An editor (unlike dbtscaffold's commands) does not wait for our lock: if the files changed
    # while dbt read them, serve this manifest but record nothing, so the next load parses.
    if fingerprint(project_dir, profiles_dir) == digest(parts):
        record: dict[str, Any] = {"fingerprint": digest(parts), "inputs": parts}
        record.update(manifest=file_id(manifest), project_dir=str(project_dir), parsed_at=started)
        with contextlib.suppress(OSError):  # torn or missing, it only makes the next load parse
            (target_path / FINGERPRINT_FILE).write_text(json.dumps(record), encoding="utf-8")


def prepare_manifest(project: Any, *, always: bool = False) -> Path:
    """The manifest of PROJECT (a dagster_dbt.DbtProject), parsed first when parse on load is
    on (or ALWAYS) and anything dbt reads changed since the last parse."""
    manifest = Path(project.manifest_path)
    if not always and not parse_on_load_enabled():
        if manifest.is_file():
            return manifest
        value = os.environ.get(PARSE_ON_LOAD_ENV) or "unset"
        raise ManifestMissingError(
            f"{manifest} does not exist and parse on load is off ({PARSE_ON_LOAD_ENV}={value}): "
            f"run `dbtscaffold dev` or `dagster dev`, set {PARSE_ON_LOAD_ENV}=1, or run "
            f"`dbt parse` in {project.project_dir} first."
        )
    project_dir, profiles_dir = Path(project.project_dir).resolve(), Path(project.profiles_dir)
    target_path = project_dir / project.target_path
    # Shared with other loads, exclusive of changes (locks.py): from the fingerprint to the end
    # of the import of the definitions, this load sees the project before a change or after it.
    release = hold_for_load(target_path)
    try:
        if not _is_current(target_path, fingerprint(project_dir, profiles_dir)):
            # One load parses; the others wait for it, and reuse its manifest.
            run = acquire(target_path / RUN_FILE, exclusive=True, timeout=None)
            try:
                if not _is_current(target_path, fingerprint(project_dir, profiles_dir)):
                    _parse(project_dir, profiles_dir, target_path)
            finally:
                os.close(run)
    except BaseException:
        release()
        raise
    release_after_import(release)
    return manifest
