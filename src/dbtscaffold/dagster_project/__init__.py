"""The Dagster project dbtscaffold generates and edits: finding it, rendering it, its loaders."""
