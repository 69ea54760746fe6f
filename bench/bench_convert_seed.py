"""convert-seed on growing projects, against a naive regex rewrite of the same files.

    python bench/bench_convert_seed.py [--sizes 500,1000,5000,10000] [--repeats 5]
                                       [--baseline OTHER_CHECKOUT/src]

For each size N, a synthetic project of N models (bench/gen_project.py) where N/10 files
reference `seed_0` in every spelling, with a Dagster project from `dbtscaffold init`.
Measured on a fresh copy each time: `dbtscaffold convert-seed seed_0 --dry-run` (plan and
diff), the real conversion (plan, backups, journal, atomic apply), and the floor: a
one-regex rewrite of the same refs in the same files, in place (bench/naive_rewrite.py),
as a process of its own like ours. With --baseline, the same two commands run from that
source tree too (e.g. a `git worktree` of an older commit), interleaved with ours, so the
"before" column comes from the same run.
Bars (issue #16): the conversion at 5,000 models (500 files with the seed) under 0.5 s
and at 10,000 models (1,000 files) under 1 s (medians, wall clock), growing linearly with
the number of files; `--dry-run` no slower than before.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
from pathlib import Path

from _common import (
    BENCH_DIR,
    REPO,
    Sample,
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
BARS = {5000: 0.5, 10000: 1.0}  # models: seconds (median wall) for the real conversion


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and p.name != ".generated")


def _env(home: Path, src: Path | None) -> dict[str, str]:
    env = base_env(home)
    # Measure dbtscaffold as installed: with its bytecode cached (a pip install compiles
    # it), not compiled from source on every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def bench_size(
    models: int, repeats: int, baseline: Path | None
) -> tuple[int, int, dict[str, Series], tuple[float, float]]:
    work = fresh_dir(f"convert_{models}")
    ours_env = _env(work / "home", REPO / "src")
    envs = {"ours": ours_env}
    if baseline is not None:
        envs["before"] = _env(work / "home", baseline)
    source = generate(f"synth_{models}", models)
    files = count_files(source)
    refs = max(1, models // 10)
    # One pristine pair (dbt project + Dagster project), copied before every run.
    pristine = work / "pristine"
    copy_project(source, pristine / "dbt")
    cli = tool("dbtscaffold")
    run(
        [cli, "init", "--dbt-project-dir", str(pristine / "dbt"), "--output-dir",
         str(pristine), "--project-name", "synth_dagster"],
        env=ours_env,
    )  # fmt: skip
    series = {
        f"{cmd} {who}": Series(f"{cmd} {who}") for who in envs for cmd in ("dry-run", "convert")
    }
    series["naive regex"] = Series("naive regex")
    load = [os.getloadavg()[0]]
    for i in range(-1, repeats):  # -1: warm-up (and bytecode caches), not counted
        samples: dict[str, Sample] = {}
        for who, env in envs.items():
            pair = copy_project(pristine, work / "run")
            os.sync()  # flush the copy (untimed): a conversion's own sync then writes its files only
            args = [
                SEED,
                "--dbt-project-dir",
                str(pair / "dbt"),
                "--dagster-project-dir",
                str(pair / "synth_dagster"),
            ]
            samples[f"dry-run {who}"] = run([cli, "convert-seed", *args, "--dry-run"], env=env)
            samples[f"convert {who}"] = run([cli, "convert-seed", *args], env=env)
        naive_dir = copy_project(source, work / "naive")
        os.sync()
        samples["naive regex"] = run(
            [sys.executable, str(BENCH_DIR / "naive_rewrite.py"), str(naive_dir), SEED, SOURCE],
            env=ours_env,
        )
        load.append(os.getloadavg()[0])
        if i >= 0:
            for label, sample in samples.items():
                series[label].samples.append(sample)
        shown = (f"{k} {s.seconds:.3f} s (CPU {s.cpu_seconds:.3f})" for k, s in samples.items())
        print(f"  {models:>6} models: " + ", ".join(shown), flush=True)
    return files, refs, series, (min(load), max(load))


def _commit_of(src: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or str(src)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,1000,5000,10000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--baseline", type=Path, help="another checkout's src/ to measure in the same run"
    )
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)
    baseline = args.baseline.resolve() if args.baseline else None

    rows, before_rows, points, bars, dry_bars = [], [], [], [], []
    loads: list[float] = []
    for models in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"{models} models x{args.repeats} ...", flush=True)
        files, refs, s, load = bench_size(models, args.repeats, baseline)
        loads.extend(load)
        dry, real, naive = s["dry-run ours"], s["convert ours"], s["naive regex"]
        rows.append(
            [
                f"{models:,}",
                f"{files:,}",
                f"{refs:,}",
                f"{fmt_s(dry.median)} ({dry.spread()})",
                fmt_s(dry.cpu_median),
                f"{dry.peak_mb:.0f}",
                f"{dry.median / naive.median:.1f}x",
                f"{fmt_s(real.median)} ({real.spread()})",
                fmt_s(real.cpu_median),
                f"{real.peak_mb:.0f}",
                f"{real.median / naive.median:.1f}x",
                f"{fmt_s(naive.median)} / {fmt_s(naive.cpu_median)}",
            ]
        )
        points.append((files, real.median, dry.median, real.cpu_median))
        if baseline is not None:
            bdry, breal = s["dry-run before"], s["convert before"]
            before_rows.append(
                [
                    f"{models:,}",
                    f"{fmt_s(bdry.median)} / {fmt_s(bdry.cpu_median)}",
                    f"{fmt_s(dry.median)} / {fmt_s(dry.cpu_median)}",
                    f"{bdry.median / dry.median:.1f}x",
                    f"{fmt_s(breal.median)} / {fmt_s(breal.cpu_median)}",
                    f"{fmt_s(real.median)} / {fmt_s(real.cpu_median)}",
                    f"{breal.median / real.median:.1f}x",
                    f"{breal.peak_mb:.0f} / {real.peak_mb:.0f}",
                ]
            )
            dry_bars.append(
                f"`--dry-run` at {models:,} models no slower than before: {dry.median:.3f} s "
                f"against {bdry.median:.3f} s (CPU {dry.cpu_median:.3f} against "
                f"{bdry.cpu_median:.3f} s): {bar(dry.median <= bdry.median * 1.05)}."
            )
        if models in BARS:
            bars.append(
                f"Conversion at {models:,} models ({refs:,} files with the seed) in "
                f"{real.median:.3f} s median (CPU {real.cpu_median:.3f} s) against "
                f"{BARS[models]} s: {bar(real.median < BARS[models])}.",
            )

    lines = header("python bench/bench_convert_seed.py" + (" --baseline ..." if baseline else ""))
    lines += [
        (
            f"{args.repeats} runs per size on fresh copies, after one warm-up run, with bytecode "
            "cached as a pip install leaves it. Times in s as median (min-max); CPU s is user + "
            "system of the command. The gap between wall and CPU time of a conversion is mostly "
            "waiting for the disk (apply syncs the backups, the staged files and the renames). "
            '"x floor" is over the naive rewrite, whose wall / CPU s are in the last column '
            "(the floor is an anchor to stay near, not to beat: it does a fraction of the work). "
            "MB is the peak resident set of the command."
        ),
        "",
    ]
    lines += table(
        [
            "models", "files", "files with the seed", "dry-run s", "dry-run CPU s", "dry-run MB",
            "dry-run x floor", "convert s", "convert CPU s", "convert MB", "convert x floor",
            "naive regex s / CPU s",
        ],
        rows,
    )  # fmt: skip
    if before_rows:
        lines += [
            "",
            (
                f"Before and after, same run (before: {_commit_of(baseline)}, interleaved with "
                "ours; wall / CPU s, medians):"
            ),
            "",
        ]
        lines += table(
            [
                "models", "dry-run before", "dry-run now", "speed-up", "convert before",
                "convert now", "speed-up", "convert MB before / now",
            ],
            before_rows,
        )  # fmt: skip
    if len(points) >= 2:
        lines += [
            "",
            "Growth (marginal cost per file between sizes; linear growth keeps it flat):",
            "",
        ]
        for (f0, t0, d0, c0), (f1, t1, d1, c1) in itertools.pairwise(points):
            lines.append(
                f"- {f0:,} -> {f1:,} files: convert +{1000 * (t1 - t0) / (f1 - f0):.3f} ms/file "
                f"(CPU +{1000 * (c1 - c0) / (f1 - f0):.3f}), "
                f"dry-run +{1000 * (d1 - d0) / (f1 - f0):.3f} ms/file"
            )
    if bars or dry_bars:
        lines += ["", "Bars:", ""] + [f"- {b}" for b in bars + dry_bars]
    if loads:
        busy = max(loads) > (os.cpu_count() or 2)
        lines += [
            "",
            f"Load average during the run: {min(loads):.1f} to {max(loads):.1f}"
            + (
                f" on {os.cpu_count()} cores: the machine was shared, so wall times are "
                "inflated; the CPU columns show the work done."
                if busy
                else "."
            ),
        ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("bench_convert_seed", "convert-seed", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
