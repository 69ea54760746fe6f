"""The file operations every change is made of: the one writer (write_new, write_atomic), the
fsyncs that make a change durable, and the refusals before writing."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from dbtscaffold.errors import UserError

# Fault injection for the crash-safety tests, inert unless these are set: sleep this long
# before each file operation of an apply or an undo (so a test's SIGKILL can land between
# any two), or fail after this many.  Read only from the environment.
DELAY_ENV = "DBTSCAFFOLD_TEST_APPLY_DELAY"
FAIL_ENV = "DBTSCAFFOLD_TEST_FAIL_AFTER"


def fault_hook() -> Callable[[], None]:
    """What to call before each file operation: nothing unless a test set DELAY_ENV/FAIL_ENV."""
    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    fail_after = os.environ.get(FAIL_ENV)
    count = [0]

    def hook() -> None:
        if delay:
            time.sleep(delay)
        if fail_after is not None:
            count[0] += 1
            if count[0] > int(fail_after):
                raise OSError(errno.EIO, f"injected failure ({FAIL_ENV})")

    return hook


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


# How many fsyncs run at once: the filesystem's journal commits concurrent fsyncs together,
# so 500 staged files take ~0.1 s rather than ~2 s one after another (ext4, measured here).
SYNC_THREADS = 16


def fsync_dir(d: Path) -> None:
    """Make D's entries (files created, renamed or deleted in it) durable; best effort."""
    with contextlib.suppress(OSError):
        _fsync(d)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e
    finally:
        os.close(fd)


def fsync_all(files: Iterable[Path] = (), dirs: Iterable[Path] = ()) -> None:
    """Make FILES' bytes and DIRS' entries durable, many at a time (SYNC_THREADS).

    An OSError (its filename set) when a file's bytes cannot be written; a folder is best
    effort, as in fsync_dir.
    """
    jobs = [
        *((f, _fsync) for f in dict.fromkeys(files)),
        *((d, fsync_dir) for d in dict.fromkeys(dirs)),
    ]
    if len(jobs) <= 1:
        for path, sync in jobs:
            sync(path)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(SYNC_THREADS, len(jobs))) as pool:
        for _ in pool.map(lambda job: job[1](job[0]), jobs):
            pass


def write_new(path: Path, data: bytes, mode: int = 0o600, *, sync: bool = True) -> None:
    """Create PATH (it must not exist) holding DATA, with MODE, on disk (fsynced) when done
    (unless not SYNC: the caller fsyncs many at once, fsync_all).

    The one place the CLI writes a file's bytes: write_atomic and apply's staged files
    both come here. os.write and fchmod rather than open() and chmod: fewer system calls
    per file, and a plan may stage a thousand of them.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes, *, mode: int | None = None, tmp: Path | None = None
) -> None:
    """Write DATA to PATH through a temp file in the same folder (TMP, else a fresh name),
    renamed into place; the file and the rename are on disk when it returns."""
    if tmp is None:
        tmp = path.parent / f".{path.name}.{os.getpid()}-{time.monotonic_ns()}.tmp"
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # left by a run that was killed
    try:
        write_new(tmp, data, 0o600 if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def os_error(e: OSError, what: str, path: Path | None = None) -> UserError:
    reason = e.strerror or str(e)
    name = path if path is not None else e.filename
    where = f" `{name}`" if name else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return UserError(
            f"Could not {what}{where}: {reason}; nothing was changed. Free some space and retry."
        )
    return UserError(f"Could not {what}{where}: {reason}; nothing was changed.")
