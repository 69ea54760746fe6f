"""Parse on load in the generated project, with real dbt: parse once, then reuse.

Each "load" is a fresh `python` importing `<project>.definitions` with
DAGSTER_DBT_PARSE_PROJECT_ON_LOAD=1, as `dagster dev` and every run worker do. An audit
hook installed before the import records every process the load starts, which proves
whether dbt ran; the manifest's inode and mtime prove it was not rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import BIN, CLI, EXAMPLE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PACKAGE = "jaffle_shop_dagster"
RUNTIME = Path(__file__).resolve().parents[2] / "src" / "dbtscaffold" / "runtime"

# Runs in the load process: record spawned processes, import the definitions, report.
DRIVER = r"""
import json, os, sys
spawned = []

def hook(event, args):
    if event == "subprocess.Popen":
        spawned.append([str(a) for a in args[1]])
    elif event in ("os.posix_spawn", "os.exec", "os.spawn", "os.system"):
        spawned.append([str(a) for a in args[:2]])

sys.addaudithook(hook)
import importlib
definitions = importlib.import_module(sys.argv[1] + ".definitions")
constants = importlib.import_module(sys.argv[1] + ".constants")
manifest_path = constants.dbt_project.manifest_path
with open(manifest_path, "rb") as f:
    manifest = json.load(f)  # a half-written manifest fails here
st = os.stat(manifest_path)
print(json.dumps({
    "spawned": spawned,
    "manifest_path": str(manifest_path),
    "manifest_id": [st.st_ino, st.st_mtime_ns, st.st_size],
    "keys": sorted(k.to_user_string() for a in definitions.defs.assets for k in a.keys),
    "nodes": sorted(manifest["nodes"]),
}))
"""

# Reads target/manifest.json in a loop until told to stop; every read must be valid JSON.
HAMMER = r"""
import json, os, sys, time
path, stop = sys.argv[1], sys.argv[2]
reads = bad = 0
while not os.path.exists(stop):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        continue
    reads += 1
    try:
        json.loads(data)
    except ValueError:
        bad += 1
print(json.dumps({"reads": reads, "bad": bad}))
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("DBT_")
        and not k.startswith(("DAGSTER_", "JAFFLE_SHOP_", "E2E_"))
    }
    env.update(
        HOME=str(home),
        DAGSTER_HOME=str(home / "dagster_home"),
        DAGSTER_DBT_PARSE_PROJECT_ON_LOAD="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        NO_COLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def _dbt_runs(spawned: list[list[str]]) -> list[list[str]]:
    return [
        argv
        for argv in spawned
        if argv and (Path(argv[0]).name.startswith("dbt") or any("dbt.cli" in a for a in argv))
    ]


class Project:
    def __init__(self, root: Path, home: Path):
        self.root = root
        self.home = home
        self.dbt_dir = root / "jaffle_shop"
        self.dagster_dir = root / PACKAGE
        self.target = self.dbt_dir / "target"
        self.env_extra: dict[str, str] = {}

    def start_load(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", DRIVER, PACKAGE],
            cwd=self.dagster_dir,
            env=_env(self.home, **self.env_extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def finish(proc: subprocess.Popen) -> dict:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"load failed ({proc.returncode}):\n{err[-5000:]}"
        return json.loads(out.strip().splitlines()[-1])

    def load(self) -> dict:
        return self.finish(self.start_load())

    def ensure_parsed(self) -> list[int]:
        """Load once if nothing was parsed yet (every test leaves the project parsed)."""
        if not (self.target / "manifest.json").exists():
            self.load()
        st = os.stat(self.target / "manifest.json")
        return [st.st_ino, st.st_mtime_ns, st.st_size]

    def manifest(self) -> dict:
        return json.loads((self.target / "manifest.json").read_text())

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.dbt_dir / rel
        text = path.read_text()
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1))


def _make_project(root: Path, template: Path) -> Project:
    """A copy of the session's initialized example (TEMPLATE) under ROOT, with a home of its
    own: what `init` would have written there (it writes no absolute path)."""
    home = root / "home"
    home.mkdir(parents=True)
    for name in ("jaffle_shop", PACKAGE):
        shutil.copytree(template / name, root / name, symlinks=True)
    return Project(root, home)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, initialized_template) -> Project:
    """One generated project for the edit tests (each test makes its own edit)."""
    return _make_project(tmp_path_factory.mktemp("parse_on_load"), initialized_template)


