"""CLI start-up and scaffolding: `dbtscaffold --help` and `init` against dagster-dbt.

    python bench/bench_cli.py [--repeats 7] [--models 5000]

Anchors, run in the same process and interleaved with ours:
  - `dagster-dbt --help`
  - `dagster-dbt project scaffold --project-name NAME --dbt-project-dir D
    --ignore-package-conflict` (the flag skips its PyPI name lookup, a network request
    whose time would only add noise; our `init` checks names offline).
Bars (the product's; bench/RESULTS.md lists them): --help median under 0.25 s; init on the example under 0.6 s and
under 100 MB peak memory.
"""

from __future__ import annotations

import argparse
import sys

from _common import (
    EXAMPLE,
    Series,
    bar,
    base_env,
    copy_project,
    fmt_s,
    fresh_dir,
    generate,
    header,
    interleave,
    ratio,
    run,
    table,
    tool,
    write_section,
)

HELP_BAR_S = 0.25
INIT_BAR_S = 0.6
INIT_BAR_MB = 100.0


def bench_help(repeats: int, env: dict[str, str]) -> dict[str, Series]:
    ours, anchor = tool("dbtscaffold"), tool("dagster-dbt")
    return interleave(
        repeats,
        {
            "dbtscaffold --help": lambda i: run([ours, "--help"], env=env),
            "dagster-dbt --help": lambda i: run([anchor, "--help"], env=env),
        },
    )


def bench_init(name: str, dbt_dir, repeats: int, env: dict[str, str]) -> dict[str, Series]:
    ours, anchor = tool("dbtscaffold"), tool("dagster-dbt")
    work = fresh_dir(f"cli_{name}")

    def run_ours(i: int):
        out = work / f"ours_{i}"
        return run(
            [
                ours,
                "init",
                "--dbt-project-dir",
                str(dbt_dir),
                "--output-dir",
                str(out),
                "--project-name",
                "bench_dagster",
            ],
            env=env,
        )

    def run_anchor(i: int):
        out = work / f"anchor_{i}"
        out.mkdir()
        return run(
            [
                anchor,
                "project",
                "scaffold",
                "--project-name",
                "bench_dagster",
                "--dbt-project-dir",
                str(dbt_dir),
                "--ignore-package-conflict",
            ],
            cwd=out,
            env=env,
        )

    return interleave(
        repeats,
        {
            f"dbtscaffold init ({name})": run_ours,
            f"dagster-dbt project scaffold ({name})": run_anchor,
        },
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--models", type=int, default=5000, help="size of the large project")
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)

    work = fresh_dir("cli")
    env = base_env(work / "home")
    example = copy_project(EXAMPLE, work / "jaffle_shop")
    large = generate(f"synth_{args.models}", args.models)

    print(f"--help x{args.repeats} ...", flush=True)
    helps = bench_help(args.repeats, env)
    print(f"init on the example x{args.repeats} ...", flush=True)
    init_small = bench_init("example", example, args.repeats, env)
    print(f"init on {args.models} models x{args.repeats} ...", flush=True)
    init_large = bench_init(f"{args.models} models", large, args.repeats, env)

    rows = []
    checks = []
    for group, bar_s in ((helps, HELP_BAR_S), (init_small, INIT_BAR_S), (init_large, None)):
        ours, anchor = list(group.values())
        rows.append(
            [
                f"`{ours.label}`",
                fmt_s(ours.median),
                ours.spread(),
                fmt_s(ours.cpu_median),
                f"{ours.peak_mb:.0f}",
                f"`{anchor.label}`",
                fmt_s(anchor.median),
                fmt_s(anchor.cpu_median),
                f"{anchor.peak_mb:.0f}",
                ratio(anchor.median, ours.median),
            ]
        )
        if bar_s is not None:
            checks.append((ours.label, ours.median, bar_s, "s"))
    ours_small = list(init_small.values())[0]
    checks.append((ours_small.label + " peak memory", ours_small.peak_mb, INIT_BAR_MB, "MB"))

    lines = header("python bench/bench_cli.py")
    lines += [
        f"{args.repeats} runs of each command, interleaved, after one warm-up run each. Times "
        "are wall-clock medians; CPU s (user + system, median) shows the work done whatever "
        "else the machine was running.",
        "",
    ]
    lines += table(
        [
            "ours",
            "median s",
            "min-max s",
            "CPU s",
            "peak MB",
            "anchor",
            "median s",
            "CPU s",
            "peak MB",
            "ratio",
        ],
        rows,
    )
    lines += ["", "Bars:", ""]
    for label, value, limit, unit in checks:
        lines.append(
            f"- `{label}`: {value:.3f} {unit} against a bar of {limit} {unit}: {bar(value < limit)}"
        )
    lines += [
        "",
        "The anchor scaffold runs with `--ignore-package-conflict`, which skips its PyPI "
        "name lookup (a network request); without the flag it is slower still.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("bench_cli", "CLI start-up and init", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
