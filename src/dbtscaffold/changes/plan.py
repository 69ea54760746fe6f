"""Plans are data: the file changes a command means to make, and their unified diff."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FileChange:
    """Create (before is None), update, or delete (after is None) one file.

    `label` overrides the verb shown for the change (e.g. "move" for the two
    halves of a file move).
    """

    path: Path
    before: bytes | None
    after: bytes | None
    label: str | None = None
    executable: bool = False

    @property
    def verb(self) -> str:
        if self.label:
            return self.label
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        return "identical" if self.before == self.after else "update"

    @property
    def is_noop(self) -> bool:
        return self.before == self.after


@dataclass
class Plan:
    """An ordered list of file changes under ROOTS (no write may land outside them)."""

    roots: tuple[Path, ...]
    changes: list[FileChange] = field(default_factory=list)
    description: str = ""

    def add(self, change: FileChange) -> None:
        self.changes.append(change)

    def extend(self, changes: Iterable[FileChange]) -> None:
        self.changes.extend(changes)

    @property
    def effective(self) -> list[FileChange]:
        return [c for c in self.changes if not c.is_noop]

    @property
    def is_empty(self) -> bool:
        return not self.effective

    def display_path(self, path: Path) -> str:
        """PATH relative to the parent of the first root it is in (as `relative_to`)."""
        # Strings, not Path.relative_to: a plan's diff and report show a thousand paths.
        p = str(path)
        for root in self.roots:
            parent = str(root.parent)
            prefix = parent if parent.endswith(os.sep) else parent + os.sep
            if p.startswith(prefix):
                return p[len(prefix) :].replace(os.sep, "/")
            if p == parent:
                return "."
        return path.as_posix()

    def moves(self) -> dict[Path, Path]:
        """{from: to} for each file the plan deletes and creates elsewhere with the same bytes."""
        created: dict[bytes, list[Path]] = {}
        for c in self.effective:
            if c.before is None and c.after:  # empty files are not moves (as git)
                created.setdefault(c.after, []).append(c.path)
        moves = {}
        for c in self.effective:
            if c.after is None and c.before and created.get(c.before):
                moves[c.path] = created[c.before].pop(0)
        return moves

    def _shown(self) -> Iterable[tuple[FileChange, Path | None]]:
        """(change, where it moves the file to) per change to show; a move's target is not."""
        moves = self.moves()
        targets = set(moves.values())
        return ((c, moves.get(c.path)) for c in self.effective if c.path not in targets)

    def summary(self) -> list[tuple[str, str]]:
        """(verb, path) per change, a move as one `from -> to` line."""
        return [
            ("move", f"{self.display_path(c.path)} -> {self.display_path(to)}")
            if to
            else (c.verb, self.display_path(c.path))
            for c, to in self._shown()
        ]

    def diff(self) -> str:
        """A unified diff of every effective change, paths shown relative to the roots' parent.

        A moved file is shown as git shows a rename, not as its whole text twice.
        """
        out = []
        for c, to in self._shown():
            a = self.display_path(c.path)
            if to:
                b = self.display_path(to)
                out.append(
                    f"diff --git a/{a} b/{b}\nsimilarity index 100%\n"
                    f"rename from {a}\nrename to {b}\n"
                )
            else:
                out.append(unified_diff(c.before, c.after, a))
        return "".join(out)


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def _is_binary(data: bytes | None) -> bool:
    return data is not None and b"\0" in data[:8192]


# A diff of a file this large (dbt's manifest.json, one 600 KB line) helps nobody.
DIFF_SIZE_LIMIT = 256 * 1024


def unified_diff(before: bytes | None, after: bytes | None, name: str) -> str:
    """A unified diff of one file; /dev/null stands for a missing side."""
    a_name = "/dev/null" if before is None else f"a/{name}"
    b_name = "/dev/null" if after is None else f"b/{name}"
    if _is_binary(before) or _is_binary(after):
        return f"Binary files {a_name} and {b_name} differ\n"
    size = max(len(before or b""), len(after or b""))
    if size > DIFF_SIZE_LIMIT:
        return f"Files {a_name} and {b_name} differ ({size:,} bytes: too large to show)\n"
    out = []
    for line in difflib.unified_diff(_lines(before), _lines(after), a_name, b_name):
        out.append(line)
        if not line.endswith("\n"):
            # Same fix as black's diff: say so rather than gluing lines together.
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def plan_from_texts(
    originals: dict[Path, bytes | None],
    texts: dict[Path, str],
    roots: tuple[Path, ...],
    deleted: frozenset[Path] = frozenset(),
    description: str = "",
) -> Plan:
    """A plan with one FileChange per edited text (sorted by path); DELETED files go."""
    plan = Plan(roots=roots, description=description)
    for path in sorted(texts):
        after = None if path in deleted else texts[path].encode("utf-8")
        before = originals.get(path)
        if after != before:
            plan.add(FileChange(path, before, after))
    return plan
