"""The CLI a data engineer expects (issue 14), end to end through the installed script.

Completion in a real bash, global flags after the command, readable help, plain piped
output, `undo --dry-run`, `materialize --select` against the real example (checked in the
DuckDB file and in Dagster's run records), and Ctrl-C on `materialize` at three moments:
before dbt starts, while dbt runs, after the last asset.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.cli import CLI, EXAMPLE, isolated_env, run
from tests.helpers.dev import descendants, group, living
from tests.helpers.trees import tree_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEEDS = ["raw_customers", "raw_orders", "raw_payments"]
ALL_ASSETS = {*SEEDS, "stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
BOX = re.compile("[\u2500-\u257f]")  # box-drawing characters


def cli(*args, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """`dbtscaffold ARGS` in ENV (whole), whatever its exit code."""
    return run([CLI, *args], cwd=cwd, env=env, check=None, timeout=timeout)


def bash(script: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def dbt_dir(tmp_path) -> Path:
    dest = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE, dest)
    return dest


# --- completion -------------------------------------------------------------------------


def test_completion_scripts_for_bash_zsh_and_fish(tmp_path):
    env = isolated_env(tmp_path)
    scripts = {
        shell: cli(cwd=tmp_path, env=dict(env, _DBTSCAFFOLD_COMPLETE=f"source_{shell}"))
        for shell in ("bash", "zsh", "fish")
    }
    assert "complete -o default -F _dbtscaffold_completion dbtscaffold" in scripts["bash"].stdout
    assert scripts["zsh"].stdout.lstrip().startswith("#compdef dbtscaffold")
    assert "complete --command dbtscaffold" in scripts["fish"].stdout
    # The options users type, from a bash (the shell they are detected from).
    shown = bash(f"{CLI} --show-completion", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == scripts["bash"].stdout.strip()
    installed = bash(f"{CLI} --install-completion", cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr
    home = Path(env["HOME"])
    assert (
        "_DBTSCAFFOLD_COMPLETE=complete_bash"
        in (home / ".bash_completions" / "dbtscaffold.sh").read_text()
    )
    assert ".bash_completions/dbtscaffold.sh" in (home / ".bashrc").read_text()


def test_bash_completes_seed_names_from_the_project_found_from_the_cwd(dbt_dir, tmp_path):
    env = isolated_env(tmp_path)
    script = f"""
        eval "$({CLI} --show-completion)"
        complete -p dbtscaffold
        complete_words() {{
            COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
            _dbtscaffold_completion dbtscaffold
            echo "${{COMPREPLY[*]}}"
        }}
        complete_words dbtscaffold convert-seed raw_
        complete_words dbtscaffold convert-seed raw_o
        complete_words dbtscaffold conv
    """
    # From a folder deep in the dbt project: found by walking up, like git.
    done = bash(script, cwd=dbt_dir / "models" / "staging", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "complete -o default -F _dbtscaffold_completion dbtscaffold"
    assert lines[1:] == [" ".join(SEEDS), "raw_orders", "convert-seed"]
    # Outside any project nothing is offered, and nothing is printed on the terminal.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = bash(script, cwd=elsewhere, env=env)
    assert done.stdout.splitlines()[1:] == ["", "", "convert-seed"]
    assert done.stderr == ""


def test_zsh_protocol_completes_seed_names(dbt_dir, tmp_path):
    env = dict(
        isolated_env(tmp_path),
        _DBTSCAFFOLD_COMPLETE="complete_zsh",
        _TYPER_COMPLETE_ARGS="dbtscaffold convert-seed raw_p",
    )
    done = cli(cwd=dbt_dir, env=env)
    assert done.returncode == 0, done.stderr
    assert '"raw_payments"' in done.stdout and "raw_orders" not in done.stdout


# --- global flags, help ---------------------------------------------------------------


def test_global_flags_work_after_the_command(initialized, tmp_path):
    _, project = initialized
    env = isolated_env(tmp_path)
    for flag in ("-v", "--verbose", "--no-color"):
        done = cli("convert-seed", "RAW_CUSTOMERS", flag, cwd=project, env=env)
        assert done.returncode == 1, done.stderr
        assert done.stderr == (
            "error: Seed `RAW_CUSTOMERS` not found in `seeds/` (seeds there: `raw_customers`, "
            "`raw_orders`, `raw_payments`). Did you mean `raw_customers`?\n"
        )


def test_help_shows_whole_summaries_and_readable_metavars(tmp_path):
    env = dict(isolated_env(tmp_path), COLUMNS="80")
    top = cli("--help", cwd=tmp_path, env=env).stdout
    assert "..." not in top.split("Commands:")[1], top
    assert "--install-completion" in top and "--no-color" in top
    seed = cli("convert-seed", "--help", cwd=tmp_path, env=env).stdout
    assert "Usage: dbtscaffold convert-seed [OPTIONS] SEED..." in seed
    dev = cli("dev", "--help", cwd=tmp_path, env=env).stdout
    assert "--port PORT" in dev and "--dagster-project-dir DIR" in dev
    for text in (top, seed, dev):
        for placeholder in ("{seeds}", "<list[str]>", "<int range>", "<path>", "<str>"):
            assert placeholder not in text, text
    assert "-v/--verbose" in seed  # global options, listed under every command


# --- piped output, undo --dry-run -------------------------------------------------------


def test_piped_init_and_convert_seed_are_plain_text_results_on_stdout(dbt_dir, tmp_path):
    env = isolated_env(tmp_path)
    init = cli("init", cwd=dbt_dir, env=env)
    assert init.returncode == 0, init.stderr
    created = [line.split()[-1] for line in init.stdout.splitlines()]
    assert "jaffle_shop_dagster/pyproject.toml" in created, init.stdout
    assert all(line.split()[0] == "create" for line in init.stdout.splitlines())
    assert "Next steps" in init.stderr  # progress and hints stay on stderr

    dagster_dir = dbt_dir / "jaffle_shop_dagster"
    before = tree_hash(tmp_path)
    dry = cli("undo", "--dry-run", cwd=dagster_dir, env=env)
    assert (dry.returncode, dry.stderr) == (0, "Nothing to undo.\n")

    convert = cli("convert-seed", "raw_customers", cwd=dbt_dir, env=env)
    assert convert.returncode == 0, convert.stderr
    for out in (init, convert):
        assert not BOX.search(out.stdout + out.stderr), out.stdout + out.stderr
        assert "\x1b[" not in out.stdout + out.stderr
    table = convert.stdout.splitlines()
    title = next(i for i, line in enumerate(table) if line.startswith("convert-seed: "))
    assert table[title + 1].split() == ["File", "Change", "Refs"]
    moved = next(line for line in table if "raw_customers.csv ->" in line)
    assert moved.split()[-1] == "move"  # one row, not wrapped

    # undo --dry-run: the diff of what undo would restore, and nothing written.
    converted = tree_hash(tmp_path)
    assert converted != before
    dry = cli("undo", "--dry-run", cwd=dagster_dir, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "rename to jaffle_shop/seeds/raw_customers.csv\n" in dry.stdout  # a move, not a copy
    assert "--- a/jaffle_shop/models/sources.yml" in dry.stdout
    assert "Dry run: undoing `dbtscaffold convert-seed raw_customers` would restore" in dry.stderr
    assert tree_hash(tmp_path) == converted
    undo = cli("undo", cwd=dagster_dir, env=env)
    assert undo.returncode == 0, undo.stderr
    assert {k: v for k, v in tree_hash(tmp_path).items() if "target" not in k} == {
        k: v for k, v in before.items() if "target" not in k
    }


def test_example_dry_run_lists_files_instead_of_their_text(tmp_path):
    done = cli("example", tmp_path / "shop", "--dry-run", cwd=tmp_path, env=isolated_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "  create  shop/seeds/raw_orders.csv (" in done.stdout
    assert "order_date" not in done.stdout  # no CSV text
    assert not (tmp_path / "shop").exists()


# --- materialize: selections --------------------------------------------------------------


def _runs(project: Path):
    """[(status, {asset key})] of every run in the project's instance, oldest first."""
    from dagster import DagsterEventType, DagsterInstance

    out = []
    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        for run in reversed(instance.get_runs()):
            records = instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            ).records
            keys = {
                "/".join(r.event_log_entry.asset_materialization.asset_key.path) for r in records
            }
            out.append((run.status.value, keys))
    return out


