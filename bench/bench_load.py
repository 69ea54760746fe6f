"""Definitions load time of the generated project against the dagster-dbt scaffolds.

    python bench/bench_load.py [--sizes example,1000,5000] [--repeats 3] [--profile]
    python bench/bench_load.py --sizes 10000 --repeats 1 --firsts 1 --edits 0 --profile --section 10000

A load is a fresh `python` importing `<package>.definitions` (bench/_load_driver.py), as
a code server or a run worker does, with parse on load switched on:
  - dbtscaffold: the project `dbtscaffold init` writes, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1;
  - dagster-dbt scaffold: `dagster-dbt project scaffold`, with DAGSTER_IS_DEV_CLI=1 (what
    `dagster dev` sets, so that DbtProject.prepare_if_dev() runs `dbt parse`);
  - 1.7-style constants.py: `dbt.cli(["--quiet", "parse"], target_path=Path("target"))
    .wait()` at import, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1.
Each variant has its own copy of the dbt project. Scenarios: first load (no target/),
load with the dbt project unchanged, load after appending a line to one model.
Reported: median wall time of the load, the time spent deciding on the manifest (the
`dbt` phase: fingerprint, or dbt parse), and the peak memory of each process of the load:
the python that imports the definitions and the dbt it starts (getrusage in the driver:
RUSAGE_SELF, and RUSAGE_CHILDREN, the largest child it waited for; exact, not sampled).
`--profile` runs one more unchanged load of ours under cProfile and breaks its
definitions phase down (see `PROFILE_PARTS`).
Bar (the product's; bench/RESULTS.md lists it): an unchanged reload spends under 0.5 s on dbt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import textwrap
from pathlib import Path

from _common import (
    BENCH_DIR,
    EXAMPLE,
    Sample,
    bar,
    base_env,
    copy_project,
    fmt_s,
    fresh_dir,
    generate,
    header,
    init_ours,
    ratio,
    run,
    scaffold_anchor,
    table,
    write_section,
)

DRIVER = str(BENCH_DIR / "_load_driver.py")
UNCHANGED_DBT_BAR_S = 0.5

LEGACY_CONSTANTS = """\
import os
from pathlib import Path

from dagster_dbt import DbtCliResource

dbt_project_dir = Path({project_dir!r}).resolve()
dbt = DbtCliResource(project_dir=os.fspath(dbt_project_dir))

# If DAGSTER_DBT_PARSE_PROJECT_ON_LOAD is set, a manifest will be created at run time.
# Otherwise, we expect a manifest to be present in the project's target directory.
if os.getenv("DAGSTER_DBT_PARSE_PROJECT_ON_LOAD"):
    dbt_manifest_path = (
        dbt.cli(
            ["--quiet", "parse"],
            target_path=Path("target"),
        )
        .wait()
        .target_path.joinpath("manifest.json")
    )
else:
    dbt_manifest_path = dbt_project_dir.joinpath("target", "manifest.json")
"""
LEGACY_ASSETS = """\
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from .constants import dbt_manifest_path


@dbt_assets(manifest=dbt_manifest_path)
def legacy_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
"""
LEGACY_DEFINITIONS = """\
from dagster import Definitions

from .assets import legacy_dbt_assets
from .constants import dbt

