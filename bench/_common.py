"""Shared helpers of the benchmark scripts: timed runs, medians, and bench/RESULTS.md."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
OUT = BENCH_DIR / "out"
BIN = Path(sys.executable).parent
EXAMPLE = REPO / "src" / "dbtscaffold" / "example"

sys.path.insert(0, str(BENCH_DIR))

# getrusage's ru_maxrss is in KiB on Linux, in bytes on macOS.
_MAXRSS_PER_MB = 1024 * 1024 if sys.platform == "darwin" else 1024


@dataclass
class Sample:
    seconds: float
    peak_mb: float
    returncode: int
    cpu_seconds: float = 0.0  # user + system, of it and its waited-for children
    stdout: str = ""
    stderr: str = ""


@dataclass
class Series:
    """Repeated samples of one command."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        return max(s.peak_mb for s in self.samples)

    def spread(self) -> str:
        return f"{min(self.times):.3f}-{max(self.times):.3f}"


def tool(name: str) -> str:
    """An executable of the running interpreter's environment (the project venv)."""
    path = BIN / name
    if not path.exists():
        sys.exit(f"{path} not found: run the benchmarks with the project's venv python.")
    return str(path)


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of every measured command: isolated HOME, no telemetry, venv first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("DBT_") and not k.startswith("DAGSTER_")
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        DAGSTER_HOME=str(home / ".dagster"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        NO_COLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> Sample:
    """Run CMD once; wall time, and peak RSS of it and its waited-for children (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        sample = Sample(
            seconds,
            usage.ru_maxrss / _MAXRSS_PER_MB,
            proc.returncode,
            usage.ru_utime + usage.ru_stime,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
    if check and sample.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} exited {sample.returncode}\n"
            f"--- stdout\n{sample.stdout[-3000:]}\n--- stderr\n{sample.stderr[-3000:]}"
        )
    return sample


def interleave(
    repeats: int, runners: dict[str, Callable[[int], Sample]], warmup: bool = True
) -> dict[str, Series]:
    """Run each runner REPEATS times, alternating between them so drift hits all alike."""
    if warmup:
        for fn in runners.values():
            fn(-1)
    series = {label: Series(label) for label in runners}
    for i in range(repeats):
        for label, fn in runners.items():
            series[label].samples.append(fn(i))
    return series


def fresh_dir(name: str) -> Path:
    """An empty folder under bench/out/ (git-ignored)."""
    path = OUT / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def versions() -> dict[str, str]:
    out = {}
    for name in (
        "dbtscaffold",
        "dbt-core",
        "dbt-duckdb",
        "dagster",
        "dagster-dbt",
        "dagster-webserver",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _cpu_model() -> str:
    """The CPU's model name, best effort: psutil does not report it, so ask the OS."""
    # Only the description of the machine in RESULTS.md needs this: no measurement does.
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            name = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
            if name:
                return name
    return platform.processor() or "unknown CPU"


def machine() -> str:
    import psutil

    cpu = _cpu_model()
    mem = f", {psutil.virtual_memory().total / 1024**3:.1f} GiB RAM"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = f", load average {os.getloadavg()[0]:.1f} when the run started"
    except OSError:
        load = ""
    return f"{cpu}, {cores} cores{mem}, {platform.system()} {platform.release()}{load}"


def commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        return "unknown"


def header(command: str) -> list[str]:
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    return [
        f"_Run `{command}` on {now}; commit {commit()}._",
        f"_Machine: {machine()}; Python {platform.python_version()}._",
        f"_Versions: {vers}._",
        "",
    ]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return lines


def write_section(key: str, title: str, lines: list[str]) -> None:
    """Replace (or add) the section KEY of bench/RESULTS.md, leaving the others alone."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    body = "\n".join([start, f"## {title}", "", *lines, end])
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else _RESULTS_HEAD
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + body + after
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    RESULTS.write_text(text, encoding="utf-8")
    print(f"\nwrote section `{key}` of {RESULTS}")


_RESULTS_HEAD = """# Benchmark results

Each section is written by one script in `bench/` (see bench/README.md) and carries its own
date, machine and versions. Times are medians of repeated runs, in seconds; "ratio" is the
anchor's median divided by ours, measured in the same run with the runs interleaved.
Peak memory is the largest resident set of the command and the children it waited for.
"""


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def ratio(anchor: float, ours: float) -> str:
    return f"{anchor / ours:.1f}x" if ours > 0 else "n/a"


def bar(ok: bool) -> str:
    return "holds" if ok else "**missed**"


def generate(
    name: str, models: int, seeds: int = 3, refs_per_seed: int = 0, tables: bool = False
) -> Path:
    """A synthetic project under bench/out/projects/, reused when already there."""
    from gen_project import generate as gen

    dest = OUT / "projects" / f"{name}"
    stamp = dest / ".generated"
    # The generator's own hash too: a project written by an older gen_project.py is redone.
    made_by = hashlib.sha256((BENCH_DIR / "gen_project.py").read_bytes()).hexdigest()[:12]
    wanted = f"{models} {seeds} {refs_per_seed}" + (" tables" if tables else "") + f" {made_by}"
    if stamp.exists() and stamp.read_text() == wanted:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    gen(dest, models, seeds, refs_per_seed, tables=tables)
    stamp.write_text(wanted)
    return dest


def copy_project(src: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".generated"))
    return dest


def init_ours(dbt_dir: Path, output_dir: Path, name: str, home: Path) -> Path:
    """`dbtscaffold init` of DBT_DIR into OUTPUT_DIR/NAME; returns that Dagster project."""
    run(
        [
            tool("dbtscaffold"),
            "init",
            "--dbt-project-dir",
            str(dbt_dir),
            "--output-dir",
            str(output_dir),
            "--project-name",
            name,
        ],
        env=base_env(home),
    )
    return output_dir / name


def scaffold_anchor(dbt_dir: Path, output_dir: Path, name: str, home: Path) -> Path:
    """`dagster-dbt project scaffold` of DBT_DIR into OUTPUT_DIR/NAME (no PyPI lookup)."""
    run(
        [
            tool("dagster-dbt"),
            "project",
            "scaffold",
            "--project-name",
            name,
            "--dbt-project-dir",
            str(dbt_dir),
            "--ignore-package-conflict",
        ],
        cwd=output_dir,
        env=base_env(home),
    )
    return output_dir / name
