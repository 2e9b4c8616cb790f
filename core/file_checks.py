"""What is wrong with a database file, said plainly, before DuckDB is let near it.

A file that is not a ledgerlight database is never written to: its first bytes are checked before
DuckDB opens it (DuckDB would otherwise try to load an extension for a SQLite file, or start a WAL
beside a corrupt one), and whatever DuckDB or the operating system reports is turned into the
cause a user can act on (truncated, corrupt, no permission, disk full, held by another process),
with the file named.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import DatabaseError

_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB file, after the header's checksum
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 3 * 4096  # the main header and two database headers
_UNTOUCHED = "the file was left untouched"


def _point_elsewhere(path: Path) -> str:
    return f"Point LEDGERLIGHT_DB (or --db) at another file, or restore {path.name} from a backup; {_UNTOUCHED}."


def inspect(path: Path, for_write: bool) -> None:
    """Refuse, before opening, a path that cannot be a ledgerlight database or cannot be used as
    asked. A missing file passes when it is to be created (its folder must be writable)."""
    try:
        _inspect(path, for_write)
    except PermissionError:  # a folder on the way that this user may not enter
        raise DatabaseError(f"cannot reach {path}: permission denied on a folder on its path (this user is uid "
                            f"{os.getuid()}). Fix the folders' permissions or run ledgerlight as their owner.") from None


def _inspect(path: Path, for_write: bool) -> None:
    if path.is_dir():
        raise DatabaseError(f"{path} is a folder, not a database file: point LEDGERLIGHT_DB (or --db) at a file.")
    if not path.exists():
        folder = _existing_parent(path)
        if for_write and not os.access(folder, os.W_OK):
            raise DatabaseError(f"cannot create {path}: the folder {folder} is not writable by this user "
                                f"({_owner(folder)}). Fix its permissions or choose another folder.")
        return
    try:
        with open(path, "rb") as file:
            header = file.read(_HEADER_BYTES)
    except PermissionError:
        raise DatabaseError(f"cannot read {path}: permission denied ({_owner(path)}). Fix its permissions "
                            "or run ledgerlight as its owner.") from None
    if header.startswith(_SQLITE_MAGIC):
        raise DatabaseError(f"{path} is a SQLite database, not a DuckDB one. {_point_elsewhere(path)}")
    if not header:
        raise DatabaseError(f"{path} is an empty file, not a database: delete it (ledgerlight then builds a "
                            f"new one) or point LEDGERLIGHT_DB (or --db) elsewhere; {_UNTOUCHED}.")
    if header[8:12] != _DUCKDB_MAGIC:
        raise DatabaseError(f"{path} is not a DuckDB database (it does not start like one). {_point_elsewhere(path)}")
    if len(header) < _HEADER_BYTES:
        raise DatabaseError(f"{path} is truncated: it ends inside its own header (was a copy or download cut "
                            f"short?). {_point_elsewhere(path)}")
    if for_write:
        for needed in (path, path.parent):
            if not os.access(needed, os.W_OK):
                what = "the file" if needed == path else "its folder (DuckDB writes a .wal file beside it)"
                raise DatabaseError(f"cannot write {path}: {what} is read-only for this user ({_owner(needed)}). "
                                    "Fix the permissions, or open it only to read.")


def explain(exc: Exception, path: Path, lock_wait: float | None = None) -> DatabaseError:
    """The cause of a DuckDB or OS error on `path`, as a DatabaseError naming the file and the fix."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    lowered = text.lower()
    if is_lock_conflict(exc):
        waited = f" for more than {lock_wait:.0f} s" if lock_wait else ""
        return DatabaseError(f"{path} is in use by another process ({holder_of(text)}){waited}; nothing was "
                             "written. Try again when it has finished, or stop it.")
    if "no space left" in lowered or "file too large" in lowered or "disk full" in lowered:
        return DatabaseError(f"there is no room to write {path} ({first}): free some disk space and run "
                             "again; nothing was written.")
    if "permission denied" in lowered or "read-only file system" in lowered:
        return DatabaseError(f"cannot use {path}: {first}. Fix its permissions (or its folder's); {_UNTOUCHED}.")
    if "could not read enough bytes" in lowered or "unexpected end of file" in lowered:
        return DatabaseError(f"{path} is truncated: it ends before its last block (was a copy or download "
                             f"cut short?). {_point_elsewhere(path)}")
    if "corrupt" in lowered or "checksum" in lowered:
        return DatabaseError(f"{path} is corrupt ({first}). {_point_elsewhere(path)}")
    if "not a valid duckdb database" in lowered or "extension" in lowered:
        return DatabaseError(f"{path} is not a DuckDB database ledgerlight can read ({first}). {_point_elsewhere(path)}")
    return DatabaseError(f"{path} could not be used: {first}. {_UNTOUCHED}.")


def is_lock_conflict(exc: Exception) -> bool:
    """Whether DuckDB could not open the file because another process holds it."""
    lowered = str(exc).lower()
    return "could not set lock" in lowered or "conflicting lock" in lowered


def is_file_fault(exc: Exception) -> bool:
    """Whether a DuckDB error mid-query comes from the file (its bytes, its disk), not the query."""
    lowered = str(exc).lower()
    return any(sign in lowered for sign in ("corrupt", "checksum", "could not read enough bytes", "no space left",
                                            "file too large", "permission denied", "read-only file system",
                                            "database has been invalidated"))


def holder_of(lock_error: str) -> str:
    """Who holds the lock DuckDB could not take: the process id, and its command when readable."""
    found = re.search(r"PID (\d+)", lock_error)
    if not found:
        return "another process"
    pid = int(found.group(1))
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace").strip()
    except OSError:
        command = ""
    return f"PID {pid}: {command}" if command else f"PID {pid}"


def _existing_parent(path: Path) -> Path:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _owner(path: Path) -> str:
    status = path.stat()
    return f"owner uid {status.st_uid}, mode {status.st_mode & 0o777:o}; this user is uid {os.getuid()}"
