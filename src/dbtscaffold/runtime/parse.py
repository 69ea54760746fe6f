"""Parse on load, skipped when nothing dbt reads has changed.

`prepare_manifest(project)` takes a dagster_dbt.DbtProject. When parse on load is on (see
`parse_on_load_enabled`) it fingerprints everything `dbt parse` reads: dbt_project.yml and
the other files dbt reads at the top of the project, the folders dbt_project.yml names
(inside the project or outside it, installed packages included), profiles.yml, the dbt
executable and the dbt and adapter versions, every DBT_* variable and every variable named
in an env_var() call. When the fingerprint matches the one recorded with the last parse,
and the manifest is still the file that parse wrote, the manifest is reused and dbt is not
started at all. Otherwise dbt parses (partial parsing on) into its own state folder, and
the manifest is copied into place atomically, under a lock, so that concurrent loads never
read a half-written file. When parse on load is off, the manifest already there is used.

The fingerprint errs on the side of parsing: files dbt would ignore (.dbtignore) still
count. What it cannot see: an env_var() whose name is computed rather than quoted, and a
folder named in dbt_project.yml through Jinja other than env_var(); set DBT_-prefixed
variables or keep such folders inside the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .profiles import ProfileError, load_yaml, profile_name, read_yaml, render

PARSE_ON_LOAD_ENV = "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"
DEV_CLI_ENV = "DAGSTER_IS_DEV_CLI"
FINGERPRINT_FILE = "dbtscaffold_fingerprint.json"
STATE_DIR = "dbtscaffold_parse"
LOCK_FILE = ".dbtscaffold_parse.lock"

# Files dbt can read from a project; other files (databases, logs, editor files) are ignored.
_SUFFIXES = frozenset(
    {".sql", ".yml", ".yaml", ".csv", ".md", ".py", ".jinja", ".jinja2", ".j2", ".sqlx", ".txt"}
)
_NAMES = frozenset({".dbtignore"})
# dbt writes its anonymous user id here (in the profiles folder) but never parses it.
_IGNORED_NAMES = frozenset({".user.yml"})
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".dbtscaffold",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
    }
)
_ENV_VAR_RE = re.compile(rb"""env_var\(\s*['"]([^'"]+)['"]""")
# dbt_project.yml keys naming folders dbt reads (old spellings included) or writes.
_SOURCE_KEYS = (
    "model-paths",
    "seed-paths",
    "macro-paths",
    "snapshot-paths",
    "test-paths",
    "analysis-paths",
    "docs-paths",
    "source-paths",
    "data-paths",
    "packages-install-path",
)
_OUTPUT_KEYS = ("target-path", "log-path")
# Files at the top of a project that dbt reads (profiles.yml is fingerprinted on its own).
_TOP_LEVEL_FILES = (
    "dbt_project.yml",
    "packages.yml",
    "dependencies.yml",
    "package-lock.yml",
    "selectors.yml",
    ".dbtignore",
)
_DEFAULT_SOURCES = ("models", "seeds", "macros", "snapshots", "tests", "analyses", "dbt_packages")


def parse_on_load_enabled() -> bool:
    """Whether the definitions parse the dbt project when they load.

    On when DAGSTER_DBT_PARSE_PROJECT_ON_LOAD is 1/true/yes/on, or when it is unset and
    DAGSTER_IS_DEV_CLI is set (as `dagster dev` and `dg dev` do, like dagster-dbt's
    prepare_if_dev); 0/false/no/off (or any other value) turn it off everywhere.
    """
    value = os.environ.get(PARSE_ON_LOAD_ENV)
    if value is None or not value.strip():
        return bool(os.environ.get(DEV_CLI_ENV))
    return value.strip().lower() in ("1", "true", "yes", "on")


# --- what dbt_project.yml says about folders ------------------------------------------


def _path_value(value: object) -> str | None:
    """The folder a dbt_project.yml value names, env_var() rendered; None if unknowable."""
    if not isinstance(value, str):
        return None
    try:
        rendered = render(value)
    except ProfileError:
        return None
    if not isinstance(rendered, str) or not rendered or "{" in rendered:
        return None
    return rendered


def project_paths(text: str) -> dict[str, list[str | None]]:
    """The folder keys of dbt_project.yml TEXT (top level only), as lists of paths.

    A value that cannot be resolved (Jinja other than env_var()) becomes None.
    """
    import yaml

    try:
        data = load_yaml(text)
    except yaml.YAMLError:  # dbt itself reports a broken dbt_project.yml when it parses
        return {}
    if not isinstance(data, dict):
        return {}
    found: dict[str, list[str | None]] = {}
    for key in (*_SOURCE_KEYS, *_OUTPUT_KEYS):
        value = data.get(key)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        found[key] = [_path_value(v) for v in values]
    return found


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _roots_and_skips(project_dir: Path, target_path: Path) -> tuple[list[Path], set[Path]]:
    """The folders dbt reads (inside the project or not), and the folders dbt writes."""
    try:
        text = (project_dir / "dbt_project.yml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    config = project_paths(text)

    def resolve(values: list[str | None]) -> list[Path]:
        return [(project_dir / os.path.expanduser(v)).resolve() for v in values if v]

    sources = resolve([v for k in _SOURCE_KEYS for v in config.get(k, [])])
    sources += resolve(list(_DEFAULT_SOURCES))
    outputs = [target_path.resolve(), project_dir / "target", project_dir / "logs"]
    outputs += resolve([v for k in _OUTPUT_KEYS for v in config.get(k, [])])
    outputs += resolve([os.environ.get("DBT_TARGET_PATH"), os.environ.get("DBT_LOG_PATH")])
    skips = {
        out
        for out in outputs
        # Never skip a folder dbt reads from, or the project itself.
        if not _within(project_dir, out)
        and not any(_within(src, out) or _within(out, src) for src in sources)
    }
    roots = sorted({src for src in sources if src != project_dir})
    return roots, skips


# --- the fingerprint ------------------------------------------------------------------


def _dir_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _collect(
    root: Path,
    skip_ids: set[tuple[int, int]],
    seen: set[tuple[int, int]],
    out: list[tuple[str, str]],
    label: str,
) -> None:
    """Append (label, path) for every file dbt may read under ROOT, following symlinks."""
    root_id = _dir_id(str(root))
    if root_id is None or root_id in seen:
        return
    seen.add(root_id)
    stack = [(str(root), label)]
    while stack:
        d, rel = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        names = {e.name for e in entries}
        if "pyvenv.cfg" in names:  # a virtualenv, whatever its name
            continue
        # A package's own target/ and logs/ (it has its own dbt_project.yml) are not read.
        nested_project = rel != label and "dbt_project.yml" in names
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:
                continue
            if is_dir:
                if e.name in _SKIP_DIRS or (nested_project and e.name in ("target", "logs")):
                    continue
                dir_id = _dir_id(e.path)  # follows symlinks: a linked folder counts once
                if dir_id is None or dir_id in seen or dir_id in skip_ids:
                    continue
                seen.add(dir_id)
                stack.append((e.path, f"{rel}/{e.name}"))
            elif e.name in _NAMES or (
                e.name not in _IGNORED_NAMES and os.path.splitext(e.name)[1].lower() in _SUFFIXES
            ):
                out.append((f"{rel}/{e.name}", e.path))


def dbt_command() -> list[str]:
    """The dbt executable of the running interpreter's environment, else dbt on PATH."""
    exe = Path(sys.executable).parent / ("dbt.exe" if os.name == "nt" else "dbt")
    if exe.is_file():
        return [str(exe)]
    on_path = shutil.which("dbt")
    if on_path:
        return [on_path]
    return [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]


def _versions(packages: tuple[str, ...]) -> list[str]:
    from importlib import metadata

    out = []
    for name in ("dbt-core", "dbt-adapters", "dbt-common", *packages):
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name}==missing")
    return out


