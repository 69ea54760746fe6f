"""What parse on load would find, for `dbtscaffold check`; not copied into generated projects."""

from dataclasses import dataclass
from pathlib import Path

from .parse import digest, inputs
from .parse import file_id, read_record


@dataclass(frozen=True)
class ManifestState:
    """What parse on load would find, worked out without running dbt or writing anything."""

    exists: bool  # TARGET_PATH/manifest.json is there
    recorded: bool  # it is the file the last parse on load wrote (its record says so)
    fingerprint_matches: bool  # nothing dbt reads changed since that parse
    parsed_at: float | None  # when that parse started (epoch seconds), if recorded
    changes: tuple[str, ...] = ()  # what changed since that parse, named (see changes())

    @property
    def current(self) -> bool:
        """True when a load with parse on load on would reuse the manifest as it is."""
        return self.exists and self.recorded and self.fingerprint_matches


def manifest_state(project_dir: Path, profiles_dir: Path, target_path: Path) -> ManifestState:
    """Whether TARGET_PATH/manifest.json is current for the dbt project, as a load would see it.

    The same fingerprint and record `prepare_manifest` uses; read only, dbt is not started.
    """
    project_dir = Path(project_dir).resolve()
    target_path = Path(target_path)
    if not target_path.is_absolute():
        target_path = project_dir / target_path
    record = read_record(target_path)
    manifest_id = file_id(target_path / "manifest.json")
    now = inputs(project_dir, Path(profiles_dir))
    current = digest(now)
    parsed_at = record.get("parsed_at")
    then = record.get("inputs")
    return ManifestState(
        exists=manifest_id is not None,
        recorded=manifest_id is not None and record.get("manifest") == manifest_id,
        fingerprint_matches=record.get("fingerprint") == current,
        parsed_at=float(parsed_at) if isinstance(parsed_at, (int, float)) else None,
        changes=tuple(changes(then, now)) if isinstance(then, dict) else (),
    )


def changes(then: dict[str, str], now: dict[str, str]) -> list[str]:
    """What differs between the inputs of a parse (THEN) and NOW, as a person would say it:
    a file's content (never its mtime alone), a variable's value (a secret's not shown)."""
    out = []
    for key in sorted(set(then) | set(now), key=lambda k: (not k.startswith("env:"), k)):
        old, new = then.get(key), now.get(key)
        if old == new:
            continue
        kind, _, name = key.partition(":")
        if kind == "file":
            verb = "added" if old is None else "removed" if new is None else "changed"
            out.append(f"{name} {verb}")
        elif kind == "env":
            if _secret(old) or _secret(new):
                out.append(f"{name} changed")
            else:
                out.append(f"{name} changed: {_value(old)} -> {_value(new)}")
        elif key == "dbt":
            out.append("dbt or a dbt package changed version")
        else:
            out.append("the dbt project moved")
    return out


def _value(text: str | None) -> str:
    """A variable's value as the inputs hold it (its repr; "None": unset), for a message."""
    import ast

    value = ast.literal_eval(text) if text else None
    return "unset" if value is None else repr(value)


def _secret(text: str | None) -> bool:
    """A digest (of a secret's value), not a repr."""
    return text is not None and text != "None" and text[:1] not in ("'", '"')
