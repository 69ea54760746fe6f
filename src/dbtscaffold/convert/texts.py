"""The files convert-seed plans over, in memory: their bytes on disk and the edits so far.

The dbt project's files are read once (dbt/files.py); every edit of a run is made to the
text held here, and the plan is the difference from the bytes read. Paths are strings
(keys of dicts over thousands of files); only the files that change become `Path`s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dbtscaffold.changes.plan import Plan, plan_from_texts
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.dbt.files import ProjectFiles, decode, under
from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.errors import UserError


def path_order(path: str) -> list[str]:
    """Sort key giving strings the order of their `Path`s (by component, not by character)."""
    return path.split(os.sep)


class ProjectTexts:
    """The dbt project's text files and the Dagster project's files convert-seed edits."""

    def __init__(self, dbt: DbtProjectInfo, dagster: DagsterProjectInfo) -> None:
        self.dbt, self.dagster = dbt, dagster
        self.files = ProjectFiles(dbt)
        self.yml = str(dbt.yml_path)
        self.originals: dict[str, bytes | None] = {p: t.raw for p, t in self.files.texts.items()}
        self.kinds: dict[str, str] = {p: t.kind for p, t in self.files.texts.items()}
        self.edited: dict[str, str] = {}  # edited texts
        self._docs: dict[str, Any] = {}  # parsed YAML of a path's current text (yaml_edit.Doc)
        self._roots = [(str(root), root.name) for root in (dbt.dir, dagster.dir)]

    def read(self, path: Path, what: str) -> str:
        """PATH's text, remembered as an original; a UserError if it is missing."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise UserError(
                f"{what} `{path}` is missing; run `dbtscaffold init --force`."
            ) from None
        self.originals[str(path)] = raw
        return decode(path, raw)

    def read_optional(self, path: Path) -> str | None:
        """PATH's text (None if it does not exist), remembered as an original."""
        raw = path.read_bytes() if path.is_file() else None
        self.originals[str(path)] = raw
        return decode(path, raw) if raw is not None else None

    def rel(self, path: Path | str) -> str:
        """PATH as messages show it: `<project folder>/<path in it>`."""
        p = str(path)
        for root, name in self._roots:
            if under(p, root):
                rest = p[len(root) :].lstrip(os.sep).replace(os.sep, "/")
                return f"{name}/{rest or '.'}"
        return p

    def text(self, path: str) -> str | None:
        if path in self.edited:
            return self.edited[path]
        tf = self.files.texts.get(path)
        return tf.text if tf else None

    def set_text(self, path: str, text: str) -> None:
        """PATH's text becomes TEXT (a file not read before is one the plan creates)."""
        self.originals.setdefault(path, None)
        self.edited[path] = text

    def add_file(self, path: str, kind: str) -> None:
        """PATH, a file of KIND the plan may create, is one of the files edited here."""
        self.kinds.setdefault(path, kind)
        self.originals.setdefault(path, None)

    def yaml_paths(self) -> list[str]:
        """The property files (every YAML file but dbt_project.yml), in path order."""
        yaml = (p for p, k in self.kinds.items() if k == "yaml" and p != self.yml)
        return sorted(yaml, key=path_order)

    def source_files(self) -> Iterator[tuple[str, Any]]:
        """(path, parsed YAML) of the property files that declare sources."""
        for path in self.yaml_paths():
            if "sources" in (self.text(path) or ""):
                yield path, self.load(path)

    def doc(self, path: str) -> Any:
        """PATH's current text parsed (a yaml_edit.Doc), parsed once while the text holds.

        Round-trip parsing is the slow part of convert-seed's YAML work: a file that is
        looked up, then edited, is parsed once. Readers share the Doc: find_seed_entry makes
        the comment columns of the entry it returns relative to it, which only the removal
        of that entry (the next edit) sees.
        """
        from dbtscaffold.dbt.yaml_edit import Doc, YamlEditError

        text = self.text(path) or ""
        doc = self._docs.get(path)
        if doc is None or doc.text != text:
            try:
                doc = self._docs[path] = Doc(text)
            except YamlEditError as e:
                raise self.yaml_error(path, e) from None
        return doc

    def load(self, path: str) -> Any:
        return self.doc(path).data

    def yaml_error(self, path: str, e: Exception) -> UserError:
        line = getattr(e, "line", None)
        where = f" (line {line})" if line else ""
        return UserError(f"`{self.rel(path)}` is not valid YAML{where}: {e}; fix it and retry.")

    def edit_yaml(self, path: str, fn: Callable[..., str], *args: Any, doc: bool = False) -> None:
        """PATH's text becomes FN(text, *ARGS); with DOC, FN gets (and may change) its Doc."""
        from dbtscaffold.dbt.yaml_edit import YamlEditError

        try:
            given = self.doc(path) if doc else self.text(path) or ""
            self._docs.pop(path, None)  # FN may change the Doc's data
            self.edited[path] = fn(given, *args)
        except YamlEditError as e:
            raise self.yaml_error(path, e) from None

    def plan(self, deleted: frozenset[str]) -> Plan:
        """The plan that writes every edited text (DELETED files go), sorted by path."""
        paths = {p: Path(p) for p in self.edited}
        return plan_from_texts(
            {paths[p]: self.originals.get(p) for p in self.edited},
            {paths[p]: t for p, t in self.edited.items()},
            (self.dbt.dir, self.dagster.dir),
            frozenset(paths[p] for p in deleted),
        )
