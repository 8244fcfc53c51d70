"""Typed errors raised by the library.

The library never prints or exits: it raises one of these, and the CLI turns it into a single
line on stderr (plus the ``hint``) in one place. Every error says what to do next.
"""

from __future__ import annotations

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
