"""Time to a ready UI: `dbtscaffold dev` against `dagster dev` on the dagster-dbt scaffold.

    python bench/bench_dev.py [--repeats 3] [--sizes example]
    python bench/bench_dev.py --sizes 10000 --repeats 1 --section 10000
    python bench/bench_dev.py --sizes 10000 --repeats 1 --section 10000_ours --ours-only

Both start on a free loopback port, in a session of their own. "Ready" is the same test
for both: the webserver's GraphQL endpoint lists every asset of the project (the dbt
models and seeds) with the code location loaded. Two starts are measured:
  - cold: the dbt project has no target/ (both parse it);
  - warm: a restart with the dbt project unchanged (ours reuses the manifest; the anchor,
    `DbtProject.prepare_if_dev()`, runs `dbt parse` again).
After each start the whole process group gets SIGINT (what Ctrl-C sends), then SIGKILL if
anything is left after 20 s; the shutdown is not timed.
Memory and CPU: from the start until ready, a thread samples the whole process tree with
psutil every 0.2 s (the command, webserver, daemon, code server, and the dbt the code
server runs) and keeps each process's largest resident set; the table gives the peak of
each kind of process and the largest sum over the tree at one sample. CPU time is the sum
of each process's last sampled user + system time (a lower bound: a process that exits
between samples loses its last 0.2 s). Sampling can miss a peak shorter than 0.2 s.
Bar (the product's; bench/RESULTS.md lists it): `dbtscaffold dev` ready no slower than the anchor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
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
    init_ours,
    ratio,
    scaffold_anchor,
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


# (kind, substrings of the command line), first match wins.
KINDS = (
    ("webserver", ("dagster_webserver", "dagster-webserver")),
    ("daemon", ("dagster._daemon", "dagster-daemon")),
    ("code server", ("api grpc", "code-server", "grpc")),
    (
        "dbt",
        ("/dbt ", "dbt.cli", "-m dbt"),
    ),  # before dbtscaffold: --target-path .../dbtscaffold_parse
    ("dbtscaffold dev", ("dbtscaffold",)),
    ("dagster dev", (" dev",)),
)


def kind_of(cmdline: list[str]) -> str:
    line = " ".join(cmdline) + " "
    for kind, needles in KINDS:
        if any(n in line for n in needles):
            return kind
    return "other"


class TreeSampler(threading.Thread):
    """Peak RSS per process and last CPU time of every process of the tree under ROOT."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.done = threading.Event()
        self.peak: dict[tuple[int, float], float] = {}  # (pid, created) -> MB
        self.cpu: dict[tuple[int, float], float] = {}
        self.kind: dict[tuple[int, float], str] = {}
        self.tree_peak = 0.0

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0.0
        for p in procs:
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())
                    rss = p.memory_info().rss / 1024**2
                    t = p.cpu_times()
                    # Read every time: a child sampled between fork and exec still shows
                    # its parent's command line.
                    self.kind[key] = kind_of(p.cmdline())
            except psutil.Error:
                continue
            total += rss
            self.peak[key] = max(self.peak.get(key, 0.0), rss)
            self.cpu[key] = t.user + t.system
        self.tree_peak = max(self.tree_peak, total)

    def stop(self) -> dict:
        self.done.set()
        self.join()
        by_kind: dict[str, float] = {}
        count: dict[str, int] = {}
        for key, mb in self.peak.items():
            k = self.kind[key]
            by_kind[k] = max(by_kind.get(k, 0.0), mb)
            count[k] = count.get(k, 0) + 1
        return {
            "peak": by_kind,
            "count": count,
            "tree": self.tree_peak,
            "cpu": sum(self.cpu.values()),
        }


