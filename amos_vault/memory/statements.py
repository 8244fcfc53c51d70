"""From one sentence to the facts it states: the extractive engine's reading of a sentence.

A sentence is cut into its statements (one per clause with its own subject: "I take
ibuprofen after runs, but I'm allergic to penicillin" is two, and so is "I'm allergic to
peanuts and I live in Bristol"), filler and requests to the listener are dropped ("if that
matters", ", so please leave it out"), a statement missing its "I" gets it back ("Loved the
characters"), and each statement a rule of `amos_vault.memory.rules` finds becomes a fact
text: the clause kept, in the third person with the speaker's name (or as said, when it is
about someone it names), with its relative dates made absolute, including one said before
the statement ("Yesterday I went…" -> "… went … on 1 December 2026").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from amos_vault.memory.dates import absolute_dates, date_phrase
from amos_vault.memory.rules import (
    ABOUT_YOU,
    CLAUSE_BREAK,
    FILLER,
    NEGATED,
    NO_SUBJECT,
    PERSON_BEFORE_AND,
    REQUEST,
    RULES,
    STATEMENT_SO_FAR,
    SUBJECT,
    TRAILING_FILLER,
    VOCATIVE,
    WITH_OTHERS,
    Rule,
    clause_at,
    content_words,
    third_person,
)

_PART_END = re.compile(r"\s+[-—–]\s+|[,;:(]\s")
_BEFORE_I = re.compile(r"I\b")


@dataclass(frozen=True)
class Statement:
    """A fact one statement makes: its text, the rule that found it and the rule's match."""

    text: str
    rule: Rule
    match: re.Match[str]


def clauses(sentence: str) -> list[str]:
    """The statements of one sentence: split before each clause with its own subject (when
    the part before it is a statement too; an aside to the listener before it is dropped),
    filler taken off each end, "I" put back where a statement starts with its verb."""
    sentence = FILLER.sub("", sentence).strip()
    sentence = re.sub(r"\bI(?:'|’)d\b", "I would", sentence)
    sentence = re.sub(r"\bI(?:'|’)ll\b", "I will", sentence)
    parts: list[str] = []
    start = 0
    for cut in CLAUSE_BREAK.finditer(sentence):
        left = sentence[start : cut.start()]
        bare_and = cut.group().strip() == "and" and _BEFORE_I.match(sentence, cut.end())
        if bare_and and (PERSON_BEFORE_AND.search(left) or not STATEMENT_SO_FAR.search(left)):
            continue  # "My sister and I went…": one statement
        if SUBJECT.search(left) and len(left.split()) >= 2:
            parts.append(left)
            start = cut.end()
        elif ABOUT_YOU.search(left):  # "Gina, you won't believe it - I got…": an aside
            start = cut.end()
    parts.append(sentence[start:])
    found = []
    for part in parts:
        part = REQUEST.sub("", FILLER.sub("", part.strip()))
        part = VOCATIVE.sub("", TRAILING_FILLER.sub(r"\1", part))
        part = part.strip()
        if NO_SUBJECT.match(part):  # "Got the tattoo years ago" means "I got..."
            part = "I " + part[0].lower() + part[1:]
        if part:
            found.append(part)
    return found


def statement(clause: str, author: str, said_on: dt.date | None) -> Statement | None:
    """The fact ``clause`` states when ``author`` says it on ``said_on``, if a rule finds one:
    the earliest statement a specific rule finds that makes one, else a fallback rule's."""
    found = [(n, m) for n, r in enumerate(RULES) if (m := r.pattern.search(clause))]
    # The statements specific rules find, earliest first, then the fallback rules': the
    # first that makes a fact ("tell you I started…" is about "you"; "I started…" is not).
    found.sort(key=lambda item: (RULES[item[0]].fallback, item[1].start(), item[0]))
    for number, match in found:
        made = _statement_at(clause, RULES[number], match, author, said_on)
        if made is not None:
            return made
    return None


def _statement_at(
    clause: str, rule: Rule, match: re.Match[str], author: str, said_on: dt.date | None
) -> Statement | None:
    start = 0 if rule.from_start else match.start()
    if NEGATED.search(clause[:start]):
        return None  # "I don't think I will ever…": the statement is denied, not made
    together = WITH_OTHERS.search(clause[:start])
    if together:  # "My sister and I went…": keep who else was there
        start = together.start()
    kept = clause_at(clause, start)
    # "I start on January 4": the day's number is substance too (a one-digit word is not
    # counted by content_words).
    dated = 1 if re.search(r"\d", date_phrase(kept)) else 0
    if len(content_words(kept)) + dated < rule.min_words or ABOUT_YOU.search(kept):
        return None  # too thin, or about the person spoken to
    when = date_phrase(clause[:start])
    if when and when.lower() not in kept.lower():  # "Yesterday I went…": the day stays,
        kept = kept.rstrip(".!…")  # at the end of the statement's first part
        cut = _PART_END.search(kept)
        at = cut.start() if cut else len(kept)
        kept = f"{kept[:at]} {when[:1].lower()}{when[1:]}{kept[at:]}"
    text = third_person(kept, author, say_who=not rule.about_others)
    text = absolute_dates(text, said_on).rstrip(".!…") + "."
    return Statement(text, rule, match)