def _tables(project: Path) -> set[str]:
    import duckdb

    db = project.parent / "jaffle_shop" / "jaffle_shop.duckdb"
    if not db.exists():
        return set()
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select table_name from information_schema.tables").fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def _built(stdout: str) -> set[str]:
    return {line.split()[1] for line in stdout.splitlines() if line.split()[:1] == ["built"]}


def test_selections_empty_glob_and_dbt_style_against_the_example(initialized, tmp_path):
    _, project = initialized
    env = isolated_env(tmp_path)

    empty = cli("materialize", "--select", "tag:nothing", cwd=project, env=env)
    assert empty.returncode == 1, empty.stderr
    assert empty.stderr.splitlines()[-1] == (
        "error: No asset matches --select `tag:nothing`; the assets are `customers`, "
        "`orders`, `raw_customers`, ... (8 in all)."
    )
    assert "Traceback" not in empty.stderr
    assert _tables(project) == set() and _runs(project) == []

    glob = cli("materialize", "--select", "raw_*", cwd=project, env=env)
    assert glob.returncode == 0, glob.stderr
    assert _built(glob.stdout) == set(SEEDS)
    assert _tables(project) == set(SEEDS)
    assert _runs(project) == [("SUCCESS", set(SEEDS))]
    assert "asset checks: 2 passed, 0 failed" in glob.stderr

    # dbt-style: dotted and slashed paths, comma-separated. (All three staging models: a
    # relationships test of stg_orders reads stg_customers, and dbt selects it eagerly.)
    dbt_style = "staging.stg_customers,staging/stg_orders,jaffle_shop.staging.stg_payments"
    staging = {"stg_customers", "stg_orders", "stg_payments"}
    done = cli("materialize", "--select", dbt_style, cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert _built(done.stdout) == staging  # results on stdout, progress on stderr
    assert "Materialized 3 assets" in done.stderr
    # Piped, progress is one plain line per event: each step as it starts, each check result.
    assert re.search(r"Running step `\w+` \(0/3 assets(, \d+ checks?)?, \d+ s\)\.", done.stderr)
    assert re.search(
        r"Asset check `\w+` on `stg_\w+` passed \(\d/3 assets, \d+ checks?, ", done.stderr
    )
    # It ends with what was built, where, and how many rows (as quickstart's table).
    table = done.stdout[done.stdout.index("Assets built by run ") :].splitlines()
    assert table[1].split() == ["Asset", "Built", "by", "Table", "Rows"]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    assert rows == {
        "stg_customers": ["dbt", "model", "main.stg_customers", "100"],
        "stg_orders": ["dbt", "model", "main.stg_orders", "99"],
        "stg_payments": ["dbt", "model", "main.stg_payments", "113"],
    }
    assert _tables(project) == {*SEEDS, *staging}  # the marts left out
    # Every run is recorded where `dbtscaffold dev` will show it (env has no DAGSTER_HOME).
    assert _runs(project) == [("SUCCESS", set(SEEDS)), ("SUCCESS", staging)]
    import duckdb

    con = duckdb.connect(str(project.parent / "jaffle_shop" / "jaffle_shop.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from stg_customers").fetchall() == [(100,)]
    finally:
        con.close()

    # Asset keys complete from the manifest the runs left (no dagster import).
    keys = cli(
        cwd=project,
        env=dict(
            env,
            _DBTSCAFFOLD_COMPLETE="complete_bash",
            COMP_CWORD="3",
            COMP_WORDS="dbtscaffold materialize --select stg_",
        ),
    )
    assert keys.stdout.split() == ["stg_customers", "stg_orders", "stg_payments"]


# --- materialize: Ctrl-C ---------------------------------------------------------------


class Materialize:
    """`dbtscaffold materialize` in its own session, its output collected line by line."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [str(CLI), "materialize"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.seen: dict[int, psutil.Process] = {}
        self.pgids: set[int] = set()
        for stream, sink in ((self.popen.stdout, self.out), (self.popen.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: k.extend(s), daemon=True).start()

    def watch(self) -> None:
        for pid, p in descendants(self.popen.pid).items():
            if pid not in self.seen:
                self.seen[pid] = p
                try:
                    self.pgids.add(os.getpgid(pid))
                except OSError:
                    pass

    def wait_until(self, ready, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self.watch()
            assert self.popen.poll() is None, "".join(self.err)
            assert time.monotonic() < deadline, "".join(self.err)
            time.sleep(0.05)

    def interrupt_and_finish(self) -> int:
        os.kill(self.popen.pid, signal.SIGINT)
        while self.popen.poll() is None:
            self.watch()
            time.sleep(0.05)
        time.sleep(0.3)  # the pump threads read the last lines
        return self.popen.returncode

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def cleanup(self) -> None:
        for p in [*self.seen.values()]:
            try:
                p.kill()
            except psutil.Error:
                pass
        if self.popen.poll() is None:
            self.popen.kill()


def _dbt_running(m: Materialize) -> bool:
    return any(Path(a).name == "dbt" for p in m.seen.values() for a in _cmd(p)[:2])


def _cmd(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.mark.parametrize("moment", ["before-dbt", "during-dbt", "after-last-asset"])
def test_ctrl_c_cancels_the_run_through_dagster_and_says_what_was_built(
    initialized, tmp_path, moment
):
    _, project = initialized
    m = Materialize(project, isolated_env(tmp_path))
    try:
        if moment == "before-dbt":
            m.wait_until(lambda: "started (8 assets)" in m.stderr)
        elif moment == "during-dbt":
            m.wait_until(lambda: len(_built("".join(m.out))) >= 1)
            assert _dbt_running(m)
        else:
            m.wait_until(lambda: len(_built("".join(m.out))) == 8)
        dbt_before = _dbt_running(m)
        code = m.interrupt_and_finish()
        left = living(m.seen.values())
        print(f"{moment}: exit {code}\n{m.stderr}")
    finally:
        m.cleanup()

    assert not left, f"still running: {left}"
    assert m.pgids and all(not group(g) for g in m.pgids)
    assert "Traceback" not in m.stderr + "".join(m.out)
    [(status, keys)] = _runs(project)
    last = m.stderr.splitlines()[-1]
    built = _built("".join(m.out))
    assert built == keys  # what it said it built is what Dagster recorded
    assert _tables(project) >= keys
    if moment == "before-dbt":
        assert (status, keys, code) == ("CANCELED", set(), 130)
        assert not dbt_before and not _dbt_running(m)  # dbt never started
        assert re.fullmatch(
            r"error: Canceled run \w{8} after [\d.]+ s before any asset was built\.", last
        )
    elif moment == "during-dbt":
        assert (status, code) == ("CANCELED", 130)
        assert 1 <= len(keys) < 8
        assert re.match(
            rf"error: Canceled run \w{{8}} after [\d.]+ s: {len(keys)} of 8 assets "
            rf"{'was' if len(keys) == 1 else 'were'} built before it stopped",
            last,
        ), last
    elif status == "CANCELED":  # the stop came while dbt ran the last tests
        assert code == 130 and keys == ALL_ASSETS
        assert ": all 8 assets were built before it stopped" in last, last
    else:  # the run had finished: nothing to cancel
        assert (status, code, keys) == ("SUCCESS", 0, ALL_ASSETS)
        assert "The stop came after the run had finished." in last, last