def time_to_ready(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    expected: int,
    log: Path,
    timeout: float = 3600,
) -> tuple[float, int, dict]:
    """Seconds until GraphQL lists EXPECTED assets (any, once loaded, when EXPECTED is 0),
    the number it listed, and the tree's memory and CPU until then."""
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
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[0]} exited {proc.returncode}; see {log}")
                listed = count_assets(port)
                if listed >= max(expected, 1):
                    seconds = time.perf_counter() - start
                    return seconds, listed, sampler.stop()
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"{cmd[0]} not ready after {timeout} s; see {log}")
                time.sleep(0.1)
        finally:
            sampler.done.set()
            stop(proc)


OURS, ANCHOR = "dbtscaffold dev", "dagster dev (dagster-dbt scaffold)"


def bench_size(size: str, repeats: int, ours_only: bool = False) -> dict[str, dict[str, list]]:
    work = fresh_dir(f"dev_{size}")
    home = work / "home"
    source = EXAMPLE if size == "example" else generate(f"synth_{size}", int(size))

    ours_dbt = copy_project(source, work / "ours" / "dbt")
    init_ours(ours_dbt, work / "ours", "ours_dagster", home)
    anchor_dbt = copy_project(source, work / "anchor" / "dbt")
    if not ours_only:
        scaffold_anchor(anchor_dbt, work / "anchor", "anchor_dagster", home)

    # Each with a DAGSTER_HOME of its own, whose dagster.yaml raises the code server's
    # start-up timeout from 180 s: a cold start of 5,000+ models on a busy 2-core machine
    # takes longer, and the UI would show a load error for either variant (dbtscaffold dev
    # gives up after 900 s of its own; that is reported as a failed start).
    def env_for(name: str) -> dict[str, str]:
        dagster_home = home / f"dagster_{name}"
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(
            f"code_servers:\n  local_startup_timeout: {STARTUP_TIMEOUT}\n", encoding="utf-8"
        )
        return base_env(home, DAGSTER_HOME=str(dagster_home))

    # How many assets the UI must list: what the first start (ours, cold) lists once its
    # code location has loaded, checked against the manifest it parsed.
    expected = 0

    def ours(port: int, label: str) -> tuple[float, int, dict]:
        return time_to_ready(
            [tool("dbtscaffold"), "dev", "--port", str(port)],
            work / "ours" / "ours_dagster",
            env_for("ours"),
            port,
            expected,
            work / f"ours_{label}.log",
        )

    def anchor(port: int, label: str) -> tuple[float, int, dict]:
        return time_to_ready(
            [tool("dagster"), "dev", "-p", str(port), "-h", "127.0.0.1"],
            work / "anchor" / "anchor_dagster",
            env_for("anchor"),
            port,
            expected,
            work / f"anchor_{label}.log",
        )

    variants = [(OURS, ours, ours_dbt)] + ([] if ours_only else [(ANCHOR, anchor, anchor_dbt)])
    times: dict[str, dict[str, list]] = {label: {"cold": [], "warm": []} for label, *_ in variants}
    for i in range(repeats):
        for label, fn, dbt_dir in variants:
            shutil.rmtree(dbt_dir / "target", ignore_errors=True)
            for kind in ("cold", "warm"):
                began = time.perf_counter()
                try:
                    seconds, listed, tree = fn(free_port(), f"{kind}_{i}")
                except RuntimeError as e:
                    failed = f"failed after {time.perf_counter() - began:.0f} s: {e}"
                    print(f"  {size:>7} {label:<36} {kind} {failed}", flush=True)
                    times[label][kind].append((math.inf, {"peak": {}, "tree": 0.0, "cpu": 0.0}))
                    continue
                if not expected:
                    expected = _check_count(listed, ours_dbt / "target" / "manifest.json")
                times[label][kind].append((seconds, tree))
                peaks = ", ".join(f"{k} {mb:.0f}" for k, mb in sorted(tree["peak"].items()))
                print(
                    f"  {size:>7} {label:<36} {kind} {seconds:6.2f} s, {listed} assets, "
                    f"CPU {tree['cpu']:.1f} s, tree {tree['tree']:.0f} MB ({peaks}; "
                    f"{tree['count']})",
                    flush=True,
                )
    return times


