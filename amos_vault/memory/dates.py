"""Relative dates in a fact made absolute from the day it was said.

"yesterday", "next Monday", "on Saturday", "in two weeks", "three days ago", "next month"...
become "on 1 December 2026", "in January 2027": a fact read a year later still says when.

A handful of rules rather than a date library: the libraries tried (dateparser's
``search_dates``) read "We" as Wednesday, "may" as May and the book title "Tomorrow, and
Tomorrow, and Tomorrow" as a date; these rules resolve only what is really a date expression:

* a date word written with a capital inside a sentence ("Tomorrow, and Tomorrow"), or inside
  quotes or emphasis, is a title, never a date;
* a bare weekday is a date only after "last", "next", "this", "coming", "on", "by", "until"
  or "since" ("a Monday kind of mood" is not a day);
* "on Saturday" is the coming Saturday, unless the statement is in the past tense ("we went
  hiking on Saturday"), then the one before;
* a day of a month without its year ("on March 18") gets the year of the nearest such day
  before the day said in a statement of the past ("we went on March 18"), else after it ("I
  start on January 4", "I booked it for March 18"), and none when it comes every year ("my
  birthday is March 14").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = r"(?P<weekday>mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\b"
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "a couple": 2, "couple of": 2,
}  # fmt: skip
_COUNT = (
    r"(?P<count>\d{1,3}|a couple of|a couple|couple of|an?|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|eleven|twelve)"
)
_UNIT = r"(?P<unit>day|week|month|year)s?\b"
_PAST = re.compile(
    r"\b(?:was|were|did|had|went|got|came|saw|met|ran|took|made|left|found|felt|bought|"
    r"spent|told|said|won|lost|ate|drove|flew|began|wrote|read it|\w{2,}ed)\b",
    re.I,
)
_FUTURE = re.compile(
    r"\b(?:will|'ll|going to|gonna|plan\w*|hop(?:e|ing) to|want to|next|shall|"
    r"(?:am|'m|are|'re|is|'s) \w+ing)\b",
    re.I,
)
# Words ending in "ed" that say nothing of the past: "need", "I'm so excited", "is booked".
_NOT_PAST = re.compile(
    r"\b\w*eed\b|\b(?:am|'m|is|'s|are|'re|so|very|really|feel|feeling|get|getting) "
    r"(?:so |very |really )?\w+ed\b",
    re.I,
)
# Spans that are titles or quotations: "…", “…”, *…*, _…_ (never dates inside them).
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|\*[^*]+\*|(?<!\w)_[^_]+_(?!\w)")


def day_text(value: dt.date) -> str:
    """A day as facts write it: "1 December 2026"."""
    return f"{value.day} {value:%B %Y}"


def _count(text: str) -> int:
    text = text.lower()
    return int(text) if text.isdigit() else _NUMBERS.get(text, 1)


def _shift_months(value: dt.date, months: int) -> dt.date:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1, day=1)


def _titles(text: str) -> list[tuple[int, int]]:
    """Spans that are titles or quotations, not dates: quoted text, and the run of a day word
    written with a capital inside a sentence (with its repeats: "Tomorrow, and Tomorrow")."""
    spans = [m.span() for m in _QUOTED.finditer(text)]
    for word in ("yesterday", "today", "tonight", "tomorrow"):
        capital = word.capitalize()
        inside = [
            m for m in re.finditer(rf"\b{capital}\b", text) if not _starts_sentence(text, m.start())
        ]
        if inside:  # a title: every capitalised occurrence of the word is part of it
            spans += [m.span() for m in re.finditer(rf"\b{capital}\b", text)]
    return spans


def _starts_sentence(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \"'“(")
    return not before or before[-1] in ".!?:;\n"


def _keep_case(said: str, written: str) -> str:
    return written[:1].upper() + written[1:] if said[:1].isupper() else written


class _Resolver:
    """The rules for one text said on one day: each turns a match into an absolute date."""

    def __init__(self, said_on: dt.date, past: bool, yearly: bool) -> None:
        self.said_on = said_on
        self.past = past
        self.yearly = yearly  # a day that comes every year, or a year said elsewhere

    def on(self, days: int) -> str:
        return f"on {day_text(self.said_on + dt.timedelta(days=days))}"

    def day_word(self, match: re.Match[str]) -> str:
        return self.on(_DAY_WORDS[match["word"].lower()])

    def weekday(self, match: re.Match[str]) -> str:
        said = self.said_on.weekday()
        wanted = next(n for n, d in enumerate(WEEKDAYS) if d.startswith(match["weekday"].lower()))
        which = match["which"].lower()
        back, ahead = (said - wanted) % 7 or 7, (wanted - said) % 7
        if which == "last" or (which in ("on", "since") and self.past):
            days = -back
        else:
            days = ahead if which == "this" else ahead or 7
        word = which if which in ("by", "until", "since") else "on"
        return f"{word} {day_text(self.said_on + dt.timedelta(days=days))}"

    def amount(self, match: re.Match[str]) -> str:
        count, unit = _count(match["count"]), match["unit"].lower()
        sign = -1 if match.group(0).lower().endswith("ago") else 1
        if unit in ("day", "week"):
            return self.on(sign * count * (7 if unit == "week" else 1))
        if unit == "month":
            return f"in {_shift_months(self.said_on, sign * count):%B %Y}"
        return f"in {self.said_on.year + sign * count}"

    def month_day(self, match: re.Match[str]) -> str:
        """ "March 18": the nearest such day before the day said in a statement of the past,
        else the next one ("I start on January 4", "booked it for March 18"), but no year for
        a day that comes every year ("my birthday is March 14")."""
        which = match["which"].lower()
        if self.yearly:
            return match.group(0)
        month = next(n for n, m in enumerate(_MONTHS, 1) if m.startswith(match["month"][:3]))
        candidates = []
        for year in range(self.said_on.year - 4, self.said_on.year + 5):
            try:
                candidates.append(dt.date(year, month, int(match["day"])))
            except ValueError:
                continue  # 29 February of a common year
        before = [d for d in candidates if d <= self.said_on]
        after = [d for d in candidates if d >= self.said_on]
        if not candidates:
            return match.group(0)  # no such day: as said
        # "on"/"since" a day follow the statement's tense, as weekdays do; "by", "until" and
        # "for" a day look ahead ("I need it by March 3", "booked for March 18").
        if self.past and which in ("on", "since") and before:
            day = max(before)
        else:
            day = min(after) if after else max(before)
        return f"{match['which']} {day_text(day)}"

    def period(self, match: re.Match[str]) -> str:
        which, unit = match["which"].lower(), match["unit"].lower()
        step = {"last": -1, "this": 0, "next": 1}[which]
        if unit == "month":
            return f"in {_shift_months(self.said_on, step):%B %Y}"
        if unit == "year":
            return f"in {self.said_on.year + step}"
        if step == 0 and unit in ("week", "weekend"):
            return f"the {unit} of {day_text(self.said_on)}"
        when = "before" if step < 0 else "after"
        if unit in ("week", "weekend"):
            return f"the {unit} {when} {day_text(self.said_on)}"
        if step == 0:  # a season: the one of the year it was said
            return f"in the {unit} of {self.said_on.year}"
        return f"in the {unit} {when} {day_text(self.said_on)}"


_DAY_WORDS = {
    "yesterday": -1,
    "today": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "tonight": 0,
    "tomorrow": 1,
}
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
# A month written with its capital ("may" is a verb), with a day and without a year.
_MONTH = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?P<day>[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_NO_YEAR = r"\b(?!,? '?\d{2,4}\b|:|\s*[-–]\s*\d)"
# Only a day said with its preposition is a date ("on March 18", "by 3 June"): "June 3 times"
# and "In May 3 people left" are not.
_WHICH_DAY = r"\b(?i:(?P<which>on|by|until|since|for)) (?:the )?"
# No year is added to a day that comes every year, nor where the statement says a year.
_YEARLY = re.compile(
    r"\b(?:birthdays?|anniversar(?:y|ies)|born|every year|each year|annual(?:ly)?|yearly|"
    r"(?:19|20)\d{2}|(?:last|next|this) year|'\d{2})\b",
    re.I,
)
_RULES = (
    (re.compile(rf"\b(?P<word>{'|'.join(_DAY_WORDS)})\b", re.I), _Resolver.day_word),
    (re.compile(rf"\bin {_COUNT} {_UNIT}", re.I), _Resolver.amount),
    (re.compile(rf"\b{_COUNT} {_UNIT} ago\b", re.I), _Resolver.amount),
    (
        re.compile(
            r"\b(?P<which>last|this|next) (?P<unit>week|weekend|month|year|spring|summer|"
            r"autumn|fall|winter)\b",
            re.I,
        ),
        _Resolver.period,
    ),
    (
        re.compile(rf"\b(?P<which>last|next|this|coming|on|by|until|since) {_WEEKDAY}", re.I),
        _Resolver.weekday,
    ),
    (re.compile(rf"{_WHICH_DAY}{_MONTH} {_DAY}{_NO_YEAR}"), _Resolver.month_day),
    (re.compile(rf"{_WHICH_DAY}{_DAY} (?:of )?{_MONTH}{_NO_YEAR}"), _Resolver.month_day),
)


def absolute_dates(text: str, said_on: dt.date | None) -> str:
    """``text`` with its relative dates made absolute from ``said_on`` (unchanged without
    one): "I fell yesterday" said on 2 December 2026 is "I fell on 1 December 2026"."""
    if said_on is None:
        return text
    past = bool(_PAST.search(_NOT_PAST.sub("", text))) and not _FUTURE.search(text)
    resolver = _Resolver(said_on, past, bool(_YEARLY.search(text)))
    for pattern, resolve in _RULES:
        titles = _titles(text)

        def swap(
            match: re.Match[str],
            resolve: Callable[..., str] = resolve,
            titles: list[tuple[int, int]] = titles,
        ) -> str:
            if any(start <= match.start() < end for start, end in titles):
                return match.group(0)
            return _keep_case(match.group(0), resolve(resolver, match))

        text = pattern.sub(swap, text)
    return text


def date_phrase(text: str) -> str:
    """The first relative date expression in ``text`` ("" for none), titles left out: the
    "Yesterday" of "Yesterday I went to a pottery class", kept with the statement."""
    titles = _titles(text)
    found = [
        match
        for pattern, _resolve in _RULES
        for match in pattern.finditer(text)
        if not any(start <= match.start() < end for start, end in titles)
    ]
    return min(found, key=lambda m: m.start()).group(0) if found else ""
