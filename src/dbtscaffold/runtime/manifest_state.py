"""What parse on load would find, for `dbtscaffold check`; not copied into generated projects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .fingerprint import fingerprint
from .parse import file_id, read_record


@dataclass(frozen=True)
class ManifestState:
    """What parse on load would find, worked out without running dbt or writing anything."""

    exists: bool  # TARGET_PATH/manifest.json is there
    recorded: bool  # it is the file the last parse on load wrote (its record says so)
    fingerprint_matches: bool  # nothing dbt reads changed since that parse
    parsed_at: float | None  # when that parse started (epoch seconds), if recorded

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
    current = fingerprint(project_dir, Path(profiles_dir))
    parsed_at = record.get("parsed_at")
    return ManifestState(
        exists=manifest_id is not None,
        recorded=manifest_id is not None and record.get("manifest") == manifest_id,
        fingerprint_matches=record.get("fingerprint") == current,
        parsed_at=float(parsed_at) if isinstance(parsed_at, (int, float)) else None,
    )
