"""Read-only view of a dbt project's files for convert-seed: seeds, text files, kinds.

Every text file dbt reads from the project's resource paths is decoded as UTF-8 up
front, so that a file dbtscaffold cannot read stops the command before anything is
planned, with the file named.
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
    path: Path
    kind: str  # "sql" (any Jinja file), "yaml" or "python"
    raw: bytes
    text: str


def _walk(root: Path) -> list[Path]:
    # dbt follows symlinked folders, so refs behind them are rewritten too (apply refuses
    # the write if the link leads out of the project); a folder reached twice is read once.
    out: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
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
        self.seed_roots = _unique_dirs(dbt, dbt.seed_paths)
        self.model_roots = _unique_dirs(dbt, dbt.model_paths)
        self.snapshot_roots = _unique_dirs(dbt, dbt.snapshot_paths)
        self.seeds: dict[str, list[SeedFile]] = {}
        for root in self.seed_roots:
            for p in _walk(root):
                if p.suffix.lower() == ".csv":
                    rel = p.relative_to(root)
                    self.seeds.setdefault(p.stem, []).append(SeedFile(p.stem, p, rel.parts[:-1]))
        self.texts: dict[Path, TextFile] = {}
        for root in _unique_dirs(dbt, dbt.source_paths()):
            for p in _walk(root):
                kind = TEXT_SUFFIXES.get(p.suffix.lower())
                if kind == "python" and not any(p.is_relative_to(m) for m in self.model_roots):
                    continue
                if kind is not None:
                    self._add(p, kind)
        self._add(dbt.yml_path, "yaml")

    def _add(self, path: Path, kind: str) -> None:
        raw = path.read_bytes()
        self.texts[path] = TextFile(path, kind, raw, decode(self.shown(path), raw))

    def in_models(self, path: Path) -> bool:
        return any(path.is_relative_to(m) for m in self.model_roots)

    def yaml_files(self) -> list[TextFile]:
        return [t for t in self.texts.values() if t.kind == "yaml" and t.path != self.dbt.yml_path]

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

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.dbt.dir).as_posix()
        except ValueError:
            return str(path)

    def shown(self, path: Path) -> str:
        """PATH as messages show it: `<dbt project folder>/<path in it>`."""
        rel = self.rel(path)
        return rel if rel == str(path) else f"{self.dbt.dir.name}/{rel}"


def csv_header(raw: bytes, delimiter: str) -> list[str]:
    """The column names in the first row of a CSV file's bytes."""
    text = raw.decode("utf-8-sig", errors="replace")
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter or ","), [])
    return [c.strip() for c in first]
