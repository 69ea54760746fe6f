"""Ways to build the dbt assets faster, measured against the plain load in the same run.

    python bench/bench_defs_variants.py [--models 5000] [--repeats 3] [--project DIR]

The generated project at N models is parsed once; then each variant is a copy of its
package, loaded in a fresh `python` (bench/_load_driver.py) with the manifest current, so
every load is an unchanged reload (fingerprint, then the assets built from the manifest):
  - plain: the project `dbtscaffold init` writes;
  - trimmed manifest: the assets are built from a copy of manifest.json without what
    dagster-dbt does not read (macros, docs, and node fields such as compiled paths,
    unrendered config, refs), written once next to the real one, as a cache kept while
    the fingerprint holds would be;
  - dbt assets listed directly: definitions.py passes the `@dbt_assets` definition to
    Definitions itself and keeps `load_assets_from_modules` for seed_assets.py only
    (load_assets_from_modules copies every asset spec it is given).
Loads are interleaved; reported are the medians of the `defs` phase (wall and the CPU
time of the load) and whether each variant builds the same asset graph as the plain one
(keys, deps, checks, metadata, descriptions, groups, code versions, kinds, tags, owners).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

from _common import (
    BENCH_DIR,
    OUT,
    base_env,
    copy_project,
    fresh_dir,
    generate,
    header,
    init_ours,
    run,
    table,
    write_section,
)

DRIVER = str(BENCH_DIR / "_load_driver.py")
PKG = "ours_dagster"

# Node fields dagster-dbt 0.29 does not read when it builds assets (asset_utils.py,
# dagster_dbt_translator.py, utils.py), nor dbt's selector for the default selection.
NODE_FIELDS_UNREAD = (
    "created_at",
    "unrendered_config",
    "patch_path",
    "build_path",
    "compiled_path",
    "contract",
    "constraints",
    "doc_blocks",
    "language",
    "refs",
    "docs",
)

TRIMMED_CONSTANTS_TAIL = """
# Bench variant: build the assets from the trimmed copy written next to the manifest.
DBT_MANIFEST_PATH = DBT_MANIFEST_PATH.with_name("manifest.trimmed.json")
"""

# Printed by a child python: the asset graph of a package's definitions, as JSON.
GRAPH_DUMP = r"""
import hashlib, importlib, json, os, sys
sys.path.insert(0, os.getcwd())
defs = importlib.import_module(sys.argv[1] + ".definitions").defs
graph = defs.resolve_asset_graph()

def value(v):
    manifest = getattr(v, "manifest", None)
    if isinstance(manifest, dict):  # DbtManifestWrapper: the manifest the runs use
        blob = json.dumps(manifest, sort_keys=True, default=str).encode()
        return "manifest sha1 " + hashlib.sha1(blob).hexdigest()
    return repr(v)

def meta(m):
    return {k: value(v) for k, v in sorted((m or {}).items())}

out = {"assets": {}, "checks": {}}
for key in sorted(graph.get_all_asset_keys(), key=str):
    node = graph.get(key)
    out["assets"][key.to_user_string()] = {
        "deps": sorted(k.to_user_string() for k in node.parent_keys),
        "group": node.group_name,
        "code_version": node.code_version,
        "description": node.description,
        "kinds": sorted(node.kinds),
        "tags": dict(sorted(node.tags.items())),
        "owners": list(node.owners),
        "metadata": meta(node.metadata),
        "is_materializable": node.is_materializable,
        "automation_condition": repr(node.automation_condition),
    }
for key in sorted(graph.asset_check_keys, key=str):
    spec = graph.get_check_spec(key)
    out["checks"][key.to_user_string()] = {
        "asset": spec.asset_key.to_user_string(),
        "description": spec.description,
        "blocking": spec.blocking,
        "additional_deps": sorted(d.asset_key.to_user_string() for d in spec.additional_deps),
        "metadata": meta(spec.metadata),
    }
