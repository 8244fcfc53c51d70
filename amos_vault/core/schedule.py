"""Schedules: the strings settings use to say when a daemon job runs.

``"every 30m"``, ``"every 6h"``, ``"cron 0 3 * * *"`` or ``"off"``. The settings check them
when they are loaded (`schedule_problem`); the daemon's scheduler turns them into triggers
(`parse_schedule`). A cron expression is checked with apscheduler, imported only then.
"""

from __future__ import annotations

from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_INTERVAL_DAYS = 3650  # longer cannot be scheduled (and "off" says it better)


def parse_schedule(text: str) -> tuple[str, Any]:
    """``"every 30m"`` -> ("interval", seconds); ``"cron 0 3 * * *"`` -> ("cron", fields);
    ``"off"`` -> ("off", None). Raises ValueError saying what is wrong."""
    words = text.strip().split()
    if words == ["off"]:
        return "off", None
    if len(words) == 2 and words[0] == "every":
        amount, unit = words[1][:-1], words[1][-1:]
        if unit in _UNITS and amount.replace(".", "", 1).isdigit() and float(amount) > 0:
            seconds = float(amount) * _UNITS[unit]
            if seconds > MAX_INTERVAL_DAYS * 86400:
                raise ValueError(
                    f'is longer than {MAX_INTERVAL_DAYS} days (use "off" to never run it): {text!r}'
                )
            return "interval", seconds
    if len(words) == 6 and words[0] == "cron":
        from apscheduler.triggers.cron import CronTrigger  # only when a cron is written

        try:
            CronTrigger.from_crontab(" ".join(words[1:]))
        except ValueError as exc:
            raise ValueError(f"has a cron expression that cannot run ({exc}): {text!r}") from None
        return "cron", words[1:]
    raise ValueError(
        f'must be "every N[s|m|h|d]", "cron MIN HOUR DAY MONTH WEEKDAY" or "off" (found {text!r})'
    )


def schedule_problem(text: str) -> str | None:
    """What is wrong with the schedule ``text`` (the settings say it at load time), or None."""
    try:
        parse_schedule(text)
    except ValueError as exc:
        return str(exc)
    return None
