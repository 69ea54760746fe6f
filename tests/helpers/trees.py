"""One tree hash: what the tests compare to say "nothing changed" (or what did)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path


def tree_hash(
    root: Path, ignore: Iterable[str] = (".dbtscaffold",), *, skip_lock: bool = False
) -> dict[str, str]:
    """{relative path: sha256 | "dir" | "link:<target>"} of everything under ROOT.

    Folders named in IGNORE are left out (with their contents); symlinks (to files or
    folders) are recorded by target, never followed. SKIP_LOCK leaves out the `lock` file
    of `.dbtscaffold` folders (holding a lock leaves the file, by design).
    """
    ignore = frozenset(ignore)
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in ignore)
        out[here.relative_to(root).as_posix() + "/"] = "dir"
        for d in dirnames:
            if (here / d).is_symlink():
                out[(here / d).relative_to(root).as_posix()] = "link:" + os.readlink(here / d)
        for f in sorted(filenames):
            p = here / f
            if skip_lock and here.name == ".dbtscaffold" and f == "lock":
                continue
            key = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[key] = "link:" + os.readlink(p)
            else:
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def digest(tree: dict[str, str]) -> str:
    """One short hash for a whole tree hash (what case records print)."""
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]