defs = Definitions(assets=[legacy_dbt_assets], resources={"dbt": dbt})
"""


class Variant:
    def __init__(
        self,
        label: str,
        dbt_dir: Path,
        project_dir: Path,
        package: str,
        dbt_module: str,
        env: dict[str, str],
    ):
        self.label, self.dbt_dir, self.project_dir = label, dbt_dir, project_dir
        self.package, self.dbt_module, self.env = package, dbt_module, env

    def load(self, **extra_env: str) -> tuple[Sample, dict]:
        sample = run(
            [sys.executable, DRIVER, self.package, self.dbt_module],
            cwd=self.project_dir,
            env={**self.env, **extra_env},
            timeout=3600,
        )
        return sample, json.loads(sample.stdout.strip().splitlines()[-1])

    def clean(self) -> None:
        for name in ("target", "logs"):
            shutil.rmtree(self.dbt_dir / name, ignore_errors=True)


def make_variants(size: str, source: Path, work: Path, home: Path) -> list[Variant]:
    variants = []
    # dbtscaffold
    dbt_dir = copy_project(source, work / "ours" / "dbt")
    init_ours(dbt_dir, work / "ours", "ours_dagster", home)
    variants.append(
        Variant(
            "dbtscaffold",
            dbt_dir,
            work / "ours" / "ours_dagster",
            "ours_dagster",
            "constants",
            base_env(home, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1"),
        )
    )
    # dagster-dbt project scaffold
    dbt_dir = copy_project(source, work / "scaffold" / "dbt")
    scaffold_anchor(dbt_dir, work / "scaffold", "scaffold_dagster", home)
    variants.append(
        Variant(
            "dagster-dbt scaffold",
            dbt_dir,
            work / "scaffold" / "scaffold_dagster",
            "scaffold_dagster",
            "project",
            base_env(home, DAGSTER_IS_DEV_CLI="1"),
        )
    )
    # 1.7-style constants.py
    dbt_dir = copy_project(source, work / "legacy" / "dbt")
    pkg = work / "legacy" / "legacy_dagster" / "legacy_dagster"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "constants.py").write_text(LEGACY_CONSTANTS.format(project_dir=str(dbt_dir)))
    (pkg / "assets.py").write_text(LEGACY_ASSETS)
    (pkg / "definitions.py").write_text(LEGACY_DEFINITIONS)
    variants.append(
        Variant(
            "1.7-style constants.py",
            dbt_dir,
            pkg.parent,
            "legacy_dagster",
            "constants",
            base_env(home, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1"),
        )
    )
    return variants


def model_to_edit(dbt_dir: Path) -> Path:
    marts = sorted((dbt_dir / "models" / "marts").glob("*.sql"))
    return marts[-1]


def bench_size(
    size: str, repeats: int, first_repeats: int, edit_repeats: int, profile: bool = False
) -> dict:
    work = fresh_dir(f"load_{size}")
    home = work / "home"
    source = EXAMPLE if size == "example" else generate(f"synth_{size}", int(size))
    variants = make_variants(size, source, work, home)
    results: dict = {v.label: {"first": [], "unchanged": [], "edited": []} for v in variants}

    def note(v: Variant, scenario: str, sample: Sample, phases: dict) -> None:
        results[v.label][scenario].append((sample, phases))
        print(
            f"  {size:>7} {v.label:<24} {scenario:<9} {sample.seconds:7.2f} s "
            f"(CPU {sample.cpu_seconds:6.2f} s, dbt {phases['dbt']:6.2f} s, "
            f"defs {phases['defs']:5.2f} s, {phases['assets']} assets, "
            f"{phases['self_mb']:.0f} MB + dbt {phases['child_mb']:.0f} MB)",
            flush=True,
        )

    for i in range(first_repeats):
        for v in variants:
            v.clean()
            note(v, "first", *v.load())
    for i in range(repeats):
        for v in variants:
            note(v, "unchanged", *v.load())
    for i in range(edit_repeats):
        for v in variants:
            with open(model_to_edit(v.dbt_dir), "a", encoding="utf-8") as f:
                f.write(f"\n-- benchmark edit {i}\n")
            note(v, "edited", *v.load())
    if profile:
        results["profile"] = profile_ours(variants[0], work)
    return results


# (label, file suffix, function): cumulative times of these calls in the `defs` phase;
# none of them calls another, so they add up, and the rest is everything else (importing
# the project's modules, Definitions(), the job and the schedule).
PROFILE_PARTS = (
    ("reading manifest.json (orjson)", "dagster_dbt/dbt_manifest.py", "read_manifest_path"),
    ("dbt selection (dbt's graph of the manifest)", "dagster_dbt/utils.py", "select_unique_ids"),
    ("translator: asset and check specs", "dagster_dbt/asset_utils.py", "build_dbt_specs"),
    ("@multi_asset: op and AssetsDefinition", "decorators/asset_decorator.py", "inner"),
    (
        "load_assets_from_modules (copies every spec)",
        "load_assets_from_modules.py",
        "load_assets_from_modules",
    ),
)


def profile_ours(v: Variant, work: Path) -> dict:
    """One unchanged load of ours with cProfile on the `defs` phase, broken down."""
    import pstats

    stats_file = work / "defs.prof"
    _, phases = v.load(BENCH_PROFILE=str(stats_file))
    stats = pstats.Stats(str(stats_file)).stats  # {(file, line, fn): (cc, nc, tt, ct, callers)}
    total = max(ct for _, _, _, ct, _ in stats.values())
    parts = {}
    for label, suffix, fn in PROFILE_PARTS:
        parts[label] = sum(
            ct
            for (f, _, name), (_, _, _, ct, _) in stats.items()
            if name == fn and f.replace(os.sep, "/").endswith(suffix)
        )
    if "translator: asset and check specs" in parts:  # it calls the selection: count it once
        parts["translator: asset and check specs"] -= parts[PROFILE_PARTS[1][0]]
    parts["everything else"] = total - sum(parts.values())
    return {"total": total, "parts": parts, "phases": phases}


def summarize(size: str, results: dict, counts: dict[str, int]) -> tuple[list[str], list[tuple]]:
    labels = [k for k in results if k != "profile"]
    ours = labels[0]
    rows, checks = [], []
    for scenario in ("first", "unchanged", "edited"):
        if not counts[scenario]:
            continue
        med = {}
        for label in labels:
            samples = results[label][scenario]
            med[label] = (
                statistics.median(s.seconds for s, _ in samples),
                statistics.median(p["dbt"] for _, p in samples),
                max(p["self_mb"] for _, p in samples),
                statistics.median(s.cpu_seconds for s, _ in samples),
                max(p["child_mb"] for _, p in samples),
            )
        row = [f"{scenario} (x{counts[scenario]})"]
        for label in labels:
            total, dbt, peak, cpu, child = med[label]
            row.append(
                f"{fmt_s(total)} / {fmt_s(cpu)} / {fmt_s(dbt)} / {peak:.0f} + "
                + (f"{child:.0f}" if child > 1 else "-")
            )
        for label in labels[1:]:
            row.append(
                f"{ratio(med[label][0], med[ours][0])} / {ratio(med[label][3], med[ours][3])}"
            )
        rows.append(row)
        if scenario == "unchanged":
            checks.append((size, med[ours][1]))
    headers = [
        "load",
        *[f"{label}: wall s / CPU s / dbt s / peak MB load + dbt" for label in labels],
        *[f"ratio vs {label} (wall / CPU)" for label in labels[1:]],
    ]
    lines = [
        f"### {size if size == 'example' else size + ' models'}",
        "",
        *table(headers, rows),
        "",
    ]
    if "profile" in results:
        lines += profile_lines(results["profile"])
    return lines, checks


def profile_lines(prof: dict) -> list[str]:
    total = prof["total"]
    wall = prof["phases"]["defs"]
    out = [
        (
            "Where the definitions phase of an unchanged reload of ours goes (cProfile, "
            f"{wall:.1f} s under the profiler):"
        ),
        "",
    ]
    for label, seconds in sorted(prof["parts"].items(), key=lambda kv: -kv[1]):
        out.append(f"- {label}: {100 * seconds / total:.0f}%")
    return [*out, ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        default="example,1000,5000",
        help="comma-separated: `example` and/or numbers of models",
    )
    ap.add_argument("--repeats", type=int, default=3, help="unchanged reloads per variant")
    ap.add_argument(
        "--edits",
        type=int,
        default=None,
        help="edited reloads (default: 3, 2 at 5000, 1 at 10000+)",
    )
    ap.add_argument("--firsts", type=int, default=0, help="first loads (default: 3, 2, 1 by size)")
    ap.add_argument("--profile", action="store_true", help="profile an unchanged load of ours")
    ap.add_argument(
        "--section",
        default="",
        help="write RESULTS.md section `bench_load_<SECTION>` instead of `bench_load`",
    )
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)

    lines = header("python bench/bench_load.py")
    lines += [
        (
            "Each cell: medians of the wall time of a fresh `python` importing the definitions "
            "/ its CPU time (user + system, dbt child included) / the part of the wall time "
            "spent deciding on the manifest (our fingerprint, or `dbt parse`) / peak MB of the "
            "python process that loads + of the largest child it waited for (dbt; getrusage). "
            "Ratio: the anchor's median over ours, for wall and for CPU time; CPU time is the "
            "steadier figure when the machine is busy."
        ),
        "",
    ]
    all_checks = []
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        n = 0 if size == "example" else int(size)
        firsts = args.firsts or (3 if n < 1000 else 2 if n < 5000 else 1)
        edits = args.edits if args.edits is not None else 3 if n < 5000 else 2 if n < 10000 else 1
        print(
            f"{size}: {firsts} first, {args.repeats} unchanged, {edits} edited loads per variant",
            flush=True,
        )
        results = bench_size(size, args.repeats, firsts, edits, args.profile)
        section, checks = summarize(
            size, results, {"first": firsts, "unchanged": args.repeats, "edited": edits}
        )
        lines += section
        all_checks += checks
    lines += ["Bar: an unchanged reload spends under 0.5 s on dbt (the `dbt` phase of ours):", ""]
    for size, dbt in all_checks:
        lines.append(f"- {size}: {dbt:.3f} s: {bar(dbt < UNCHANGED_DBT_BAR_S)}")
    lines += [
        "",
        textwrap.dedent("""\
        The `dbt` phase of an unchanged reload is the fingerprint (reading and hashing every
        file dbt reads) plus two small JSON reads; dbt is not started. The rest of a load is
        importing dagster and dagster-dbt (about 1.5 s here) and building the assets from the
        manifest, which grows with the number of models and is the same for every variant.
        """).strip(),
    ]
    print("\n".join(lines))
    if not args.no_write:
        key = f"bench_load_{args.section}" if args.section else "bench_load"
        title = "Definitions load time (parse on load)"
        write_section(key, f"{title}: {args.sizes} models" if args.section else title, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
