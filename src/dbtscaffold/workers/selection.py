"""`materialize --select` convenience names: dbt-style model names and globs -> asset keys.

Dagster's selection syntax (`key:stg_*`, `tag:x`, `+customers`, `group:g`) is resolved by
Dagster itself in the materialize worker. A term that is a plain name or a glob
(`stg_*`, `staging.stg_rates`, `staging/stg_rates`, `jaffle_shop.staging.*`) is matched
here against every asset's key and, for dbt assets, the model's name and its dbt fqn (the
folders under the model path), as `dbt --select` would. Pure functions: no dagster import.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Letters, digits, `_ - . /` and the glob characters `* ? [ ]`: no Dagster operator.
_NAME_TERM = re.compile(r"^[A-Za-z0-9_.\-/*?\[\]]+$")


@dataclass(frozen=True)
class AssetName:
    """The names one asset answers to: its key, and for a dbt node its fqn."""

    key: tuple[str, ...]
    fqn: tuple[str, ...] = ()  # dbt: (project, folder..., name)

    @property
    def shown(self) -> str:
        return key_string(self.key)


def key_string(key: Sequence[str]) -> str:
    """A key as Dagster writes it: `staging/stg_rates`."""
    return "/".join(key)


def split_terms(select: str) -> list[str]:
    """The comma-separated terms of SELECT (Dagster's CLI splits on commas too)."""
    return [t.strip() for t in select.split(",") if t.strip()]


def is_name_term(term: str) -> bool:
    """True for a plain name or glob that this module resolves (not `*` alone)."""
    return term != "*" and bool(_NAME_TERM.match(term))


def _parts(term: str) -> list[str]:
    return [p for p in re.split(r"[./]", term) if p]


def _prefix_match(parts: list[str], path: Sequence[str]) -> bool:
    """PARTS match the first len(PARTS) names of PATH, glob by glob (dbt's fqn rule)."""
    return len(parts) <= len(path) and all(
        fnmatch.fnmatchcase(name, pat) for pat, name in zip(parts, path)
    )


def _matches(term: str, asset: AssetName) -> bool:
    parts = _parts(term)
    if not parts:
        return False
    key = asset.key
    # The key itself, as `a/b`, `a.b` or a glob over it; one name also matches its last part.
    if len(parts) == len(key) and all(fnmatch.fnmatchcase(k, p) for p, k in zip(parts, key)):
        return True
    if len(parts) == 1 and fnmatch.fnmatchcase(key[-1], parts[0]):
        return True
    if fnmatch.fnmatchcase(key_string(key), term):
        return True
    if asset.fqn:
        # dbt: `stg_rates`, `staging` (a folder), `staging.stg_rates`, `jaffle_shop.staging.*`.
        if len(parts) == 1 and fnmatch.fnmatchcase(asset.fqn[-1], parts[0]):
            return True
        if _prefix_match(parts, asset.fqn) or _prefix_match(parts, asset.fqn[1:]):
            return True
    return False


def match_term(term: str, assets: Iterable[AssetName]) -> list[tuple[str, ...]]:
    """The keys of ASSETS that the name or glob TERM selects."""
    return [a.key for a in assets if _matches(term, a)]


def close_keys(term: str, assets: Sequence[AssetName], n: int = 3) -> list[str]:
    """Up to N key strings that look like TERM (case ignored), best first."""
    word = term.split(":", 1)[-1].strip("\"'*+ ").lower()
    forms: dict[str, str] = {}
    for a in assets:
        for form in {a.shown, a.key[-1], ".".join(a.fqn[1:])} - {""}:
            forms.setdefault(form.lower(), a.shown)
    found: list[str] = []
    for form in difflib.get_close_matches(word, list(forms), n=n * 3, cutoff=0.6):
        if forms[form] not in found:
            found.append(forms[form])
    return found[:n]


def no_match_message(select: str, term: str | None, assets: Sequence[AssetName]) -> str:
    """One line: which selection matched nothing, and the keys it may have meant."""
    where = (
        f"`{term}` in --select `{select}`" if term and term != select else f"--select `{select}`"
    )
    if not assets:
        return f"No asset matches {where}: the definitions have no assets."
    close = close_keys(term or select, assets)
    if close:
        names = ", ".join(f"`{k}`" for k in close)
        return f"No asset matches {where}; did you mean {names}?"
    keys = sorted(a.shown for a in assets)
    some = ", ".join(f"`{k}`" for k in keys[:3])
    more = f", ... ({len(keys)} in all)" if len(keys) > 3 else ""
    return f"No asset matches {where}; the assets are {some}{more}."
