"""The file operations every change is made of: atomic writes, and refusals before writing."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from dbtscaffold.errors import UserError


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_bytes_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class WriteChecks:
    """The refusals before writing many files: each folder is resolved and checked once."""

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = [r.resolve() for r in roots]
        self._real_parents: dict[Path, Path] = {}
        self._writable_dirs: set[Path] = set()

    def confined(self, path: Path) -> None:
        """Refuse a write that would land outside the roots, through a symlink or otherwise."""
        if path.is_symlink():
            raise UserError(
                f"Refusing to write `{path}`: it is a symbolic link; replace it with a regular file."
            )
        # Resolve the parent (it may not exist yet: resolve() is non-strict).
        parent = self._real_parents.get(path.parent)
        if parent is None:
            parent = self._real_parents[path.parent] = path.parent.resolve()
        real = parent / path.name
        if not any(real.is_relative_to(r) for r in self.roots):
            raise UserError(
                f"Refusing to write `{path}`: it resolves to `{real}`, outside the project "
                "(a symbolic link points out of it)."
            )

    def writable(self, path: Path) -> int | None:
        """Refuse to replace, delete or create PATH when it or its folder is read-only.

        We run as root in places where os.access says yes to anything, so a file or folder
        whose mode has no write bit counts as read-only too: writing would surprise its
        owner. Returns PATH's permission bits (None: it does not exist, or is a link).
        """
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            return None  # `confined` has the say on symbolic links
        if st is not None and (not os.access(path, os.W_OK) or not st.st_mode & 0o222):
            raise UserError(
                f"File `{path}` is read-only; make it writable (chmod u+w) and retry. "
                "Nothing was changed."
            )
        if path.parent not in self._writable_dirs:
            d = path.parent
            while not d.exists():
                d = d.parent
            if not os.access(d, os.W_OK) or not d.stat().st_mode & 0o222:
                raise UserError(
                    f"Folder `{d}` is read-only; make it writable (chmod u+w) and retry. "
                    "Nothing was changed."
                )
            self._writable_dirs.add(path.parent)
        return None if st is None else st.st_mode & 0o7777


def check_confined(path: Path, roots: tuple[Path, ...]) -> None:
    """Refuse a write that would land outside ROOTS, through a symlink or otherwise."""
    WriteChecks(roots).confined(path)


def check_writable(path: Path) -> None:
    """Refuse to replace, delete or create PATH when it or its folder is read-only."""
    WriteChecks(()).writable(path)


def fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write DATA to PATH through a temp file in the same folder and os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def os_error(e: OSError, what: str, path: Path | None = None) -> UserError:
    reason = e.strerror or str(e)
    name = path if path is not None else e.filename
    where = f" `{name}`" if name else ""
    return UserError(f"Could not {what}{where}: {reason}; nothing was changed.")
