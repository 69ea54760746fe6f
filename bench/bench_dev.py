"""Time to a ready UI: `dbtscaffold dev` against `dagster dev` on the dagster-dbt scaffold.

    python bench/bench_dev.py [--repeats 3] [--sizes example]

Both start on a free loopback port, in a session of their own. "Ready" is the same test
for both: the webserver's GraphQL endpoint lists every asset of the project (the dbt
models and seeds) with the code location loaded. Two starts are measured:
  - cold: the dbt project has no target/ (both parse it);
  - warm: a restart with the dbt project unchanged (ours reuses the manifest; the anchor,
    `DbtProject.prepare_if_dev()`, runs `dbt parse` again).
After each start the whole process group gets SIGINT (what Ctrl-C sends), then SIGKILL if
anything is left after 20 s; the shutdown is not timed.
Bar (DESIGN.md): `dbtscaffold dev` ready no slower than the anchor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from _common import (
    EXAMPLE,
    bar,
    base_env,
    copy_project,
    fmt_s,
    fresh_dir,
    generate,
    header,
    ratio,
    run,
    table,
    tool,
    write_section,
)

QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation {
    repositories { assetNodes { id } } } } } } } }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_assets(port: int) -> int:
    """Assets listed by the UI on PORT, or -1 while it does not answer or is loading."""
    body = json.dumps({"query": QUERY}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            data = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return -1
    entries = (data.get("data") or {}).get("workspaceOrError", {}).get("locationEntries") or []
    total = 0
    for entry in entries:
        if entry.get("loadStatus") != "LOADED":
            return -1
        loc = entry.get("locationOrLoadError") or {}
        if loc.get("__typename") != "RepositoryLocation":
            raise RuntimeError(f"code location failed to load: {json.dumps(loc)[:2000]}")
        total += sum(len(r["assetNodes"]) for r in loc["repositories"])
    return total if entries else -1


def _descendants(root: int) -> list[psutil.Process]:
    """Every descendant of ROOT now (psutil.Process: pid and creation time)."""
    try:
        return psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def stop(proc: subprocess.Popen) -> None:
    """SIGINT to the group we started; then SIGKILL to whatever is left of it.

    `dagster dev` can start a new code server while it shuts down, so the group is killed
    after its leader exits too, as is any descendant that left the group.
    """
    known = set(_descendants(proc.pid))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        known.update(_descendants(proc.pid))
    time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group id is the leader's pid
    proc.wait()
    for p in known:  # only processes that descend from the one we started
        with contextlib.suppress(psutil.Error):
            p.kill()  # psutil refuses a pid that now belongs to another process


def time_to_ready(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    expected: int,
    log: Path,
    timeout: float = 1200,
) -> float:
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[0]} exited {proc.returncode}; see {log}")
                if count_assets(port) >= expected:
                    return time.perf_counter() - start
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"{cmd[0]} not ready after {timeout} s; see {log}")
                time.sleep(0.1)
        finally:
            stop(proc)


def bench_size(size: str, repeats: int) -> dict[str, dict[str, list[float]]]:
    work = fresh_dir(f"dev_{size}")
    home = work / "home"
    source = EXAMPLE if size == "example" else generate(f"synth_{size}", int(size))

    ours_dbt = copy_project(source, work / "ours" / "dbt")
    run(
        [
            tool("dbtscaffold"),
            "init",
            "--dbt-project-dir",
            str(ours_dbt),
            "--output-dir",
            str(work / "ours"),
            "--project-name",
            "ours_dagster",
        ],
        env=base_env(home),
    )
    anchor_dbt = copy_project(source, work / "anchor" / "dbt")
    run(
        [
            tool("dagster-dbt"),
            "project",
            "scaffold",
            "--project-name",
            "anchor_dagster",
            "--dbt-project-dir",
            str(anchor_dbt),
            "--ignore-package-conflict",
        ],
        cwd=work / "anchor",
        env=base_env(home),
    )
    expected = json.loads(
        run(
            [
                tool("python"),
                "-c",
                (
                    "import json,sys; m=json.load(open(sys.argv[1]));"
                    "print(sum(1 for n in m['nodes'].values() if n['resource_type'] in "
                    "('model','seed','snapshot')))"
                ),
                str(_manifest_for_count(ours_dbt, home)),
            ],
            env=base_env(home),
        ).stdout
    )

    # Each with its own default DAGSTER_HOME: ours keeps one in the project, `dagster dev`
    # makes a temporary one.
    env = base_env(home)
    env.pop("DAGSTER_HOME")

    def ours(port: int, label: str) -> float:
        return time_to_ready(
            [tool("dbtscaffold"), "dev", "--port", str(port)],
            work / "ours" / "ours_dagster",
            env,
            port,
            expected,
            work / f"ours_{label}.log",
        )

    def anchor(port: int, label: str) -> float:
        return time_to_ready(
            [tool("dagster"), "dev", "-p", str(port), "-h", "127.0.0.1"],
            work / "anchor" / "anchor_dagster",
            env,
            port,
            expected,
            work / f"anchor_{label}.log",
        )

    times: dict[str, dict[str, list[float]]] = {
        "dbtscaffold dev": {"cold": [], "warm": []},
        "dagster dev (dagster-dbt scaffold)": {"cold": [], "warm": []},
    }
    for i in range(repeats):
        for label, fn, dbt_dir in (
            ("dbtscaffold dev", ours, ours_dbt),
            ("dagster dev (dagster-dbt scaffold)", anchor, anchor_dbt),
        ):
            shutil.rmtree(dbt_dir / "target", ignore_errors=True)
            cold = fn(free_port(), f"cold_{i}")
            warm = fn(free_port(), f"warm_{i}")
            times[label]["cold"].append(cold)
            times[label]["warm"].append(warm)
            print(f"  {size:>7} {label:<36} cold {cold:6.2f} s, warm {warm:6.2f} s", flush=True)
    return times


def _manifest_for_count(dbt_dir: Path, home: Path) -> Path:
    """Parse a scratch copy once to learn how many assets the UI should list."""
    scratch = copy_project(dbt_dir, dbt_dir.parent.parent / "count_dbt")
    run(
        [tool("dbt"), "parse", "--project-dir", str(scratch), "--profiles-dir", str(scratch)],
        cwd=scratch,
        env=base_env(home),
    )
    return scratch / "target" / "manifest.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="example")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)

    lines = header("python bench/bench_dev.py")
    lines += [
        (
            f"{args.repeats} cold and {args.repeats} warm starts of each, interleaved; seconds "
            "from the command's start until GraphQL lists every asset (median, min-max)."
        ),
        "",
    ]
    rows, checks = [], []
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        times = bench_size(size, args.repeats)
        ours, anchor = times["dbtscaffold dev"], times["dagster dev (dagster-dbt scaffold)"]
        for kind in ("cold", "warm"):
            o, a = statistics.median(ours[kind]), statistics.median(anchor[kind])
            rows.append(
                [
                    size,
                    kind,
                    f"{fmt_s(o)} ({min(ours[kind]):.1f}-{max(ours[kind]):.1f})",
                    f"{fmt_s(a)} ({min(anchor[kind]):.1f}-{max(anchor[kind]):.1f})",
                    ratio(a, o),
                ]
            )
            checks.append((size, kind, o, a))
    lines += table(
        ["project", "start", "dbtscaffold dev s", "dagster dev (scaffold) s", "ratio"], rows
    )
    lines += ["", "Bar: ready no slower than the anchor:", ""]
    for size, kind, o, a in checks:
        lines.append(f"- {size}, {kind}: {o:.2f} s against {a:.2f} s: {bar(o <= a)}")
    print("\n".join(lines))
    if not args.no_write:
        write_section("bench_dev", "dev: time to a ready UI", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
