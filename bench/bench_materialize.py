"""A whole run of a dbt project: plain `dbt build`, `dbtscaffold materialize`, and the anchor
(`dagster asset materialize` on the dagster-dbt scaffold's project), interleaved in one run.

    python bench/bench_materialize.py --sizes 100,1000 [--repeats 1] [--section materialize]

Each size is a project made by bench/gen_project.py (N models, 3 seeds, their data tests),
copied once per variant so that each builds its own DuckDB file. Before each measured run the
warehouse file is deleted (every variant builds from nothing) and the manifest is current
(`dbt parse` ran, and ours has recorded its parse), so the times are those of a build, not of
a parse. Measured for the whole process tree: wall seconds; CPU seconds (user + system of the
command and every descendant it waited for, from wait4); peak memory (the largest sum of the
tree's resident sets, sampled every 0.2 s with psutil). The ratios divide by `dbt build`'s
figure of the same run. The asset count is read from each run's own report (ours: its last
line; the anchor: the materializations in its instance's event log).
Bar (issue 25): `dbtscaffold materialize` within 1.3x of `dbt build`, wall and CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

from _common import (
    base_env,
    copy_project,
    fresh_dir,
    generate,
    header,
    init_ours,
    scaffold_anchor,
    table,
    tool,
    write_section,
)
from bench_dev import TreeSampler

DBT, OURS, ANCHOR = "dbt build", "dbtscaffold materialize", "dagster asset materialize (anchor)"


def measured(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict:
    """Run CMD to its end: wall s, CPU s of the tree (wait4), peak MB of the tree (sampled)."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        tree = sampler.stop()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}; see {log}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "mb": tree["tree"]}


def _anchor_materializations(dagster_home: Path) -> int:
    """How many asset materializations the anchor's (SQLite) instance recorded."""
    found = 0
    for db in (dagster_home / "history" / "runs").glob("*.db"):
        if db.name == "index.db":  # asset events are indexed there too
            continue
        with sqlite3.connect(db) as con:
            try:
                row = con.execute(
                    "select count(*) from event_logs where dagster_event_type = "
                    "'ASSET_MATERIALIZATION'"
                ).fetchone()
            except sqlite3.Error:
                continue
            found += int(row[0])
    return found


def bench_size(models: int, repeats: int, work: Path, tables: bool) -> dict[str, list[dict]]:
    name = f"synth_{models}" + ("_tables" if tables else "")
    source = generate(name, models, tables=tables)
    home = work / "home"
    dbt_dir = copy_project(source, work / "dbt" / "synth")
    ours_dbt = copy_project(source, work / "ours" / "synth")
    anchor_dbt = copy_project(source, work / "anchor" / "synth")
    ours = init_ours(ours_dbt, work / "ours", "ours_dagster", home)
    anchor = scaffold_anchor(anchor_dbt, work / "anchor", "anchor_dagster", home)
    env = base_env(home)
    # Ours runs with the DAGSTER_HOME a user gets: the project's .dagster_home.
    ours_env = {k: v for k, v in env.items() if k != "DAGSTER_HOME"}
    for folder in (dbt_dir, ours_dbt, anchor_dbt):  # each manifest current before any run
        subprocess.run([tool("dbt"), "parse"], cwd=folder, env=env, check=True, capture_output=True)
    # Ours records its parse on its first load: a `check` loads the definitions once.
    subprocess.run([tool("dbtscaffold"), "check"], cwd=ours, env=ours_env, capture_output=True)
    nodes = json.loads((dbt_dir / "target" / "manifest.json").read_bytes())["nodes"].values()
    expected = sum(1 for n in nodes if n["resource_type"] in ("model", "seed", "snapshot"))

    def fresh_warehouse(folder: Path) -> None:
        for f in folder.glob("warehouse.duckdb*"):
            f.unlink()

    def run_dbt(i: int) -> dict:
        fresh_warehouse(dbt_dir)
        return measured([tool("dbt"), "build"], dbt_dir, env, work / f"dbt_{i}.log")

    def run_ours(i: int) -> dict:
        fresh_warehouse(ours_dbt)
        log = work / f"ours_{i}.log"
        result = measured([tool("dbtscaffold"), "materialize"], ours, ours_env, log)
        text = log.read_text("utf-8", "replace")
        found = re.findall(r"Materialized (\d+) assets?", text)
        result["assets"] = int(found[-1]) if found else -1
        return result

    def run_anchor(i: int) -> dict:
        fresh_warehouse(anchor_dbt)
        dagster_home = home / f"anchor_home_{i}"
        shutil.rmtree(dagster_home, ignore_errors=True)
        dagster_home.mkdir(parents=True)
        cmd = [tool("dagster"), "asset", "materialize", "--select", "*"]
        cmd += ["-m", "anchor_dagster.definitions"]
        result = measured(
            cmd,
            anchor,
            {**env, "DAGSTER_HOME": str(dagster_home)},
            work / f"anchor_{i}.log",
        )
        result["assets"] = _anchor_materializations(dagster_home)
        return result

    runs: dict[str, list[dict]] = {DBT: [], OURS: [], ANCHOR: []}
    for i in range(repeats):
        for label, fn in ((DBT, run_dbt), (OURS, run_ours), (ANCHOR, run_anchor)):
            r = fn(i)
            r.setdefault("assets", expected)
            runs[label].append(r)
            print(
                f"  {models:>6} {label:<36} {r['wall']:8.1f} s wall {r['cpu']:8.1f} s CPU "
                f"{r['mb']:7.0f} MB  {r['assets']}/{expected} assets",
                flush=True,
            )
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--section", default="materialize")
    ap.add_argument("--note", default="", help="a sentence printed under the table")
    ap.add_argument(
        "--tables",
        action="store_true",
        help="every model a table (gen_project.py --tables): each dbt node costs about the same "
        "at any size, where the default's chains of views make dbt's own queries grow",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    work = fresh_dir(f"materialize_{args.section}")
    command = f"python bench/bench_materialize.py --sizes {args.sizes}"
    lines = header(command + (" --tables" if args.tables else ""))  # the load now
    rows = []
    for models in sizes:
        runs = bench_size(models, args.repeats, work / str(models), args.tables)
        base = {k: statistics.median([r[k] for r in runs[DBT]]) for k in ("wall", "cpu")}
        for label, samples in runs.items():
            wall, cpu = (statistics.median([r[k] for r in samples]) for k in ("wall", "cpu"))
            mb = max(r["mb"] for r in samples)
            assets = min(r["assets"] for r in samples)
            rows.append(
                [models, label, f"{wall:.1f}", f"{cpu:.1f}", f"{mb:.0f}"]
                + [f"{wall / base['wall']:.2f}x", f"{cpu / base['cpu']:.2f}x", assets]
            )
    cols = ["models", "command", "wall s", "CPU s", "peak MB (tree)"]
    cols += ["wall vs dbt", "CPU vs dbt", "assets materialized"]
    lines += table(cols, rows)
    if args.note:
        lines += ["", args.note]
    write_section(
        args.section, f"A whole run: materialize against `dbt build` ({args.section})", lines
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
