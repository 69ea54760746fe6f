"""The converted seed's loader against `dbt seed` of the same CSV on the same warehouse.

For DuckDB, PostgreSQL and Spark (each when it is reachable: PostgreSQL and Spark from the
DBTSCAFFOLD_TEST_PG_* / DBTSCAFFOLD_TEST_SPARK_* variables that `.ci/services` exports, else
PostgreSQL is started as the tests start it), one CSV of --rows rows is loaded, interleaved
in one run, by:

- `dbt seed` (the anchor: what the seed cost before it was converted);
- the loader asset's code, `load_csv(...)`, in a fresh process (what a Dagster step pays),
  through the warehouse's own loader where there is one (DuckDB, PostgreSQL);
- the same with DBTSCAFFOLD_SEED_LOADER=dbt: dbt's seed loading, the path of every other
  adapter (and the only one on Spark).

`--quickstart` also times `dbtscaffold quickstart` with each loader (the DuckDB quickstart
must not become more than 1 s slower through the generic path).

    python bench/bench_loader.py [--rows 10000] [--repeats 5] [--quickstart] [--no-write]
                                 [--warehouses duckdb,postgres,spark]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

from _common import (
    REPO,
    base_env,
    fmt_s,
    fresh_dir,
    header,
    interleave,
    run,
    table,
    tool,
    write_section,
)

sys.path.insert(0, str(REPO))

LOAD = (
    "import sys; from pathlib import Path; from types import SimpleNamespace as NS;"
    "from dbtscaffold.runtime.loaders import load_csv;"
    "p = NS(project_dir=Path('.').resolve(), profiles_dir=Path('.').resolve(), target=None);"
    "import time; t = time.perf_counter();"
    "n = load_csv(p, Path('seeds/bench_rows.csv'), schema=sys.argv[1], table='bench_rows_l');"
    "print(n, time.perf_counter() - t)"
)


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    lines = ["id,name,amount,is_active,created_at,day"]
    for i in range(rows):
        lines.append(
            f"{i},name {rnd.randint(0, 10**6)},{rnd.randint(0, 10**5) / 100},"
            f"{'true' if i % 3 else 'false'},2024-01-{1 + i % 28:02d} 0{i % 10}:00:00,"
            f"2024-02-{1 + i % 28:02d}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def project(root: Path, rows: int, profile: str) -> Path:
    (root / "seeds").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: bench_load\nprofile: bench_load\nconfig-version: 2\n", encoding="utf-8"
    )
    (root / "profiles.yml").write_text(profile, encoding="utf-8")
    write_csv(root / "seeds" / "bench_rows.csv", rows)
    return root


def targets() -> dict[str, tuple[str, str, object]]:
    """{warehouse: (profiles.yml, schema, cleanup)} for the reachable warehouses."""
    out: dict[str, tuple[str, str, object]] = {
        "duckdb": (
            "bench_load:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
            "      path: bench.duckdb\n      threads: 1\n",
            "main",
            None,
        )
    }
    from tests.helpers import postgres as pgs

    pg = pgs.from_env()
    stop = None
    if pg is None:
        try:
            pg = pgs.start()
            stop = lambda: pgs.stop(pg)  # noqa: E731
        except Exception as e:  # noqa: BLE001 - the bench goes on without PostgreSQL
            print(f"PostgreSQL skipped: {e}", file=sys.stderr)
    if pg is not None:
        out["postgres"] = (
            f"bench_load:\n  target: pg\n  outputs:\n    pg:\n      type: postgres\n"
            f"      host: {pg.host}\n      port: {pg.port}\n      user: {pg.user}\n"
            f"      password: '{pg.password}'\n      dbname: {pg.dbname}\n"
            "      schema: bench_load\n      threads: 1\n",
            "bench_load",
            stop,
        )
    host, port = (
        os.environ.get("DBTSCAFFOLD_TEST_SPARK_HOST"),
        os.environ.get("DBTSCAFFOLD_TEST_SPARK_PORT"),
    )
    if host and port:
        out["spark"] = (
            f"bench_load:\n  target: spark\n  outputs:\n    spark:\n      type: spark\n"
            f"      method: thrift\n      host: {host}\n      port: {port}\n"
            "      schema: bench_load\n      threads: 1\n",
            "bench_load",
            None,
        )
    else:
        print("Spark skipped: DBTSCAFFOLD_TEST_SPARK_HOST/PORT unset", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quickstart", action="store_true")
    ap.add_argument("--warehouses", default="duckdb,postgres,spark")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    out = fresh_dir("loader")
    env = base_env(out / "home")
    env["PYTHONPATH"] = str(REPO / "src")
    rows_out: list[list[object]] = []
    for warehouse, (profile, schema, cleanup) in targets().items():
        if warehouse not in args.warehouses.split(","):
            if callable(cleanup):
                cleanup()
            continue
        root = project(out / warehouse, args.rows, profile)
        repeats = args.repeats if warehouse != "spark" else max(2, args.repeats // 2)
        runners = {
            "dbt seed": lambda i, r=root: run([tool("dbt"), "seed", "--profiles-dir", "."], cwd=r, env=env),
            "dbt's seed loading": lambda i, r=root, s=schema: run(
                [sys.executable, "-c", LOAD, s], cwd=r,
                env={**env, "DBTSCAFFOLD_SEED_LOADER": "dbt"},
            ),
        }  # fmt: skip
        if warehouse != "spark":
            runners["own loader"] = lambda i, r=root, s=schema: run(
                [sys.executable, "-c", LOAD, s], cwd=r, env=env
            )
        series = interleave(repeats, runners)
        anchor = series["dbt seed"].median
        for label, s in series.items():
            # What a Dagster step pays: the load_csv() call, its process already running.
            calls = [float(x.stdout.split()[-1]) for x in s.samples] if label != "dbt seed" else []
            call = statistics.median(calls) if calls else s.median
            rows_out.append([
                warehouse, label, fmt_s(s.median), s.spread(), fmt_s(s.cpu_median),
                f"{s.peak_mb:.0f}", f"{anchor / s.median:.2f}x", fmt_s(call),
                f"{anchor / call:.2f}x",
            ])  # fmt: skip
            print(rows_out[-1], flush=True)
        if callable(cleanup):
            cleanup()
    lines = header("python bench/bench_loader.py") + [
        f"One CSV of {args.rows:,} rows (6 columns: integers, text, decimals, booleans, "
        "timestamps, dates), loaded into the same warehouse by each; a fresh process each time. "
        "Ratio: `dbt seed`'s median divided by this one (above 1x: faster than `dbt seed`). "
        "'In a step': the load_csv() call alone, which is what a Dagster step pays (its "
        "process, Python and Dagster are already running); for `dbt seed` both are the same.",
        "",
        *table(
            [
                "warehouse",
                "loader",
                "median s",
                "spread",
                "CPU s",
                "peak MB",
                "vs dbt seed",
                "in a step s",
                "in a step vs dbt seed",
            ],
            rows_out,
        ),
    ]
    if args.quickstart:
        qs_rows = []
        dest = out / "qs"

        def quickstart(extra: dict[str, str], name: str):
            def go(i: int):
                target = dest / f"{name}{i}"
                return run([tool("dbtscaffold"), "quickstart", str(target)], env={**env, **extra})

            return go

        series = interleave(
            3,
            {
                "quickstart (DuckDB's own loader)": quickstart({}, "own"),
                "quickstart (dbt's seed loading)": quickstart(
                    {"DBTSCAFFOLD_SEED_LOADER": "dbt"}, "dbt"
                ),
            },
            warmup=False,
        )
        for label, s in series.items():
            qs_rows.append([label, fmt_s(s.median), s.spread(), fmt_s(s.cpu_median)])
            print(qs_rows[-1], flush=True)
        lines += ["", *table(["command", "median s", "spread", "CPU s"], qs_rows)]
    print("\n".join(lines))
    if not args.no_write:
        write_section("loader", "The converted seed's loader against `dbt seed`", lines)


if __name__ == "__main__":
    main()
