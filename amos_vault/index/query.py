"""What a search asks: `MemoryQuery`, and its JSON form for the daemon's socket.

Kept free of heavy imports, so a command that only forwards a query to the daemon stays fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from amos_vault.core.errors import AmosError, InvalidInputError

KINDS = ("message", "session", "fact", "note")
NO_WORDS = "the query has no words to search for"
NOTHING_FOUND = (
    "nothing in the vault has these words or comes close to their meaning "
    "(try other words; [search] nothing_found_floor sets how close is close)"
)


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or digit to search for (``?!...`` does not): a query
    without any returns no hits, rather than whatever its punctuation happens to resemble."""
    return any(character.isalnum() for character in text)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Restrictions every returned chunk must satisfy (None or empty: no restriction)."""

    kinds: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    user_id: str | None = None
    status: str | None = None
    identity: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        # Text that is not valid Unicode (lone surrogates: from JSON "\ud800" escapes, or
        # undecodable command-line bytes) cannot reach the index; say so here, once.
        for item in fields(self):
            value = getattr(self, item.name)
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, str) and not _is_unicode(text):
                    raise InvalidInputError(
                        f"bad request: query.{item.name} is not valid Unicode text",
                        hint="remove the undecodable characters (lone surrogates) and retry",
                    )

    def only(self) -> Filters:
        """Just the restrictions (a `MemoryQuery` without its text)."""
        return Filters(**{f.name: getattr(self, f.name) for f in fields(Filters)})

    def is_empty(self) -> bool:
        """Whether nothing is restricted."""
        return self.only() == Filters()


@dataclass(frozen=True)
class MemoryQuery(Filters):
    """A search: the text, how many hits, and the filters (keyword arguments)."""

    text: str
    k: int = 10


def parse_query(data: Any) -> MemoryQuery:
    """A `MemoryQuery` from a request's JSON, or `AmosError` saying what is wrong."""
    if not isinstance(data, dict):
        raise AmosError("bad request: 'query' must be an object")
    text = data.get("text")
    if not isinstance(text, str):
        raise AmosError("bad request: query.text must be a string")
    k = data.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise AmosError("bad request: query.k must be a whole number from 1 to 1000")

    def strings(name: str) -> tuple[str, ...]:
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AmosError(f"bad request: query.{name} must be a list of strings")
        return tuple(value)

    def optional(name: str) -> str | None:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise AmosError(f"bad request: query.{name} must be a string")
        return value

    def when(name: str) -> dt.datetime | None:
        value = optional(name)
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise AmosError(f"bad request: query.{name} is not an ISO 8601 date") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    kinds = strings("kinds")
    if any(kind not in KINDS for kind in kinds):
        raise AmosError(f"bad request: query.kinds must be among {', '.join(KINDS)}")
    return MemoryQuery(
        text=text,
        k=k,
        kinds=kinds,
        sessions=strings("sessions"),
        tags=strings("tags"),
        since=when("since"),
        until=when("until"),
        user_id=optional("user_id"),
        status=optional("status"),
        identity=optional("identity"),
        role=optional("role"),
    )


def query_to_json(query: MemoryQuery) -> dict[str, Any]:
    """The JSON form of a query, as `parse_query` reads it."""
    return {
        "text": query.text,
        "k": query.k,
        "kinds": list(query.kinds),
        "sessions": list(query.sessions),
        "tags": list(query.tags),
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
        "user_id": query.user_id,
        "status": query.status,
        "identity": query.identity,
        "role": query.role,
    }