def _check_count(listed: int, manifest: Path) -> int:
    """LISTED, after checking it is every model, seed and snapshot of MANIFEST."""
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    want = sum(1 for n in nodes if n["resource_type"] in ("model", "seed", "snapshot"))
    if listed != want:
        raise RuntimeError(f"the UI listed {listed} assets; the manifest has {want}")
    return listed


STARTUP_TIMEOUT = 3600
# The columns of the memory table: the kinds of KINDS, then the sum over the tree.
MEM_KINDS = (*(kind for kind, _ in KINDS), "other", "tree")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="example")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--section",
        default="",
        help="write RESULTS.md section `bench_dev_<SECTION>` instead of `bench_dev`",
    )
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    ap.add_argument(
        "--ours-only",
        action="store_true",
        help="time dbtscaffold dev alone (no anchor, no ratios): a re-measure of ours",
    )
    args = ap.parse_args(argv)

    lines = header("python bench/bench_dev.py" + (" --ours-only" if args.ours_only else ""))
    lines += [
        (
            f"{args.repeats} cold and {args.repeats} warm starts of each, interleaved; seconds "
            "from the command's start until GraphQL lists every asset (median, min-max), and "
            "the CPU time (user + system) of the whole process tree until then, sampled."
        ),
        "",
    ]
    rows, mem_rows, checks = [], [], []
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        times = bench_size(size, args.repeats, args.ours_only)
        for kind in ("cold", "warm"):
            med, cpu = {}, {}
            for label, samples in times.items():
                secs = [t for t, _ in samples[kind]]
                med[label] = statistics.median(secs)
                cpu[label] = statistics.median(tree["cpu"] for _, tree in samples[kind])
                med[label, "cell"] = f"{fmt_s(med[label])} ({min(secs):.1f}-{max(secs):.1f})"
                peak: dict[str, float] = {}
                for _, tree in samples[kind]:
                    for k, mb in [*tree["peak"].items(), ("tree", tree["tree"])]:
                        peak[k] = max(peak.get(k, 0.0), mb)
                mem_rows.append(
                    [
                        size,
                        kind,
                        label,
                        *(f"{peak[k]:.0f}" if k in peak else "-" for k in MEM_KINDS),
                    ]
                )
            o, oc = med[OURS], cpu[OURS]
            if ANCHOR not in times:  # --ours-only
                rows.append([size, kind, med[OURS, "cell"], fmt_s(oc), "-", "-", "-"])
                continue
            a, ac = med[ANCHOR], cpu[ANCHOR]
            rows.append(
                [
                    size,
                    kind,
                    med[OURS, "cell"],
                    fmt_s(oc),
                    med[ANCHOR, "cell"],
                    fmt_s(ac),
                    f"{ratio(a, o)} / {ratio(ac, oc)}",
                ]
            )
            checks.append((size, kind, o, a))
    lines += table(
        [
            "project",
            "start",
            "dbtscaffold dev s",
            "CPU s",
            "dagster dev (scaffold) s",
            "CPU s",
            "ratio (wall / CPU)",
        ],
        rows,
    )
    lines += [
        "",
        (
            "Peak resident memory (MB) of each kind of process until ready, psutil sampling "
            "the whole tree every 0.2 s (the largest process of each kind; `tree`: the "
            "largest sum over the tree at one sample):"
        ),
        "",
        *table(["project", "start", "variant", *MEM_KINDS], mem_rows),
    ]
    lines += ["", "Bar: ready no slower than the anchor:", ""]
    if args.ours_only:
        lines.append("- not checked: `--ours-only` runs no anchor.")
    for size, kind, o, a in checks:
        lines.append(f"- {size}, {kind}: {o:.2f} s against {a:.2f} s: {bar(o <= a)}")
    print("\n".join(lines))
    if not args.no_write:
        key = f"bench_dev_{args.section}" if args.section else "bench_dev"
        title = "dev: time to a ready UI"
        write_section(key, f"{title}: {args.sizes} models" if args.section else title, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