def test_first_load_parses_and_an_unchanged_reload_does_not_run_dbt(tmp_path, initialized_template):
    project = _make_project(tmp_path, initialized_template)
    generated = project.dagster_dir / PACKAGE / "_dbtscaffold" / "parse.py"
    assert generated.read_bytes() == (RUNTIME / "parse.py").read_bytes()
    assert not project.target.exists()

    first = project.load()
    runs = _dbt_runs(first["spawned"])
    assert len(runs) == 1 and "parse" in runs[0], first["spawned"]
    assert first["manifest_path"] == str(project.target / "manifest.json")
    assert "model.jaffle_shop.orders" in first["nodes"]
    assert {"orders", "customers", "stg_orders"} <= set(first["keys"])
    state = project.target / "dbtscaffold_parse" / "partial_parse.msgpack"
    state_mtime = state.stat().st_mtime_ns

    again = project.load()
    assert _dbt_runs(again["spawned"]) == [], again["spawned"]
    assert again["manifest_id"] == first["manifest_id"]
    assert again["keys"] == first["keys"]
    assert state.stat().st_mtime_ns == state_mtime

    # Writing what dbt writes (a run's artifacts, logs, the database) is not a change.
    (project.target / "run").mkdir()
    (project.target / "run" / "orders.sql").write_text("create table orders as select 1")
    (project.dbt_dir / "jaffle_shop.duckdb").write_bytes(b"\0" * 4096)
    (project.dbt_dir / "logs").mkdir(exist_ok=True)
    (project.dbt_dir / "logs" / "dbt.log").write_text("a run happened\n")
    again = project.load()
    assert _dbt_runs(again["spawned"]) == [], again["spawned"]
    assert again["manifest_id"] == first["manifest_id"]


EDITS = {
    "model": (
        "models/staging/stg_orders.sql",
        "order_date,",
        "order_date, 'e2e_model_edit' as marker,",
        lambda m: "e2e_model_edit" in m["nodes"]["model.jaffle_shop.stg_orders"]["raw_code"],
    ),
    "macro": (
        "macros/cents_to_dollars.sql",
        "/ 100)",
        "/ 100.0) -- e2e_macro_edit",
        lambda m: (
            "e2e_macro_edit" in m["macros"]["macro.jaffle_shop.cents_to_dollars"]["macro_sql"]
        ),
    ),
    "model YAML": (
        "models/staging/_staging.yml",
        "Orders, with keys renamed to order_id and customer_id.",
        "e2e_yaml_edit",
        lambda m: m["nodes"]["model.jaffle_shop.stg_orders"]["description"] == "e2e_yaml_edit",
    ),
    "dbt_project.yml": (
        "dbt_project.yml",
        "+materialized: table",
        "+materialized: view",
        lambda m: m["nodes"]["model.jaffle_shop.orders"]["config"]["materialized"] == "view",
    ),
    "seed CSV": (
        "seeds/raw_orders.csv",
        "id,user_id,order_date,status",
        "id,user_id,order_date,status,e2e",
        None,  # checked below: the seed's checksum in the manifest changes
    ),
}


