"""convert-seed on growing projects, against a naive regex rewrite of the same files.

    python bench/bench_convert_seed.py [--sizes 500,1000,5000,10000] [--repeats 5]

For each size N, a synthetic project of N models (bench/gen_project.py) where N/10 files
reference `seed_0` in every spelling, with a Dagster project from `dbtscaffold init`.
Measured on a fresh copy each time: `dbtscaffold convert-seed seed_0 --dry-run` (plan and
diff), the real conversion (plan, backups, atomic apply), and the floor: a one-regex
rewrite of the same refs in the same files, in place (bench/naive_rewrite.py), as a
process of its own like ours.
Bar (DESIGN.md): the 5,000-model conversion (500 files referencing the seed) under 1.5 s,
growing linearly with the number of files.
"""

from __future__ import annotations

import argparse
import os
import sys

from _common import (
    BENCH_DIR,
    Series,
    bar,
    base_env,
    copy_project,
    fmt_s,
    fresh_dir,
    generate,
    header,
    run,
    table,
    tool,
    write_section,
)

SEED = "seed_0"
SOURCE = "synth"
BAR_S = 1.5
BAR_SIZE = 5000


def count_files(root) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and p.name != ".generated")


def bench_size(models: int, repeats: int) -> tuple[int, int, dict[str, Series]]:
    work = fresh_dir(f"convert_{models}")
    env = base_env(work / "home")
    source = generate(f"synth_{models}", models)
    files = count_files(source)
    refs = max(1, models // 10)
    # One pristine pair (dbt project + Dagster project), copied before every run.
    pristine = work / "pristine"
    copy_project(source, pristine / "dbt")
    run(
        [
            tool("dbtscaffold"),
            "init",
            "--dbt-project-dir",
            str(pristine / "dbt"),
            "--output-dir",
            str(pristine),
            "--project-name",
            "synth_dagster",
        ],
        env=env,
    )
    cli = tool("dbtscaffold")
    series = {k: Series(k) for k in ("dry-run", "convert", "naive regex")}
    for i in range(-1, repeats):  # -1: warm-up, not counted
        pair = copy_project(pristine, work / "run")
        naive_dir = copy_project(source, work / "naive")
        os.sync()  # flush the copies (untimed): a conversion's own sync then writes its files only
        args = [
            SEED,
            "--dbt-project-dir",
            str(pair / "dbt"),
            "--dagster-project-dir",
            str(pair / "synth_dagster"),
        ]
        dry = run([cli, "convert-seed", *args, "--dry-run"], env=env)
        real = run([cli, "convert-seed", *args], env=env)
        naive = run(
            [sys.executable, str(BENCH_DIR / "naive_rewrite.py"), str(naive_dir), SEED, SOURCE],
            env=env,
        )
        if i >= 0:
            series["dry-run"].samples.append(dry)
            series["convert"].samples.append(real)
            series["naive regex"].samples.append(naive)
        print(
            f"  {models:>6} models: dry-run {dry.seconds:.3f} s, convert {real.seconds:.3f} s "
            f"(CPU {real.cpu_seconds:.3f} s, {real.peak_mb:.0f} MB), naive {naive.seconds:.3f} s",
            flush=True,
        )
    return files, refs, series


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,1000,5000,10000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)

    rows, points = [], []
    bar_value = None
    for models in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"{models} models x{args.repeats} ...", flush=True)
        files, refs, s = bench_size(models, args.repeats)
        dry, real, naive = s["dry-run"], s["convert"], s["naive regex"]
        rows.append(
            [
                f"{models:,}",
                f"{files:,}",
                f"{refs:,}",
                f"{fmt_s(dry.median)} ({dry.spread()})",
                f"{dry.peak_mb:.0f}",
                f"{fmt_s(real.median)} ({real.spread()})",
                fmt_s(real.cpu_median),
                f"{real.peak_mb:.0f}",
                f"{fmt_s(naive.median)}",
                f"{real.median / naive.median:.1f}x",
                f"{1000 * real.median / files:.3f}",
            ]
        )
        points.append((files, real.median, dry.median))
        if models == BAR_SIZE:
            bar_value = real.median

    lines = header("python bench/bench_convert_seed.py")
    lines += [
        f"{args.repeats} runs per size on fresh copies, after one warm-up run. Times in s as "
        "median (min-max); the gap between wall and CPU time of a conversion is mostly "
        "waiting for the disk (apply syncs the files and backups it wrote). "
        '"x floor" is our conversion '
        "over the naive rewrite (the floor is an anchor to stay near, not to beat: it does a "
        "fraction of the work).",
        "",
    ]
    lines += table(
        [
            "models",
            "files",
            "files with the seed",
            "dry-run s",
            "dry-run MB",
            "convert s",
            "convert CPU s",
            "convert MB",
            "naive regex s",
            "x floor",
            "convert ms/file",
        ],
        rows,
    )
    if len(points) >= 2:
        lines += ["", "Growth (marginal cost between sizes; linear growth keeps it flat):", ""]
        for (f0, t0, d0), (f1, t1, d1) in zip(points, points[1:]):
            lines.append(
                f"- {f0:,} -> {f1:,} files: convert +{1000 * (t1 - t0) / (f1 - f0):.3f} ms/file, "
                f"dry-run +{1000 * (d1 - d0) / (f1 - f0):.3f} ms/file"
            )
    if bar_value is not None:
        lines += [
            "",
            f"Bar: conversion of the {BAR_SIZE:,}-model project in {bar_value:.3f} s "
            f"against {BAR_S} s: {bar(bar_value < BAR_S)}.",
        ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("bench_convert_seed", "convert-seed", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
