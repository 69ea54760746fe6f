"""The fingerprint of everything `dbt parse` reads, so an unchanged project is not parsed.

dbt_project.yml and the other files dbt reads at the top of the project, the folders
dbt_project.yml names (inside the project or outside it, installed packages included),
profiles.yml, the dbt executable and the dbt and adapter versions, every DBT_* variable and
every variable named in an env_var() call. Nothing else in the project folder counts (a
Dagster project nested inside it, as the tutorial lays it out, never makes a load parse).

It errs on the side of parsing: files dbt would ignore (.dbtignore) still count. What it
cannot see: an env_var() whose name is computed rather than quoted, and a folder named in
dbt_project.yml through Jinja other than env_var(); set DBT_-prefixed variables or keep
such folders inside the project.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

from .profiles import ProfileError, load_yaml, render

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
        label = (
            "./" + root.relative_to(project_dir).as_posix()
            if _within(root, project_dir)
            else root.as_posix()
        )
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
