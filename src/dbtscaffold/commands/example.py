"""`dbtscaffold example`: write the bundled example dbt project (jaffle_shop)."""

from __future__ import annotations

from pathlib import Path

from dbtscaffold import console
from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.commands.common import change_session
from dbtscaffold.errors import UserError


def plan_copy_tree(src: Path, dest: Path) -> Plan:
    """A plan that creates DEST as a copy of SRC (refusing to touch an existing DEST)."""
    plan = Plan(roots=(dest,), description=f"copy {src.name}")
    for p in sorted(src.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            plan.add(FileChange(dest / p.relative_to(src), None, p.read_bytes()))
    return plan


def run_example(dest: Path, *, dry_run: bool, next_steps: bool = True) -> Path:
    """Write the bundled example dbt project to DEST."""
    from dbtscaffold.resources import example_dir

    dest = dest.absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if (dest / "dbt_project.yml").is_file():
            raise UserError(
                f"`{dest}` already holds a dbt project; use it as is or pick another folder."
            )
        raise UserError(f"`{dest}` exists and is not empty; pick another folder.")
    from dbtscaffold.dagster_project.scaffold import _check_writable

    _check_writable(dest)
    plan = plan_copy_tree(example_dir(), dest)
    if dry_run:
        # Every file is new and bundled: the list says more than their whole text would.
        for c in plan.effective:
            lines = (c.after or b"").count(b"\n")
            console.action("create", f"{plan.display_path(c.path)} ({lines} lines)")
        n = len(plan.effective)
        console.info(
            f"Dry run: {n} files would be written to {console.shown_path(dest)}; nothing was "
            "written."
        )
        return dest
    with change_session(None, dry_run=False) as session:
        changed = session.apply(plan, command="example")
    if changed:
        console.success(
            f"Wrote the example dbt project `jaffle_shop` to {console.shown_path(dest)}."
        )
        if next_steps:
            console.info(f"Next: dbtscaffold init --dbt-project-dir {console.shown_path(dest)}")
    return dest
