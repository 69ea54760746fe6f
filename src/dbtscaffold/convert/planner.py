"""The planner behind `convert-seed`: both projects in, a Plan out; nothing is written.

All edits of one run are made to in-memory copies of the files (texts.py): seed by seed,
then the ref rewrite over everything; the plan is the difference from what is on disk.
`_Planner.convert` is one seed's steps; what they look up (lookup.py, source_match.py,
relation.py) and build (loader.py) comes back as values that the planner stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtscaffold.changes.plan import FileChange, Plan
from dbtscaffold.convert.loader import RELATION_KEYS, column_types, plan_csv, seed_config
from dbtscaffold.convert.lookup import check_key_free, find_source, seed_entry, source_table
from dbtscaffold.convert.relation import check_source_reads, converted_relation
from dbtscaffold.convert.source_match import extend_other_table, table_with_key
from dbtscaffold.convert.texts import ProjectTexts
from dbtscaffold.dagster_project import seed_assets as loaders
from dbtscaffold.dagster_project.locate import DagsterProjectInfo
from dbtscaffold.dbt import properties as dbt_yaml
from dbtscaffold.dbt.files import SeedFile, csv_header
from dbtscaffold.dbt.project import DbtProjectInfo
from dbtscaffold.dbt.properties import dbt_accepts_meta_in_config
from dbtscaffold.dbt.refs import RefTarget
from dbtscaffold.dbt.relations import Relation
from dbtscaffold.dbt.target import missing_adapter_message, read_target
from dbtscaffold.dbt.yaml_values import as_dbt_reads, load_yaml_text, parse_yaml_text
from dbtscaffold.errors import UserError


@dataclass
class ConvertResult:
    """A planned conversion: the plan plus what the summary needs."""

    plan: Plan
    refs: dict[Path, int] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)  # seed -> its loader's asset key
    seed_assets_path: Path | None = None  # the module the loaders are in
    already: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be carried over
    infos: list[str] = field(default_factory=list)  # choices worth knowing about
    warnings: list[str] = field(default_factory=list)  # shown by --dry-run too (data moves)
    csv_moves: list[tuple[Path, Path | None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Seed:
    """A seed to convert: its CSV, its properties entry, its config and relation."""

    file: SeedFile
    entry: tuple[str, Any] | None  # (properties file, its entry under `seeds:`)
    inherited: dict[str, Any]  # config from dbt_project.yml's levels above it
    own: dict[str, Any]  # config on its own key in dbt_project.yml
    rel: Relation  # where it is loaded


@dataclass(frozen=True)
class _Table:
    """The source table a seed becomes: in FOUND's source (None: a new one), named NAME."""

    found: tuple[str, Any] | None  # (properties file, source mapping)
    table: Any  # the table's mapping when it is declared already
    source: str
    name: str
    key: list[str]  # the loader asset's key


