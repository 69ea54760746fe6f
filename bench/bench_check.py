"""`dbtscaffold check` on the example (the tutorial's layout), with and without the load.

    python bench/bench_check.py [--repeats 7] [--sizes example,1000]

Anchors, run in the same process and interleaved with ours:
  - `dbt debug` in the dbt project (what people run to ask "is my dbt set-up right?"; it
    knows nothing of Dagster, and connects to the warehouse);
  - `dagster definitions validate -m <pkg>.definitions` with parse on load off (what `dg
    check defs` runs; dg is not installed here), the load our `definitions` check does.
Set-up, not timed: the example, `cd jaffle_shop && dbtscaffold init --project-name
jaffle_dagster`, then one load with parse on load so that the manifest is current (as in
tests/e2e/test_check.py). Every check then runs against a healthy project.
Bar (issue 15): `check --no-load` on the example under 1 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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

NO_LOAD_BAR_S = 1.0
PACKAGE = "jaffle_dagster"


def setup(name: str, src: Path, work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """(dbt project, Dagster project nested in it), parsed once so the manifest is current."""
    dbt_dir = copy_project(src, work / name / "jaffle_shop")
    run([tool("dbtscaffold"), "init", "--project-name", PACKAGE], cwd=dbt_dir, env=env)
    dagster_dir = dbt_dir / PACKAGE
    parse_env = dict(env, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1")
    validate = [tool("dagster"), "definitions", "validate", "-m", f"{PACKAGE}.definitions"]
    run(validate, cwd=dagster_dir, env=parse_env)
    report = run([tool("dbtscaffold"), "check", "--json"], cwd=dagster_dir, env=env, check=False)
    statuses = {c["id"]: c["status"] for c in json.loads(report.stdout)["checks"]}
    if "fail" in statuses.values():
        sys.exit(f"the {name} project is not healthy: {statuses}\n{report.stdout}")
    return dbt_dir, dagster_dir


def bench(
    name: str, dbt_dir: Path, dagster_dir: Path, repeats: int, env: dict[str, str]
) -> dict[str, Series]:
    ours = tool("dbtscaffold")
    off = dict(env, DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="0", PYTHONDONTWRITEBYTECODE="1")
    validate = [tool("dagster"), "definitions", "validate", "-m", f"{PACKAGE}.definitions"]
    return interleave(
        repeats,
        {
            f"dbtscaffold check --no-load ({name})": lambda i: run(
                [ours, "check", "--no-load"], cwd=dagster_dir, env=env
            ),
            f"dbtscaffold check ({name})": lambda i: run([ours, "check"], cwd=dagster_dir, env=env),
            f"dbt debug ({name})": lambda i: run([tool("dbt"), "debug"], cwd=dbt_dir, env=env),
            f"dagster definitions validate ({name})": lambda i: run(
                validate, cwd=dagster_dir, env=off
            ),
        },
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sizes", default="example", help="example and/or model counts: example,1000")
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)

    work = fresh_dir("check")
    env = base_env(work / "home")
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    rows = []
    checks = []
    for size in args.sizes.split(","):
        src = EXAMPLE if size == "example" else generate(f"synth_{size}", int(size))
        label = size if size == "example" else f"{size} models"
        print(f"set-up of {label} (init, one parse) ...", flush=True)
        dbt_dir, dagster_dir = setup(size, src, work, env)
        print(f"check on {label} x{args.repeats} ...", flush=True)
        series = list(bench(label, dbt_dir, dagster_dir, args.repeats, env).values())
        no_load, full, debug, validate = series
        for ours, anchor in ((no_load, debug), (full, validate)):
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
                    ratio(anchor.median, ours.median),
                ]
            )
        if size == "example":
            checks.append((no_load.label, "wall median", no_load.median, NO_LOAD_BAR_S))
            # CPU time is the steadier figure when other jobs share the two cores.
            checks.append((no_load.label, "CPU median", no_load.cpu_median, NO_LOAD_BAR_S))

    lines = header("python bench/bench_check.py")
    lines += [
        (
            f"{args.repeats} runs of each command, interleaved, after one warm-up run each, on a "
            "healthy project (the manifest current). Wall-clock medians; CPU s is user + system "
            "of the command and the children it waited for (the load's child included)."
        ),
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
            "ratio",
        ],
        rows,
    )
    lines += ["", "Bars:", ""]
    for label, what, value, limit in checks:
        lines.append(
            f"- `{label}`, {what}: {value:.3f} s against a bar of {limit} s: {bar(value < limit)}"
        )
    lines += [
        "",
        (
            "`check` runs the same load as `dagster definitions validate` (in a child process, with "
            "parse on load off) plus twelve checks that read files only; `--no-load` is those "
            "twelve. `dbt debug` answers a slice of them (profiles.yml, the target, the "
            "connection) and nothing about Dagster."
        ),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("bench_check", "check", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
