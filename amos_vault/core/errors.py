"""Typed errors raised by the library.

The library never prints or exits: it raises one of these, and the CLI turns it into a single
line on stderr (plus the ``hint``) in one place. Every error says what to do next.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path


class AmosError(Exception):
    """Base class of every error amos-vault raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: Path | str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = Path(path) if path is not None else None
        self.line = line

    def location(self) -> str:
        """``file:line`` (or just the file) this error is about, or an empty string."""
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class VaultNotFoundError(AmosError):
    """No vault was named and none was found above the current folder."""


class ConfigError(AmosError):
    """`.amos/config.toml` cannot be read or holds a wrong value."""


class ParseError(AmosError):
    """A vault file is not in the expected format (bad front-matter, bad header, not text)."""


class UnsafePathError(AmosError):
    """A path points outside the vault (``../``, an absolute path elsewhere, a symlink out)."""


class SessionNotFoundError(AmosError):
    """No session matches the given id, id prefix or path."""


class AmbiguousSessionError(AmosError):
    """An id prefix matches more than one session."""


class DuplicateSessionIdError(AmosError):
    """Two session files carry the same id."""


class InvalidTransitionError(AmosError):
    """A lifecycle change that the session's current status does not allow."""


class SessionStateError(AmosError):
    """An operation that needs another status (e.g. adding a message to a completed session)."""


class LineageCycleError(AmosError):
    """Parent links form a cycle."""


class IdentityError(AmosError):
    """The owner identity or its private key is missing or invalid."""


class InvalidInputError(AmosError):
    """An argument given by the caller cannot be accepted (empty title, NUL in content, ...)."""


class LockTimeoutError(AmosError):
    """Another process held a vault lock for longer than the configured timeout."""


class ConflictError(AmosError):
    """A file kept changing under a write; nothing was overwritten."""


class DatabaseError(AmosError):
    """The PostgreSQL engine's database refused or could not be reached (base class)."""


class DatabaseUnavailableError(DatabaseError):
    """The database server does not answer (down, restarting, wrong host or port)."""


class DatabaseAccessError(DatabaseError):
    """The server answered but refused the login or the database (wrong user, password,
    database name, or missing privileges)."""


class DatabaseSchemaError(DatabaseError):
    """The database cannot hold the index as it is: the `vector` extension is missing, or
    its tables were migrated by a newer amos-vault."""


class StorageError(AmosError, OSError):
    """The file system refused a write or a read: disk full, read-only, permission denied, or
    the folder is gone. Also an `OSError`, so code that handles I/O failures still sees it."""


# What went wrong, and what to do next, for the errors a user can fix on their own.
_STORAGE_CAUSES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (
        "the disk is full (no space left on device)",
        "free some space on that disk (or move the vault to a bigger one), then run the "
        "command again",
    ),
    errno.EDQUOT: (
        "your disk quota is used up",
        "free some space within your quota, then run the command again",
    ),
    errno.EROFS: (
        "the file system is read-only",
        "remount it read-write (or copy the vault to a writable disk), then run the command again",
    ),
    errno.EACCES: (
        "permission denied",
        "give your user read and write access to the vault (e.g. `chmod -R u+rwX VAULT`), "
        "then run the command again",
    ),
    errno.EPERM: (
        "the operation is not permitted",
        "give your user read and write access to the vault (e.g. `chmod -R u+rwX VAULT`), "
        "then run the command again",
    ),
    errno.ENOENT: (
        "its folder no longer exists (was the vault moved or deleted?)",
        "restore the vault folder (or point --vault / AMOS_VAULT at its new place), then run "
        "the command again",
    ),
    errno.EIO: (
        "the disk reported an input/output error",
        "check the disk (dmesg, fsck), then run the command again",
    ),
}
STORAGE_ERRNOS = frozenset(_STORAGE_CAUSES)


def storage_error(
    exc: BaseException, path: Path | str | None = None, *, writing: bool | None = True
) -> StorageError:
    """The `StorageError` saying, in words, why the file system refused ``path``. For a
    write it also says the file was left as it was (writes are atomic: all or nothing);
    ``writing=None`` when it is not known whether it was a read or a write. ``exc`` is an
    `OSError`, or a native engine's error naming one as ``(os error N)``."""
    code = exc.errno if isinstance(exc, OSError) else storage_errno(exc)
    strerror = exc.strerror if isinstance(exc, OSError) else None
    cause, hint = _STORAGE_CAUSES.get(
        code or 0, (strerror or str(exc), "fix the cause above, then run the command again")
    )
    where = path if path is not None else getattr(exc, "filename", None)
    if writing is None:
        what = f"the file system refused: {cause}"
    elif writing:
        what = f"cannot write: {cause}; nothing was written to it"
    else:
        what = f"cannot read: {cause}"
    error = StorageError(what, hint=hint)
    error.path = Path(where) if where is not None else None
    error.errno = code
    error.strerror = cause
    return error


def storage_errno(exc: BaseException) -> int | None:
    """The errno of a storage failure, also when a native engine (Tantivy) reports it only in
    its message as ``(os error N)``; None when ``exc`` is no such failure."""
    if isinstance(exc, OSError):
        return exc.errno if exc.errno in STORAGE_ERRNOS else None
    # Rust's io::Error shows as "... (os error 28)" or, debug-printed, "Os { code: 28, ...".
    for found in _NATIVE_ERRNO.finditer(str(exc)):
        code = int(found.group(1) or found.group(2))
        if code in STORAGE_ERRNOS:
            return code
    return None


_NATIVE_ERRNO = re.compile(r"\(os error (\d+)\)|\bOs \{ code: (\d+),")