print(json.dumps(out, sort_keys=True))
"""


def trim_manifest(manifest: Path, dest: Path) -> None:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["macros"], data["docs"] = {}, {}
    data["nodes"] = {
        uid: {k: v for k, v in node.items() if k not in NODE_FIELDS_UNREAD}
        for uid, node in data["nodes"].items()
    }
    dest.write_text(json.dumps(data), encoding="utf-8")


def copy_package(project: Path, name: str) -> Path:
    """A copy of the generated package named NAME (its absolute imports renamed)."""
    dest = project / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(project / project.name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for path in dest.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f"{project.name}.", f"{name}."), encoding="utf-8")
    return dest


def make_variants(project: Path, manifest: Path) -> dict[str, str]:
    trimmed = copy_package(project, "ours_trimmed")
    trim_manifest(manifest, manifest.with_name("manifest.trimmed.json"))
    with open(trimmed / "constants.py", "a", encoding="utf-8") as f:
        f.write(TRIMMED_CONSTANTS_TAIL)
    direct = copy_package(project, "ours_direct")
    definitions = direct / "definitions.py"
    text = definitions.read_text(encoding="utf-8")
    dbt_assets = "synth_dbt_assets"
    new = text.replace(
        "assets=load_assets_from_modules([assets, seed_assets]),",
        f"assets=[assets.{dbt_assets}, *load_assets_from_modules([seed_assets])],",
    )
    if new == text:
        sys.exit(f"{definitions}: the line to change was not found")
    definitions.write_text(new, encoding="utf-8")
    return {
        "plain": project.name,
        "trimmed manifest": "ours_trimmed",
        "dbt assets listed directly": "ours_direct",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--project",
        type=Path,
        help="a project `dbtscaffold init` made on a synthetic project of --models models "
        "(its package named as its folder), parsed or not; default: a new one",
    )
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)

    work = args.project.resolve().parent if args.project else OUT / f"variants_{args.models}"
    home = work / "home"
    dbt_dir = work / "dbt"
    project = args.project.resolve() if args.project else work / PKG
    env = base_env(home, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")
    if not args.project:
        fresh_dir(work.name)
        copy_project(generate(f"synth_{args.models}", args.models), dbt_dir)
        init_ours(dbt_dir, work, PKG, home)
    print("first load (parses unless the manifest is current)...", flush=True)
    run([sys.executable, DRIVER, project.name, "constants"], cwd=project, env=env, timeout=3600)
    variants = make_variants(project, dbt_dir / "target" / "manifest.json")

    graphs = {}
    for label, pkg in variants.items():
        out = run([sys.executable, "-c", GRAPH_DUMP, pkg], cwd=project, env=env, timeout=3600)
        graphs[label] = json.loads(out.stdout.strip().splitlines()[-1])
    same = {}
    for label, graph in graphs.items():
        diffs = [
            f"{kind} {key}: {field}"
            for kind in ("assets", "checks")
            for key in sorted(set(graph[kind]) | set(graphs["plain"][kind]))
            for field in sorted(
                set(graph[kind].get(key, {"missing": 1}))
                | set(graphs["plain"][kind].get(key, {"missing": 1}))
            )
            if graph[kind].get(key, {}).get(field) != graphs["plain"][kind].get(key, {}).get(field)
        ]
        same[label] = diffs
        print(f"  {label}: {len(diffs)} differences {diffs[:5]}", flush=True)

    samples: dict[str, list[dict]] = {label: [] for label in variants}
    for i in range(args.repeats):
        for label, pkg in variants.items():
            s = run([sys.executable, DRIVER, pkg, "constants"], cwd=project, env=env)
            phases = json.loads(s.stdout.strip().splitlines()[-1])
            phases["wall"], phases["cpu"] = s.seconds, s.cpu_seconds
            samples[label].append(phases)
            print(
                f"  {i} {label:<28} load {s.seconds:6.2f} s (CPU {s.cpu_seconds:6.2f} s), "
                f"defs {phases['defs']:5.2f} s, dbt {phases['dbt']:5.2f} s, "
                f"{phases['assets']} assets, {phases['self_mb']:.0f} MB",
                flush=True,
            )

    def med(label: str, key: str) -> float:
        return statistics.median(p[key] for p in samples[label])

    rows = []
    for label in variants:
        diffs = same[label]
        rows.append(
            [
                label,
                f"{med(label, 'wall'):.2f}",
                f"{med(label, 'cpu'):.2f}",
                f"{med(label, 'defs'):.2f}",
                f"{med(label, 'cpu') / med('plain', 'cpu'):.2f}",
                f"{max(p['self_mb'] for p in samples[label]):.0f}",
                "identical" if not diffs else f"**{len(diffs)} differences** ({diffs[0]}, ...)",
            ]
        )
    lines = header("python bench/bench_defs_variants.py")
    lines += [
        (
            f"{args.models} models; {args.repeats} unchanged reloads of each variant, "
            "interleaved (medians). CPU s is the load's user + system time, the steadier "
            "figure on a busy machine; `x plain` is its ratio to the plain load's."
        ),
        "",
        *table(
            [
                "variant",
                "load wall s",
                "load CPU s",
                "defs phase wall s",
                "CPU x plain",
                "peak MB",
                "asset graph vs plain",
            ],
            rows,
        ),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(
            f"bench_defs_variants_{args.models}",
            f"Building the assets faster: variants at {args.models} models",
            lines,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