class _Planner:
    """One run: the files in memory (texts), the options, and the result so far."""

    def __init__(
        self, dbt: DbtProjectInfo, dagster: DagsterProjectInfo, source: str, delete_csv: bool,
        schema: str | None = None,
    ) -> None:  # fmt: skip
        self.dbt, self.dagster = dbt, dagster
        self.texts = ProjectTexts(dbt, dagster)
        self.source, self.delete_csv = source, delete_csv
        self.schema = schema  # --schema: where to load instead of the seed's relation
        self.ref_targets: dict[str, RefTarget] = {}  # seed -> its table, when not source(SRC, seed)
        self.target = read_target(dbt)
        if message := missing_adapter_message(self.target.name, self.target.type):
            raise UserError(message)
        self.meta_in_config = dbt_accepts_meta_in_config()
        self.assets_path = dagster.package_dir / "assets.py"
        self.data_dir = dagster.dir / "data"
        if dagster.layout == "components":
            # dg loads every module under defs/: the loaders are one of them; no assets.py.
            self.seed_assets_path = dagster.package_dir / "defs" / "seed_assets.py"
            self.assets_text = ""
            self.seed_assets_text = self.texts.read_optional(self.seed_assets_path) or ""
        else:
            self.seed_assets_path = dagster.package_dir / "seed_assets.py"
            self.assets_text = self.texts.read(self.assets_path, "the Dagster project's assets.py")
            self.seed_assets_text = self._seed_assets()
        self.extra: list[FileChange] = []
        self.emptied: set[str] = set()  # seeds YAML files a seed entry left
        self._project_data: tuple[str, dict[str, Any]] | None = None  # (text, as dbt reads it)
        self.result = ConvertResult(
            plan=Plan(roots=(dbt.dir, dagster.dir)), seed_assets_path=self.seed_assets_path
        )

    def _seed_assets(self) -> str:
        """seed_assets.py as it is ('' if a project of an older dbtscaffold lacks it)."""
        text = self.texts.read_optional(self.seed_assets_path)
        definitions = self.dagster.package_dir / "definitions.py"
        if text is None and "seed_assets" not in (
            definitions.read_text(encoding="utf-8", errors="replace")
            if definitions.is_file()
            else ""
        ):
            raise UserError(
                f"`{self.texts.rel(definitions)}` does not load `seed_assets`, where "
                "convert-seed puts the loader assets; run `dbtscaffold init --force` to update "
                "the project."
            )
        return text or ""

    # --- one seed, step by step -------------------------------------------

    def convert(self, seed: str) -> None:
        """Plan SEED's conversion (one already converted is noted as such)."""
        seed_file = self.texts.files.find_seed(seed)
        found = find_source(self.texts, self.source)
        if seed_file is None:
            self._already_converted(seed)
            return
        s = self._read_seed(seed_file)
        table = self._table(seed, found, s.rel)
        asset_state = self._check_key(seed, table)
        self._check_location(seed, table, s.rel)
        moved, loader = self._move_properties(seed, s, table)
        csv_raw = seed_file.path.read_bytes()
        if asset_state is None:
            self._add_loader(seed, s, table, moved, loader, csv_raw)
        else:
            self._column_types(seed, loader, csv_raw)  # its notes; the loader is there
        csv = plan_csv(seed_file, csv_raw, self.data_dir, self.delete_csv, self.texts.rel)
        self.extra.extend(csv.changes)
        self.result.csv_moves.append(csv.move)
        self.result.notes.extend([csv.note] if csv.note else [])
        self.result.converted.append(seed)

    def _already_converted(self, seed: str) -> None:
        """SEED, whose CSV is gone, noted as converted; a UserError if it never was a seed."""
        done = loaders.loader_key(self.seed_assets_text, seed)
        done = done or loaders.loader_key(self.assets_text, seed)
        if done is not None and table_with_key(self.texts.source_files(), done) is not None:
            self.result.already.append(seed)
            return
        converted = tuple(key[-1] for _, key in loaders.defined_assets(self.seed_assets_text))
        raise self.texts.files.unknown_seed(seed, converted, self.texts.rel(self.seed_assets_path))

    def _read_seed(self, seed_file: SeedFile) -> _Seed:
        """The seed's properties entry, its config (read once) and where it is loaded."""
        entry = seed_entry(self.texts, seed_file.name)
        inherited, own = self._project_seed_config(seed_file)
        config = {**inherited, **own}
        if entry is not None and isinstance(entry[1], dict):
            own_yaml = entry[1].get("config")
            config.update(as_dbt_reads(own_yaml) if isinstance(own_yaml, dict) else {})
        macros = (t.text for t in self.texts.files.texts.values() if t.kind == "sql")
        rel, warning = converted_relation(
            self.dbt, seed_file.name, config, macros, self.target, self.schema
        )
        self.result.warnings.extend([warning] if warning else [])
        return _Seed(seed_file, entry, inherited, own, rel)

    def _table(self, seed: str, found: tuple[str, Any] | None, rel: Relation) -> _Table:
        """The source table SEED becomes: SEED in our source, or another table reading REL."""
        table, source, name = source_table(found, seed), self.source, seed
        if table is None:
            other = extend_other_table(
                self.texts.source_files(), seed, rel, self.target.database(), self.dbt.name
            )
            if other is not None:
                self.ref_targets[seed] = other.ref
                self.result.infos.append(other.info)
                found, table = (other.table.path, other.table.source_map), other.table.table_map
                source, name = other.table.source, other.table.table
        # A source table with an asset key of its own keeps it: the loader takes that key.
        key = (dbt_yaml.asset_key_of(table) if table is not None else None) or [seed]
        return _Table(found, table, source, name, key)

    def _check_key(self, seed: str, t: _Table) -> str | None:
        """Whether the loader of T's key is there ("ours"); a UserError if another asset
        (or model, snapshot, source) has the key."""
        state = loaders.asset_state(
            [(self.seed_assets_path, self.seed_assets_text), (self.assets_path, self.assets_text)],
            t.key,
            self.texts.rel,
        )
        if state == "other":
            raise UserError(
                f"Asset key `{'/'.join(t.key)}` is already used by an asset in the Dagster "
                f"project `{self.dagster.dir.name}`; Dagster cannot load two assets with one "
                "key. Rename or remove it first."
            )
        if t.key == [seed]:
            check_key_free(self.texts, seed, self.source)
        elif t.found is not None and t.name == seed:
            self.result.infos.append(
                f"Source table `{t.source}.{t.name}` has the asset key `{t.key}` of its own: "
                "the loader asset takes it."
            )
        return state

    def _check_location(self, seed: str, t: _Table, rel: Relation) -> None:
        """A UserError unless T's source can read REL, where the seed is loaded."""
        where = f"source `{t.source}` in `{self.texts.rel(t.found[0])}`" if t.found else ""
        source = t.found[1] if t.found else None
        check_source_reads(rel, source, t.table, seed, t.source, where, self.target)

    def _move_properties(
        self, seed: str, s: _Seed, t: _Table
    ) -> tuple[dbt_yaml.MovedProperties, dict[str, Any]]:
        """The seed's properties and config move to table T; (what moved, loader config)."""
        moved = dbt_yaml.MovedProperties()
        if s.entry is not None:
            moved = dbt_yaml.split_seed_entry(s.entry[1])
            self.texts.edit_yaml(s.entry[0], dbt_yaml.remove_seed_entry, seed, doc=True)
            self.emptied.add(s.entry[0])
        self.texts.edit_yaml(
            self.texts.yml, dbt_yaml.remove_project_seed_config, self.dbt.name,
            s.file.folders, s.file.name, doc=True,
        )  # fmt: skip
        config = seed_config(seed, s.inherited, s.own, moved)
        moved.table_config.extend(config.table_config)
        self.result.notes.extend(config.notes)
        for prop in moved.dropped:
            if prop.removeprefix("config.") not in (*RELATION_KEYS, "group"):
                self.result.notes.append(
                    f"`{prop}` of seed `{seed}` has no place on a source table and was dropped."
                )
        if s.rel.identifier != t.name and not any(k == "identifier" for k, _ in moved.keys):
            moved.keys.append(("identifier", s.rel.identifier))  # the seed's alias
        new_table = dbt_yaml.new_table(seed, moved, meta_in_config=self.meta_in_config, key=t.key)
        self.result.keys[seed] = t.key
        new_table["name"] = t.name  # a table named otherwise that reads the relation: extended
        source_path = t.found[0] if t.found else str(self._new_source_path())
        self.texts.add_file(source_path, "yaml")
        schema = s.rel.schema if t.found is None else None  # a new source reads the relation
        self.texts.edit_yaml(source_path, dbt_yaml.add_source_table, t.source, new_table, schema)
        return moved, config.loader

    def _column_types(self, seed: str, loader: dict[str, Any], csv_raw: bytes) -> dict[str, str]:
        delimiter = str(loader.get("delimiter") or ",")
        types, notes = column_types(seed, loader, csv_header(csv_raw, delimiter))
        self.result.notes.extend(notes)
        return types

    def _add_loader(
        self, seed: str, s: _Seed, t: _Table, moved: dbt_yaml.MovedProperties,
        loader: dict[str, Any], csv_raw: bytes,
    ) -> None:  # fmt: skip
        """The loader asset of SEED, added to seed_assets.py."""
        types = self._column_types(seed, loader, csv_raw)
        missing = loaders.missing_names(self.seed_assets_text)
        if missing:
            raise UserError(
                f"`{self.texts.rel(self.seed_assets_path)}` no longer defines "
                f"{', '.join(f'`{n}`' for n in missing)}, which the loader assets use; "
                "restore them (or empty the file) and retry."
            )
        group, owners = loaders.seed_dagster_props(
            s.inherited, s.own, s.entry[1] if s.entry else None
        )
        description = dict(moved.keys).get("description")
        quote = loader.get("quote_columns")
        spec = loaders.LoaderSpec(
            seed=seed, schema=s.rel.schema, table=s.rel.identifier, adapter=self.target.type,
            column_types=types, delimiter=str(loader.get("delimiter") or ","),
            quote_columns=quote if isinstance(quote, bool) else None,
            description=" ".join(str(description).split()) if description else "",
            group=group, owners=tuple(owners), key=tuple(t.key),
        )  # fmt: skip
        self.seed_assets_text = loaders.add_loader_asset(
            self.seed_assets_text,
            spec,
            self.dagster.package,
            loaders.components_dbt_dir(self.dagster, self.dbt.dir, self.seed_assets_path),
        )
        self.texts.set_text(str(self.seed_assets_path), self.seed_assets_text)

    def _project_seed_config(self, seed_file: SeedFile) -> tuple[dict[str, Any], dict[str, Any]]:
        """(inherited, own) config of the seed in dbt_project.yml (see properties.py).

        Read from dbt_project.yml as it is now in the plan, the way dbt reads it (PyYAML,
        YAML 1.1: `+quote_columns: yes` is true), not round-trip (YAML 1.2: text).
        """
        text = self.texts.text(self.texts.yml) or ""
        if self._project_data is None or self._project_data[0] != text:
            data = parse_yaml_text(text, Path(self.texts.rel(self.texts.yml)), "dbt_project.yml")
            self._project_data = (text, data if isinstance(data, dict) else {})
        return dbt_yaml.project_seed_config(
            self._project_data[1], self.dbt.name, seed_file.folders, seed_file.name
        )

    def _new_source_path(self) -> Path:
        roots = self.texts.files.model_roots or [self.dbt.dir / self.dbt.model_paths[0]]
        return roots[0] / "sources.yml"

    # --- all seeds ----------------------------------------------------------

    def empty_files(self) -> frozenset[str]:
        """The seeds' property files left with nothing but `version:` (they are deleted)."""
        import yaml

        out = set()
        for path in self.emptied:
            try:
                data = load_yaml_text(self.texts.text(path) or "")  # C-fast; only keys matter
            except yaml.YAMLError:  # what PyYAML refuses, ruamel may read: ask it
                data = self.texts.load(path)
            if data is None or (isinstance(data, dict) and set(data) <= {"version"}):
                out.add(path)
        return frozenset(out)

    def rewrite_refs(self, seeds: list[str]) -> None:
        from dbtscaffold.dbt.refs import RefSyntaxError, rewrite_refs_in

        targets = [
            self.ref_targets.get(seed) or RefTarget(seed, self.dbt.name, self.source)
            for seed in seeds
        ]
        kinds = self.texts.kinds
        texts = {p: t for p in kinds if (t := self.texts.text(p)) is not None}
        try:
            rewritten = rewrite_refs_in(texts, kinds, targets)
        except RefSyntaxError as e:
            what = "Python" if kinds[e.path] == "python" else "Jinja"
            line = f" (line {e.line})" if e.line else ""
            raise UserError(
                f"`{self.texts.rel(e.path)}` is not valid {what}{line}: {e}; fix it and retry."
            ) from None
        for path, (text, n) in rewritten.items():
            self.texts.set_text(path, text)
            self.result.refs[Path(path)] = n


def plan_convert_seed(
    dbt: DbtProjectInfo,
    dagster: DagsterProjectInfo,
    seeds: list[str],
    *,
    source_name: str,
    delete_csv: bool = False,
    schema: str | None = None,
) -> ConvertResult:
    """Plan converting SEEDS of DBT into source SOURCE_NAME loaded by DAGSTER's assets."""
    p = _Planner(dbt, dagster, source_name, delete_csv, schema)
    for seed in seeds:
        p.convert(seed)
    p.rewrite_refs(seeds)
    plan = p.texts.plan(p.empty_files())
    plan.extend(p.extra)
    plan.description = "convert-seed " + " ".join(seeds)
    p.result.plan = plan
    return p.result
