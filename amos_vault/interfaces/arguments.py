"""Arguments people type, read the same way by the command line and the MCP server."""

from __future__ import annotations

import datetime as dt

from amos_vault.core.errors import InvalidInputError

DATE_FORMS = "YYYY-MM-DD or ISO 8601"


def parse_date(value: str | None, name: str, *, end_of_day: bool = False) -> dt.datetime | None:
    """A date argument (``YYYY-MM-DD`` or ISO 8601) as an aware datetime (UTC when it has
    no offset); None when absent or blank. A bare date that bounds a range from above
    (``end_of_day``) means the end of that day. Raises `InvalidInputError` naming ``name``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{name} {value!r} is not a date",
            hint=f"give {name} as {DATE_FORMS} (UTC when no offset)",
        ) from None
    if end_of_day and len(text) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
