"""Read-only view of a dbt project's files for convert-seed: seeds, text files, kinds.

Every text file dbt reads from the project's resource paths is read once and decoded as
UTF-8 up front, so that a file dbtscaffold cannot read stops the command before anything
is planned, with the file named. Paths are plain strings here: a project has thousands of
files, and building a `Path` for each costs more than reading it (see bench/RESULTS.md).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.errors import UserError

TEXT_SUFFIXES = {".sql": "sql", ".yml": "yaml", ".yaml": "yaml", ".py": "python"}
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".venv", "venv"})


@dataclass(frozen=True)
class SeedFile:
    """A seed CSV: its name, where it is, and its folders below the seed path."""

    name: str
    path: Path
    folders: tuple[str, ...]


@dataclass(frozen=True)
class TextFile:
    path: str
    kind: str  # "sql" (any Jinja file), "yaml" or "python"
    raw: bytes
    text: str


def _walk(root: str) -> list[str]:
    # dbt follows symlinked folders, so refs behind them are rewritten too (apply refuses
    # the write if the link leads out of the project); a folder reached twice is read once.
    out: list[str] = []
    seen: set[str] = set()
    join = os.path.join
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        out.extend(join(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return out


def _unique_dirs(dbt: DbtProjectInfo, names: tuple[str, ...]) -> list[Path]:
    """Existing resource folders of DBT, de-duplicated, nested ones folded into their parent.

    Folders outside the project (a path like `../shared` or a symlink) are read too: a ref
    there must not be missed; apply refuses to write there, so the change stops with a
    clear line instead of leaving a ref to a seed that no longer exists.
    """
    dirs: list[Path] = []
    for name in names:
        d = (dbt.dir / name).resolve()
        if d.is_dir() and d not in dirs:
            dirs.append(d)
    return [d for d in dirs if not any(o != d and d.is_relative_to(o) for o in dirs)]


def read_bytes(path: str) -> bytes:
    """The bytes of the file at PATH.

    os.open and os.read make half the system calls of open() (no fstat, isatty or
    lseek), which counts over thousands of small files.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def under(path: str, root: str) -> bool:
    """True when PATH (a normalised absolute path) is ROOT or inside it, like is_relative_to."""
    return path.startswith(root) and (
        len(path) == len(root) or path[len(root)] == os.sep or root.endswith(os.sep)
    )


def decode(path: Path | str, raw: bytes) -> str:
    """RAW as UTF-8, or a UserError naming PATH."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(
            f"`{path}` is not valid UTF-8 (line {line}); save it as UTF-8 and retry."
        ) from None


class ProjectFiles:
    """The seeds and text files of one dbt project (read once, at construction)."""

    def __init__(self, dbt: DbtProjectInfo) -> None:
        self.dbt = dbt
        self.dir = str(dbt.dir)
        self.seed_roots = _unique_dirs(dbt, dbt.seed_paths)
        self.model_roots = _unique_dirs(dbt, dbt.model_paths)
        self.snapshot_roots = _unique_dirs(dbt, dbt.snapshot_paths)
        self._model_dirs = [str(m) for m in self.model_roots]
        self.seeds: dict[str, list[SeedFile]] = {}
        for root in map(str, self.seed_roots):
            for p in _walk(root):
                if p[-4:].lower() == ".csv":
                    parts = p[len(root) + 1 :].split(os.sep)
                    name = parts[-1][:-4]
                    self.seeds.setdefault(name, []).append(
                        SeedFile(name, Path(p), tuple(parts[:-1]))
                    )
        self.texts: dict[str, TextFile] = {}
        for source_root in _unique_dirs(dbt, dbt.source_paths()):
            for p in _walk(str(source_root)):
                kind = TEXT_SUFFIXES.get(os.path.splitext(p)[1].lower())
                if kind == "python" and not self.in_models(p):
                    continue
                if kind is not None:
                    self._add(p, kind)
        self._add(str(dbt.yml_path), "yaml")

    def _add(self, path: str, kind: str) -> None:
        raw = read_bytes(path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = decode(self.shown(path), raw)  # raises, naming the file
        self.texts[path] = TextFile(path, kind, raw, text)

    def in_models(self, path: str) -> bool:
        return any(under(path, m) for m in self._model_dirs)

    def yaml_files(self) -> list[TextFile]:
        yml = str(self.dbt.yml_path)
        return [t for t in self.texts.values() if t.kind == "yaml" and t.path != yml]

    def find_seed(self, name: str) -> SeedFile | None:
        """The seed CSV called NAME, None if there is none; an error if there are two."""
        found = self.seeds.get(name, [])
        if len(found) > 1:
            where = ", ".join(f"`{self.rel(s.path)}`" for s in found)
            raise UserError(
                f"Seed `{name}` is ambiguous: {where}; dbt needs seed names to be unique, "
                "rename one."
            )
        return found[0] if found else None

    def unknown_seed(self, name: str) -> UserError:
        names = sorted(self.seeds)
        where = ", ".join(f"`{self.rel(r)}/`" for r in self.seed_roots) or "the seed paths"
        if not names:
            return UserError(f"Seed `{name}` not found: there are no seeds (CSV files) in {where}.")
        # Case is ignored: `RAW_CUSTOMERS` means `raw_customers`.
        lowered = {n.lower(): n for n in reversed(names)}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        hint = f" Did you mean `{lowered[close[0]]}`?" if close else ""
        listed = ", ".join(f"`{n}`" for n in names)
        return UserError(f"Seed `{name}` not found in {where} (seeds there: {listed}).{hint}")

    def rel(self, path: Path | str) -> str:
        p = str(path)
        if not under(p, self.dir):
            return p
        prefix = self.dir if self.dir.endswith(os.sep) else self.dir + os.sep
        return p[len(prefix) :].replace(os.sep, "/") or "."

    def shown(self, path: Path | str) -> str:
        """PATH as messages show it: `<dbt project folder>/<path in it>`."""
        rel = self.rel(path)
        return rel if rel == str(path) else f"{self.dbt.dir.name}/{rel}"


def csv_header(raw: bytes, delimiter: str) -> list[str]:
    """The column names in the first row of a CSV file's bytes."""
    text = raw.decode("utf-8-sig", errors="replace")
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter or ","), [])
    return [c.strip() for c in first]
