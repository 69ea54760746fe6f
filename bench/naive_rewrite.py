"""The floor for convert-seed: one regex over every file, no YAML, no plan, no backups.

    python bench/naive_rewrite.py DBT_PROJECT_DIR SEED [SOURCE]

Rewrites ref('SEED'), ref("SEED") and ref('project', 'SEED') into source('SOURCE', 'SEED')
in every .sql/.yml/.yaml/.py file outside target/, logs/ and dbt_packages/, in place.
It ignores everything convert-seed takes care of (Jinja comments, the YAML declaration,
the seed's properties, the loader asset, atomicity, undo); it only shows how long reading,
matching and writing the same files takes at the least.
"""

from __future__ import annotations

import os
import re
import sys
import time

SUFFIXES = (".sql", ".yml", ".yaml", ".py")
SKIP = {"target", "logs", "dbt_packages", ".git"}


def rewrite(root: str, seed: str, source: str) -> tuple[int, int]:
    pattern = re.compile(
        r"""ref\(\s*(?:(['"])[A-Za-z0-9_]+\1\s*,\s*)?(['"])""" + re.escape(seed) + r"""\2\s*\)"""
    )
    replacement = f"source('{source}', '{seed}')"
    files = changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP]
        for name in filenames:
            if not name.endswith(SUFFIXES):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
            files += 1
            new = pattern.sub(replacement, text)
            if new != text:
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(new)
                changed += 1
    return files, changed


def main() -> int:
    root, seed = sys.argv[1], sys.argv[2]
    source = sys.argv[3] if len(sys.argv) > 3 else "raw"
    start = time.perf_counter()
    files, changed = rewrite(root, seed, source)
    print(f"{files} files read, {changed} rewritten in {time.perf_counter() - start:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