def fingerprint(
    project_dir: Path,
    profiles_dir: Path,
    target_path: Path,
    packages: tuple[str, ...] = (),
) -> str:
    """A hash of everything `dbt parse` reads for PROJECT_DIR."""
    project_dir = Path(project_dir).resolve()
    target_path = Path(target_path)
    if not target_path.is_absolute():
        target_path = project_dir / target_path
    roots, skips = _roots_and_skips(project_dir, target_path)
    skip_ids = {i for i in (_dir_id(str(s)) for s in skips) if i is not None}
    seen: set[tuple[int, int]] = set()
    # Only what dbt reads: the files at the top of the project and the folders
    # dbt_project.yml names. Anything else there (a Dagster project nested inside the dbt
    # project, as the tutorial lays it out, with its data/ and .dagster_home/) is not read.
    files: list[tuple[str, str]] = [
        (f"./{name}", str(project_dir / name))
        for name in _TOP_LEVEL_FILES
        if (project_dir / name).is_file()
    ]
    for root in roots:
        label = "./" + root.relative_to(project_dir).as_posix() if _within(root, project_dir) else root.as_posix()
        _collect(root, skip_ids, seen, files, label)
    files.sort()

    h = hashlib.blake2b(digest_size=20)
    env_names: set[bytes] = set()

    def add(label: str, data: bytes) -> None:
        h.update(label.encode("utf-8", "surrogateescape") + b"\0")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    add("project", str(project_dir).encode("utf-8", "surrogateescape"))
    for rel, path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            data = b"\0unreadable"
        add("file:" + rel, data)
        if b"env_var" in data:
            env_names.update(_ENV_VAR_RE.findall(data))
    profiles = Path(profiles_dir) / "profiles.yml"
    try:
        pdata = profiles.read_bytes()
    except OSError:
        pdata = b"\0missing"
    add("profiles:" + str(profiles.resolve()), pdata)
    env_names.update(_ENV_VAR_RE.findall(pdata))
    names = {n.decode("utf-8", "replace") for n in env_names}
    names.update(k for k in os.environ if k.upper().startswith("DBT_"))
    for name in sorted(names):
        add("env:" + name, os.environ.get(name, "\0unset").encode("utf-8", "surrogateescape"))
    add("versions", "\n".join(_versions(tuple(packages))).encode())
    add("dbt", "\0".join(dbt_command()).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# --- parse, lock, atomic writes -------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if os.name == "nt":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for ~10 s itself
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_record(target_path: Path) -> dict[str, object]:
    try:
        record = json.loads((target_path / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _file_id(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _is_current(target_path: Path, current: str) -> bool:
    """True when the last parse saw CURRENT and target/manifest.json is still its output."""
    record = _read_record(target_path)
    if record.get("fingerprint") != current:
        return False
    # A `dbt build` run by hand rewrites target/manifest.json (maybe with other vars or
    # another target): then it is not the manifest our parse wrote.
    manifest_id = _file_id(target_path / "manifest.json")
    return manifest_id is not None and record.get("manifest") == manifest_id


def _write_atomic(path: Path, data: bytes | None = None, src: Path | None = None) -> None:
    """Write DATA (or a copy of SRC) to PATH so that readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode follows umask
    try:
        with os.fdopen(fd, "wb") as f:
            if src is not None:
                with open(src, "rb") as s:
                    shutil.copyfileobj(s, f, 1 << 20)
            else:
                f.write(data or b"")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class DbtError(RuntimeError):
    """dbt exited with an error; the message ends with the tail of its output."""


def _run_dbt(args: list[str], project_dir: Path, profiles_dir: Path) -> None:
    cmd = [
        *dbt_command(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir),
    ]
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(
        cmd, cwd=project_dir, env=env, capture_output=True, text=True, errors="replace", check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise DbtError(f"`dbt {args[0]}` failed in {project_dir} (exit {proc.returncode}):\n{tail}")


def run_dbt_parse(project_dir: Path, profiles_dir: Path, state_dir: Path) -> Path:
    """Run `dbt parse` (partial parsing on) writing into STATE_DIR; return its manifest."""
    _run_dbt(["parse", "--target-path", str(state_dir)], project_dir, profiles_dir)
    manifest = state_dir / "manifest.json"
    if not manifest.is_file():
        raise DbtError(f"`dbt parse` wrote no manifest in {state_dir}")
    return manifest


def _prepare(
    project_dir: Path,
    profiles_dir: Path,
    target_path: Path,
    packages: tuple[str, ...] = (),
) -> Path:
    """TARGET_PATH/manifest.json for the project as it is now, parsing only if it changed."""
    project_dir = Path(project_dir).resolve()
    target_path = Path(target_path)
    if not target_path.is_absolute():
        target_path = project_dir / target_path
    manifest = target_path / "manifest.json"
    if _is_current(target_path, fingerprint(project_dir, profiles_dir, target_path, packages)):
        return manifest
    with _locked(target_path / LOCK_FILE):
        # Another process may have parsed while we waited for the lock. The fingerprint
        # is taken before the parse and recorded with it: an edit made during the parse
        # changes the next fingerprint, so it is never served a stale manifest.
        current = fingerprint(project_dir, profiles_dir, target_path, packages)
        if _is_current(target_path, current):
            return manifest
        state_dir = target_path / STATE_DIR
        if _read_record(target_path).get("project_dir") != str(project_dir):
            # Seeds carry an absolute root_path that partial parsing would keep after the
            # project moved (see dagster-io/dagster#33471): parse from scratch.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(state_dir / "partial_parse.msgpack")
        started = time.time()
        try:
            parsed = run_dbt_parse(project_dir, profiles_dir, state_dir)
        except DbtError as e:
            # Packages declared but not installed: install them and parse again, as
            # dagster-dbt's DbtProject.prepare_if_dev() does.
            if 'Run "dbt deps"' not in str(e):
                raise
            _run_dbt(["deps"], project_dir, profiles_dir)
            current = fingerprint(project_dir, profiles_dir, target_path, packages)
            parsed = run_dbt_parse(project_dir, profiles_dir, state_dir)
        # No record while the manifest is replaced: a crash in between leaves none, so
        # the next load parses again instead of trusting a record of another manifest.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target_path / FINGERPRINT_FILE)
        _write_atomic(manifest, src=parsed)
        record = {
            "fingerprint": current,
            "manifest": _file_id(manifest),
            "project_dir": str(project_dir),
            "parsed_at": started,
        }
        _write_atomic(target_path / FINGERPRINT_FILE, json.dumps(record).encode())
    return manifest


class ManifestMissingError(FileNotFoundError):
    """Parse on load is off and the dbt project has no manifest."""


def _adapter_packages(profiles_dir: Path, project_dir: Path) -> tuple[str, ...]:
    """The adapter packages of the targets of the profile in use (for the fingerprint)."""
    try:
        profiles = read_yaml(Path(profiles_dir) / "profiles.yml") or {}
        profile = profiles.get(profile_name(project_dir)) or {}
        types = {str(cfg.get("type", "")) for cfg in (profile.get("outputs") or {}).values()}
    except (ProfileError, AttributeError, TypeError):
        return ()
    return tuple(sorted(f"dbt-{t.replace('_', '-')}" for t in types if t))


def prepare_manifest(project: Any) -> Path:
    """The manifest of PROJECT (a dagster_dbt.DbtProject) that the dbt assets are built from.

    With parse on load on, the project is parsed first if anything dbt reads changed since
    the last parse; otherwise the manifest must already be there (made by `dbt parse` or
    packaged with the code).
    """
    manifest = Path(project.manifest_path)
    if not parse_on_load_enabled():
        if not manifest.is_file():
            raise ManifestMissingError(
                f"{manifest} does not exist and parse on load is off "
                f"({PARSE_ON_LOAD_ENV}={os.environ.get(PARSE_ON_LOAD_ENV, '')!r}). Run "
                f"`dbtscaffold dev` or `dagster dev` (they parse the dbt project when the "
                f"definitions load), set {PARSE_ON_LOAD_ENV}=1, or run `dbt parse` in "
                f"{project.project_dir} first."
            )
        return manifest
    project_dir = Path(project.project_dir)
    profiles_dir = Path(project.profiles_dir)
    target_path = project_dir / project.target_path
    return _prepare(
        project_dir, profiles_dir, target_path, _adapter_packages(profiles_dir, project_dir)
    )
