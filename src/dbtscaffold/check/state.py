"""The checks of `dbtscaffold check` about the dbt side's state: parse on load, the manifest,
asset keys and seeds.

Nothing here writes or runs dbt: the manifest is judged by the fingerprint parse on load
records with each parse (runtime.manifest_state), the keys are read from it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dbtscaffold import console
from dbtscaffold.check.finding import FAIL, HINT, OK, WARN, Context, Finding, skipped
from dbtscaffold.dbt.manifest import DbtResource
from dbtscaffold.errors import UserError

_SKIP_WALK = frozenset({"target", "logs", "dbt_packages", "__pycache__", ".git", ".venv"})


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def module_name(ctx: Context) -> str:
    from dbtscaffold.dagster_project.locate import dagster_module_name

    if ctx.dagster is None:
        return "<package>.definitions"
    try:
        return dagster_module_name(ctx.dagster)
    except UserError:  # a broken pyproject.toml is the projects check's to report
        return f"{ctx.dagster.package}.definitions"


def parse_fix(ctx: Context) -> str:
    if ctx.dagster is not None and ctx.dagster.layout == "components":
        # dg's own commands parse (they set DAGSTER_IS_DEV_CLI, which turns parse on load on).
        return f"run `dbtscaffold dev`, or parse once: `{ctx.dagster_cmd()}dg check defs`"
    validate = (
        f"DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1 dagster definitions validate -m {module_name(ctx)}"
    )
    return f"run `dbtscaffold dev`, or parse once: `{ctx.dagster_cmd()}{validate}`"


# --- parse on load and the manifest -----------------------------------------------------


def check_parse_on_load(ctx: Context) -> Finding:
    """What DAGSTER_DBT_PARSE_PROJECT_ON_LOAD (and DAGSTER_IS_DEV_CLI) mean here."""
    from dbtscaffold.runtime.parse import DEV_CLI_ENV, PARSE_ON_LOAD_ENV, parse_on_load_enabled

    ctx.cache["parse_on_load"] = parse_on_load_enabled()
    value = (os.environ.get(PARSE_ON_LOAD_ENV) or "").strip()
    if not value and os.environ.get(DEV_CLI_ENV):
        return Finding(OK, f"{PARSE_ON_LOAD_ENV} unset and {DEV_CLI_ENV} set: on, as under dev")
    if not value:
        return Finding(
            OK,
            f"{PARSE_ON_LOAD_ENV} unset: off here (loads use the manifest as it is); "
            "`dbtscaffold dev`, `dagster dev` and `dg dev` turn it on",
        )
    if value.lower() in ("1", "true", "yes", "on"):
        return Finding(
            OK,
            f"{PARSE_ON_LOAD_ENV}={value}: on (a load parses the dbt project only when "
            "something dbt reads changed)",
        )
    if value.lower() in ("0", "false", "no", "off"):
        return Finding(
            OK,
            f"{PARSE_ON_LOAD_ENV}={value}: off everywhere, `dagster dev` included (loads use "
            "the manifest as it is)",
        )
    return Finding(
        WARN,
        f"{PARSE_ON_LOAD_ENV}={value} is neither 1/true/yes/on nor 0/false/no/off: read as off",
        f"set {PARSE_ON_LOAD_ENV} to 1 (parse on load) or 0",
    )


def _newest_change(ctx: Context, since: float) -> tuple[str, float] | None:
    """The most recently modified file dbt reads, if it changed after SINCE (a hint only)."""
    assert ctx.dbt is not None
    newest: tuple[float, Path] | None = None
    roots = [ctx.dbt.dir / p for p in dict.fromkeys(ctx.dbt.source_paths())]
    files = [ctx.dbt.yml_path, ctx.dbt.dir / "packages.yml", ctx.dbt.dir / "dependencies.yml"]
    if ctx.profiles is not None:
        files.append(ctx.profiles.path)
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_WALK and not d.startswith(".")]
            files.extend(Path(dirpath) / f for f in filenames)
    for path in files:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if mtime > since and (newest is None or mtime > newest[0]):
            newest = (mtime, path)
    return (ctx.show(newest[1]), newest[0]) if newest else None


def check_manifest(ctx: Context) -> Finding:
    """target/manifest.json is current against the fingerprint of what dbt reads (no dbt run)."""
    from dbtscaffold.runtime.manifest_state import manifest_state
    from dbtscaffold.runtime.parse import parse_on_load_enabled
    from dbtscaffold.runtime.project import find_profiles_dir

    if ctx.dbt is None or ctx.dagster is None:
        return skipped("the projects")
    explicit = ctx.constants.profiles_dir if ctx.constants else None
    target_rel = ctx.constants.target_path if ctx.constants else ctx.dbt.target_path
    manifest = ctx.dbt.dir / target_rel / "manifest.json"
    state = manifest_state(ctx.dbt.dir, find_profiles_dir(ctx.dbt.dir, explicit), manifest.parent)
    ctx.cache["manifest_state"] = state
    ctx.cache["manifest_path"] = manifest
    ctx.cache["manifest_verdict"] = "current" if state.current else "stale"
    on = ctx.cache.get("parse_on_load", parse_on_load_enabled())
    shown = ctx.show(manifest)
    if not state.exists:
        ctx.cache["manifest_verdict"] = "missing"
        if on:
            return Finding(WARN, f"no {shown} yet: the first load parses the dbt project")
        return Finding(
            FAIL,
            f"no {shown}, and parse on load is off: the definitions cannot load",
            parse_fix(ctx),
        )
    since = state.parsed_at if state.recorded and state.parsed_at else manifest.stat().st_mtime
    if state.current:
        return Finding(
            OK, f"{shown} is current: parsed {_ago(time.time() - since)}, unchanged since"
        )
    age = f"parsed {_ago(time.time() - since)}"
    if state.changes:  # named from the inputs that parse recorded
        more = f" and {len(state.changes) - 3} more" if len(state.changes) > 3 else ""
        why = f"{age}; since then {', '.join(state.changes[:3])}{more}"
    elif changed := _newest_change(ctx, since):  # a record without inputs (older dbtscaffold)
        why = f"{age}; {changed[0]} changed {_ago(time.time() - changed[1])}"
    elif state.recorded:
        why = f"{age}; no file changed since, so a DBT_ or env_var() variable, the profiles.yml "
        why += "in use, or dbt's version differs from that parse's"
    else:
        ctx.cache["manifest_verdict"] = "unknown"
        verdict = "the next load parses it again" if on else "loads use it as it is"
        return Finding(
            WARN,
            f"{shown} ({age}) was written by dbt itself, not by parse on load: whether it is "
            f"current cannot be told without running dbt; {verdict}",
            parse_fix(ctx),
        )
    if on:
        return Finding(
            WARN,
            f"{shown} is stale ({why}): the next load parses the dbt project",
            "nothing to do under parse on load; " + parse_fix(ctx).replace("run `", "or `", 1),
        )
    return Finding(
        FAIL,
        f"{shown} is stale ({why}), and parse on load is off: Dagster builds the assets from it",
        parse_fix(ctx),
    )


def _manifest(ctx: Context) -> dict[str, Any] | None:
    from dbtscaffold.dbt.manifest import read_manifest

    if "manifest" not in ctx.cache:
        path = ctx.cache.get("manifest_path")
        ctx.cache["manifest"] = read_manifest(path) if path is not None else None
    manifest: dict[str, Any] | None = ctx.cache["manifest"]
    return manifest


def stale_note(ctx: Context) -> str:
    """Words to add to what was read from the manifest, when it is not known to be current."""
    return {
        "stale": " (from the stale manifest)",
        "unknown": " (from a manifest dbt wrote, maybe not current)",
    }.get(ctx.cache.get("manifest_verdict", "current"), "")


# --- asset keys and seeds ---------------------------------------------------------------


def _source_label(unique_id: str) -> str:
    return f"source `{'.'.join(unique_id.split('.')[-2:])}`"


def key_conflicts(
    assets: list[DbtResource],
    python: dict[tuple[str, ...], list[str]],
    sources: list[DbtResource],
    used: set[str],
) -> list[tuple[tuple[str, ...], list[str]]]:
    """The asset keys claimed twice, each with who claims it, as Dagster would refuse them.

    Two assets (dbt models, seeds, snapshots, Python `@asset`s) with one key; a dbt asset with
    the key of a source some node reads (dagster-dbt refuses it), or a seed with a source's
    key at all (a seed half converted: its loader asset would be a third claim); two sources
    read under one key. A Python asset with a source's key is how convert-seed wires a loader.
    """
    owners: dict[tuple[str, ...], list[str]] = {}
    seeds: set[tuple[str, ...]] = set()
    for r in assets:
        owners.setdefault(r.key, []).append(
            f"dbt {r.resource_type} `{r.unique_id.split('.')[-1]}` ({r.path})"
        )
        if r.resource_type == "seed":
            seeds.add(r.key)
    dbt_keys = {r.key for r in assets}
    for key, places in python.items():
        owners.setdefault(key, []).extend(f"@asset in {place}" for place in places)
    by_key: dict[tuple[str, ...], list[str]] = {}
    for r in sources:
        by_key.setdefault(r.key, []).append(r.unique_id)
    conflicts = []
    for key, labels in owners.items():
        shadowed = [
            uid for uid in by_key.get(key, []) if key in dbt_keys and (uid in used or key in seeds)
        ]
        if len(labels) > 1 or shadowed:
            conflicts.append((key, labels + [_source_label(uid) for uid in shadowed]))
    for key, uids in by_key.items():
        read = [uid for uid in uids if uid in used]
        if key not in owners and len(read) > 1:
            conflicts.append((key, [_source_label(uid) for uid in read]))
    return sorted(conflicts)


def check_asset_keys(ctx: Context) -> Finding:
    """No asset key is claimed twice by dbt resources and Python assets; no seed shadows a source."""
    from dbtscaffold.dagster_project.generated import python_assets
    from dbtscaffold.dbt.manifest import dbt_assets, dbt_sources

    manifest = _manifest(ctx)
    if manifest is None:
        return skipped("a readable manifest")
    assets = dbt_assets(manifest)
    python: dict[tuple[str, ...], list[str]] = {}
    problems: list[str] = []
    if ctx.dagster is not None:
        python, problems = python_assets(
            ctx.dagster.package_dir, ctx.dagster.package, ctx.dagster.layout
        )
        python = {k: [f"{ctx.dagster.package}/{p}" for p in v] for k, v in python.items()}
    used = {r.unique_id for r in dbt_sources(manifest, used_only=True)}
    conflicts = key_conflicts(assets, python, dbt_sources(manifest), used)
    if conflicts:
        shown = "; ".join(f"`{'/'.join(k)}`: {' and '.join(v)}" for k, v in conflicts[:3])
        more = f" (and {len(conflicts) - 3} more)" if len(conflicts) > 3 else ""
        key, labels = conflicts[0]
        if any(lbl.startswith("dbt seed") for lbl in labels) and len(labels) > 1:
            fix = (
                f"finish the seed's conversion: `dbtscaffold convert-seed {key[-1]}` moves the "
                "CSV out of the seed paths; or remove the other claim"
            )
        else:
            fix = "give one of them another key (meta.dagster.asset_key in dbt, key= on an @asset)"
        plural = "s" if len(conflicts) > 1 else ""
        return Finding(
            FAIL,
            f"{len(conflicts)} asset key{plural} claimed twice{more}: {shown}{stale_note(ctx)}",
            fix,
        )
    custom = ""
    if ctx.dagster is not None:
        assets_py = ctx.dagster.package_dir / "assets.py"
        text = (
            assets_py.read_text(encoding="utf-8", errors="replace") if assets_py.is_file() else ""
        )
        if "dagster_dbt_translator" in text:
            custom = "; assets.py has its own translator, keys read with the default one"
    summary = (
        f"{console.count(len(assets), 'dbt asset')}, "
        f"{console.count(sum(map(len, python.values())), 'Python asset')}, "
        f"{console.count(len(used), 'source')} read: no key claimed twice{custom}{stale_note(ctx)}"
    )
    if problems:
        return Finding(WARN, f"{summary}; not read: {', '.join(problems)}", "fix that module")
    return Finding(OK, summary)


def check_seeds(ctx: Context) -> Finding:
    """A hint: the seeds models ref that `convert-seed` could turn into upstream Dagster assets."""
    from dbtscaffold.dbt.manifest import seeds_referenced

    manifest = _manifest(ctx)
    if manifest is None or ctx.dbt is None:
        return skipped("a readable manifest")
    refs = seeds_referenced(manifest, ctx.dbt.name)
    if not refs:
        return Finding(OK, "no seed that a model refs")
    shown = ", ".join(f"{s} (ref'd by {', '.join(m)})" for s, m in list(refs.items())[:4])
    if len(refs) > 4:
        shown += f" and {len(refs) - 4} more"
    return Finding(
        HINT,
        f"{console.count(len(refs), 'seed')} that models ref could be "
        f"upstream Dagster assets: {shown}",
        f"`dbtscaffold convert-seed {' '.join(refs)}` (see --dry-run first)",
    )
