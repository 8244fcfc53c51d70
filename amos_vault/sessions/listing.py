"""`SessionFilter`: the one way to choose sessions for a listing (status, tag, user, dates).

The CLI's `list`, the MCP server's `list_sessions` and `SessionManager.list_sessions` all
build one and call `apply`, so a filter means the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amos_vault.sessions.session import Session


@dataclass(frozen=True, kw_only=True)
class SessionFilter:
    """Restrictions a listed session must satisfy (None: no restriction). ``since`` and
    ``until`` bound the creation time, inclusive; a naive datetime is taken as UTC."""

    status: str | None = None
    tag: str | None = None
    user_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, session: Session) -> bool:
        """Whether ``session`` satisfies every restriction."""
        tag = self.tag.lstrip("#") if self.tag else self.tag
        created = session.created
        return (
            (self.status is None or session.status == self.status)
            and (tag is None or tag in session.tags)
            and (self.user_id is None or session.user_id == self.user_id)
            and (self.since is None or (created is not None and created >= _aware(self.since)))
            and (self.until is None or (created is not None and created <= _aware(self.until)))
        )

    def apply(self, sessions: Iterable[Session]) -> list[Session]:
        """The sessions that match, newest first (by creation time, then id)."""
        floor = dt.datetime.min.replace(tzinfo=dt.UTC)
        chosen = [s for s in sessions if self.matches(s)]
        return sorted(chosen, key=lambda s: (s.created or floor, s.id), reverse=True)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