def test_in_the_tutorials_nested_layout_only_what_dbt_reads_makes_a_load_parse(tmp_path):
    """`cd jaffle_shop && dbtscaffold init`: the Dagster project lives inside the dbt project."""
    home = tmp_path / "home"
    home.mkdir()
    dbt_dir = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE, dbt_dir)
    subprocess.run(
        [str(CLI), "init", "--project-name", PACKAGE],
        cwd=dbt_dir, env=_env(home), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    project = Project(tmp_path, home)
    project.dagster_dir = dbt_dir / PACKAGE
    first = project.load()
    assert len(_dbt_runs(first["spawned"])) == 1, first["spawned"]

    # The Dagster project's own files, its data and state: dbt never reads them.
    assets = project.dagster_dir / PACKAGE / "assets.py"
    assets.write_text(assets.read_text() + "\n# edited by the test\n")
    (project.dagster_dir / "data").mkdir()
    (project.dagster_dir / "data" / "extra.csv").write_text("id\n1\n")
    (project.dagster_dir / ".dbtscaffold").mkdir(exist_ok=True)
    (project.dagster_dir / ".dbtscaffold" / "note.yml").write_text("x: 1\n")
    again = project.load()
    assert _dbt_runs(again["spawned"]) == [], again["spawned"]
    assert again["manifest_id"] == first["manifest_id"]

    # A model: dbt reads it, so the next load parses.
    project.edit("models/marts/orders.sql", "select", "select -- edited\n")
    edited = project.load()
    runs = _dbt_runs(edited["spawned"])
    assert len(runs) == 1 and "parse" in runs[0], edited["spawned"]


@pytest.mark.parametrize("kind", list(EDITS))
def test_an_edit_always_gives_a_fresh_manifest(shared, kind):
    rel, old, new, has_edit = EDITS[kind]
    before_id = shared.ensure_parsed()
    seed_checksum = shared.manifest()["nodes"]["seed.jaffle_shop.raw_orders"]["checksum"]
    if has_edit is not None:
        assert not has_edit(shared.manifest())
    if kind == "seed CSV":
        lines = (shared.dbt_dir / rel).read_text().splitlines()
        lines = [lines[0].replace(old, new)] + [line + ",1" for line in lines[1:]]
        (shared.dbt_dir / rel).write_text("\n".join(lines) + "\n")
    else:
        shared.edit(rel, old, new)

    after = shared.load()
    assert len(_dbt_runs(after["spawned"])) == 1, after["spawned"]
    assert after["manifest_id"] != before_id
    if has_edit is not None:
        assert has_edit(shared.manifest())
    else:
        assert (
            shared.manifest()["nodes"]["seed.jaffle_shop.raw_orders"]["checksum"] != seed_checksum
        )


def test_a_new_model_and_an_env_var_in_its_config_reach_the_assets(shared):
    shared.ensure_parsed()
    (shared.dbt_dir / "models/marts/e2e_new_model.sql").write_text(
        "{{ config(tags=[env_var('E2E_TAG', 'untagged')]) }}\nselect 1 as id\n"
    )
    added = shared.load()
    assert len(_dbt_runs(added["spawned"])) == 1
    assert "e2e_new_model" in added["keys"]
    node = "model.jaffle_shop.e2e_new_model"
    assert shared.manifest()["nodes"][node]["tags"] == ["untagged"]

    shared.env_extra = {"E2E_TAG": "blue"}
    try:
        tagged = shared.load()
        assert len(_dbt_runs(tagged["spawned"])) == 1
        assert shared.manifest()["nodes"][node]["tags"] == ["blue"]
        unchanged = shared.load()
        assert _dbt_runs(unchanged["spawned"]) == []
    finally:
        shared.env_extra = {}
    (shared.dbt_dir / "models/marts/e2e_new_model.sql").unlink()
    removed = shared.load()
    assert "e2e_new_model" not in removed["keys"]


def test_concurrent_loads_after_an_edit_all_get_a_complete_manifest(shared, tmp_path):
    shared.ensure_parsed()
    stop = tmp_path / "stop"
    hammer = subprocess.Popen(
        [sys.executable, "-c", HAMMER, str(shared.target / "manifest.json"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        shared.edit("models/marts/customers.sql", "select", "select -- e2e_concurrent\n")
        loads = [shared.start_load() for _ in range(4)]
        results = [shared.finish(p) for p in loads]
    finally:
        stop.write_text("")
        hammer_out, _ = hammer.communicate(timeout=60)
    hammered = json.loads(hammer_out)
    assert hammered["reads"] > 0 and hammered["bad"] == 0, hammered

    # One load parsed; the others waited for its lock and reused its manifest.
    parses = sum(len(_dbt_runs(r["spawned"])) for r in results)
    assert parses == 1, [r["spawned"] for r in results]
    assert len({tuple(r["manifest_id"]) for r in results}) == 1
    assert all("model.jaffle_shop.customers" in r["nodes"] for r in results)
    assert "e2e_concurrent" in shared.manifest()["nodes"]["model.jaffle_shop.customers"]["raw_code"]
    assert not [p for p in shared.target.iterdir() if p.name.endswith(".tmp")]


def test_a_manifest_rewritten_by_hand_is_replaced(shared):
    shared.ensure_parsed()
    manifest = shared.target / "manifest.json"
    # What a `dbt build --target other` by hand (or a crash) could leave: not our manifest.
    manifest.write_text('{"nodes": {}, "stale": true}')
    reloaded = shared.load()
    assert len(_dbt_runs(reloaded["spawned"])) == 1
    assert "stale" not in shared.manifest()
    assert "model.jaffle_shop.orders" in reloaded["nodes"]

    # No record of the last parse (e.g. it crashed before writing one): parse again.
    (shared.target / "dbtscaffold_fingerprint.json").unlink()
    again = shared.load()
    assert len(_dbt_runs(again["spawned"])) == 1


def test_a_moved_project_is_parsed_again_with_its_new_paths(shared, tmp_path):
    shared.ensure_parsed()
    moved_root = tmp_path / "moved"
    shutil.copytree(shared.root, moved_root, symlinks=True, ignore=shutil.ignore_patterns("home"))
    (moved_root / "home").mkdir()
    moved = Project(moved_root, moved_root / "home")
    result = moved.load()
    assert len(_dbt_runs(result["spawned"])) == 1
    assert result["manifest_path"] == str(moved.target / "manifest.json")
    seed = moved.manifest()["nodes"]["seed.jaffle_shop.raw_orders"]
    assert seed["root_path"] == str(moved.dbt_dir)


def test_a_failing_parse_names_dbt_and_keeps_the_last_manifest(shared):
    shared.ensure_parsed()
    good = shared.manifest()
    path = shared.dbt_dir / "models/marts/broken.sql"
    path.write_text("select * from {{ ref('no_such_model') }}\n")
    try:
        proc = shared.start_load()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode != 0
        assert "`dbt parse` failed" in err and "no_such_model" in err
        assert shared.manifest() == good
    finally:
        path.unlink()
    # Back to the state of the last good parse: its manifest is current again.
    healed = shared.load()
    assert _dbt_runs(healed["spawned"]) == []
    assert "model.jaffle_shop.orders" in healed["nodes"]


def test_declared_packages_are_installed_and_followed_outside_the_project(
    tmp_path, initialized_template
):
    project = _make_project(tmp_path, initialized_template)
    package = tmp_path / "shared_macros"
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text(
        'name: shared_macros\nversion: "1.0.0"\nconfig-version: 2\n'
    )
    macro = package / "macros" / "shout.sql"
    macro.write_text("{% macro shout(x) %}upper({{ x }}){% endmacro %}\n")
    (project.dbt_dir / "packages.yml").write_text("packages:\n  - local: ../shared_macros\n")

    first = project.load()  # dbt asks for `dbt deps`: installed, then parsed
    runs = _dbt_runs(first["spawned"])
    assert [r[1] for r in runs] == ["parse", "deps", "parse"], runs
    assert "macro.shared_macros.shout" in project.manifest()["macros"]
    assert _dbt_runs(project.load()["spawned"]) == []

    # The package lives outside the project (dbt_packages/ links to it): its edits count.
    macro.write_text("{% macro shout(x) %}upper({{ x }}) -- e2e_package_edit{% endmacro %}\n")
    edited = project.load()
    assert [r[1] for r in _dbt_runs(edited["spawned"])] == ["parse"]
    assert (
        "e2e_package_edit" in project.manifest()["macros"]["macro.shared_macros.shout"]["macro_sql"]
    )


def test_a_load_during_convert_seed_sees_the_project_before_or_after_never_between(
    tmp_path, initialized_template
):
    project = _make_project(tmp_path, initialized_template)
    project.load()  # parsed once: target/ exists, so convert-seed takes the parse lock
    env = _env(project.home, DBTSCAFFOLD_TEST_APPLY_DELAY="0.4")
    convert = subprocess.Popen(
        [str(CLI), "convert-seed", "raw_customers"],
        cwd=project.dbt_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Wait until the change is being applied (its journal exists), then load.
    journals = project.dagster_dir / ".dbtscaffold" / "backups"
    deadline = time.monotonic() + 120
    while not list(journals.glob("*/journal.json")) and time.monotonic() < deadline:
        assert convert.poll() is None, convert.communicate()
        time.sleep(0.05)
    assert convert.poll() is None, "the change was applied before the load started"
    loaded = project.load()
    out, err = convert.communicate(timeout=300)
    assert convert.returncode == 0, err
    # The load waited for the change and parsed the converted project.
    assert "seed.jaffle_shop.raw_customers" not in loaded["nodes"]
    assert "raw_customers" in loaded["keys"]
    manifest = project.manifest()
    assert "source.jaffle_shop.jaffle_shop.raw_customers" in manifest["sources"]


# A definitions module that pauses between the manifest (imported with `assets`) and the
# modules imported after it (seed_assets.py, through `definitions`): where a change that
# lands in between would give a load the old manifest with the new loader asset.
SLOW_DEFINITIONS = """
import os, time
from pathlib import Path

from jaffle_shop_dagster import assets  # the manifest is prepared (or reused) here

Path(os.environ["E2E_FLAG"]).write_text("manifest ready")
time.sleep(float(os.environ["E2E_PAUSE"]))
from jaffle_shop_dagster.definitions import defs  # seed_assets.py is read here
"""
SLOW_DRIVER = r"""
import importlib, json, sys
defs = importlib.import_module(sys.argv[1] + ".slow_definitions").defs
ops = {k.to_user_string(): a.op.name for a in defs.assets for k in a.keys}
print(json.dumps(ops))
"""


@pytest.mark.parametrize("change", ["convert-seed", "undo"])
def test_a_change_waits_for_a_load_that_has_its_manifest_to_finish_importing(
    tmp_path, initialized_template, change
):
    project = _make_project(tmp_path, initialized_template)
    run = [str(CLI), "convert-seed", "raw_customers"]
    env = _env(project.home)
    if change == "undo":
        subprocess.run(run, cwd=project.dbt_dir, env=env, check=True, capture_output=True)
        run = [str(CLI), "undo"]
    project.load()  # parsed: the manifest matches the project as it is now
    (project.dagster_dir / PACKAGE / "slow_definitions.py").write_text(SLOW_DEFINITIONS)
    flag = tmp_path / "flag"
    load = subprocess.Popen(
        [sys.executable, "-c", SLOW_DRIVER, PACKAGE],
        cwd=project.dagster_dir,
        env=_env(project.home, E2E_FLAG=str(flag), E2E_PAUSE="4"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert load.poll() is None, load.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The load has its manifest and is about to read seed_assets.py: the change must wait.
    done = subprocess.run(run, cwd=project.dbt_dir, env=env, capture_output=True, text=True)
    out, err = load.communicate(timeout=300)
    assert load.returncode == 0, err[-3000:]
    assert done.returncode == 0, done.stderr
    ops = json.loads(out.strip().splitlines()[-1])
    # The graph as it was before the change, whole: the seed made by the dbt op.
    if change == "convert-seed":
        assert ops["raw_customers"] == ops["stg_customers"], ops
    else:
        assert ops["raw_customers"] != ops["stg_customers"], ops
