"""Plans of file changes, applied all or nothing, journaled and undone."""
