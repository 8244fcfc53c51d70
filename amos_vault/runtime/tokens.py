"""Bearer tokens of the team server: each bound to one identity, stored hashed in the database.

A token's secret is 32 random bytes, shown once when it is made (``amv_`` and URL-safe
base64); the database keeps only its SHA-256, so a copy of the database lets no one in. The
team server looks a request's token up by that hash: an unknown token and a revoked one are
refused (`TokenRefusedError`), a live one gives the identity whose rows the request may see.
The table is made by the numbered migration ``*_tokens.sql`` of the PostgreSQL engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from amos_vault.core.errors import AmosError, InvalidInputError

PREFIX = "amv_"
SECRET_BYTES = 32


class TokenRefusedError(AmosError):
    """A request's bearer token is missing, unknown or revoked."""


class Connections(Protocol):
    """Where tokens are read and written: a psycopg pool (`psycopg_pool.ConnectionPool`)."""

    def connection(self, timeout: float | None = None) -> Any:
        """A connection, as a context manager that commits on a clean exit."""


@dataclass(frozen=True)
class Token:
    """What is known of a token (never its secret)."""

    token_id: str
    name: str
    identity: str
    created: dt.datetime
    revoked: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.token_id,
            "name": self.name,
            "identity": self.identity,
            "created": self.created.isoformat(timespec="seconds"),
            "revoked": self.revoked.isoformat(timespec="seconds") if self.revoked else None,
        }


def secret_hash(secret: str) -> bytes:
    """The SHA-256 of a token's secret: what the database keeps."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _row(row: tuple[Any, ...]) -> Token:
    token_id, name, identity, created, revoked = row
    return Token(token_id, name, identity, created, revoked)


COLUMNS = "token_id, name, identity, created_at, revoked_at"


class TokenStore:
    """Make, list, revoke and check bearer tokens in the team database."""

    def __init__(
        self,
        pool: Connections,
        errors: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        """``errors`` turns the driver's failures into one-line `DatabaseError`s."""
        self.pool = pool
        self._errors = errors

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled connection (committed on a clean exit), the driver's errors translated."""
        with self._errors(), self.pool.connection() as connection:
            yield connection

    def create(self, identity: str, name: str = "") -> tuple[Token, str]:
        """A new token for ``identity``, and its secret (shown to the user once, kept
        nowhere)."""
        identity, name = identity.strip(), name.strip()
        if not identity:
            raise InvalidInputError(
                "a token needs an identity", hint="give --identity ID (the owner id of a vault)"
            )
        secret = PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        token_id = "t-" + secrets.token_hex(4)
        with self._connection() as connection:
            row = connection.execute(
                "INSERT INTO amos_tokens (token_id, name, identity, secret_sha256)"
                f" VALUES (%s, %s, %s, %s) RETURNING {COLUMNS}",
                (token_id, name, identity, secret_hash(secret)),
            ).fetchone()
        return _row(row), secret

    def list(self, *, include_revoked: bool = True) -> list[Token]:
        """Every token, oldest first."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM amos_tokens{where} ORDER BY created_at, token_id"
            ).fetchall()
        return [_row(row) for row in rows]

    def revoke(self, which: str) -> Token:
        """Revoke the token with this id (``t-...``) or name; from now on it is refused.
        Revoking a revoked token again changes nothing."""
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM amos_tokens WHERE token_id = %s OR name = %s",
                (which, which),
            ).fetchall()
            by_id = [row for row in rows if row[0] == which]
            if not rows:
                raise InvalidInputError(
                    f"no token has the id or name {which!r}",
                    hint="`amosvault token list` shows the tokens",
                )
            if not by_id and len(rows) > 1:
                raise InvalidInputError(
                    f"{len(rows)} tokens are named {which!r}",
                    hint="revoke one by its id (`amosvault token list` shows them)",
                )
            chosen = (by_id or rows)[0][0]
            row = connection.execute(
                "UPDATE amos_tokens SET revoked_at = coalesce(revoked_at, now())"
                f" WHERE token_id = %s RETURNING {COLUMNS}",
                (chosen,),
            ).fetchone()
        return _row(row)

    def identity_of(self, secret: str) -> str:
        """The identity of a live token, or `TokenRefusedError` saying what to do."""
        if not secret.startswith(PREFIX):
            raise TokenRefusedError(
                "the bearer token is not an amos-vault token",
                hint="send 'Authorization: Bearer amv_...' with a token from "
                "`amosvault token create`",
            )
        with self._connection() as connection:
            row = connection.execute(
                "SELECT identity, revoked_at FROM amos_tokens WHERE secret_sha256 = %s",
                (secret_hash(secret),),
            ).fetchone()
        if row is None:
            raise TokenRefusedError(
                "the bearer token is unknown",
                hint="check it was copied whole, or ask for a new one (`amosvault token create`)",
            )
        identity, revoked = row
        if revoked is not None:
            raise TokenRefusedError(
                f"the bearer token was revoked on {revoked:%Y-%m-%d %H:%M} UTC",
                hint="ask for a new one (`amosvault token create --identity ID`)",
            )
        return str(identity)
