"""Sentences of a message, split where a sentence really ends.

A period after an abbreviation ("Dr.", "Mr.", "e.g.", "St.", "No. 5", "J. R. Smith") is not
a sentence end; "!", "?" and a period after any other word are, when a capital, a digit or
a quote follows. Hand-written on purpose: of the splitters on PyPI, pysbd took 38 s for
130 KB (a pasted log is megabytes), blingfire is a 99 MB native package, and sentencex split
"Dr." off after a sentence end; this is one linear pass over each line.
"""

from __future__ import annotations

import re

# Abbreviations written with a final period (lower-case, without it); a period after them
# ends no sentence. "no" only before a number ("No. 5"), see `_ends_sentence`.
_ABBREVIATION_WORDS = """
    mr mrs ms mx dr prof rev fr sr jr st mt ft hon gen col capt lt sgt gov pres sen rep
    e.g i.e cf vs viz al approx ca dept est fig inc ltd co corp univ assn bros
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    a.m p.m u.s u.k u.n ph.d m.d b.a m.a d.c no nos nr vol pp ch sec art ave blvd rd
"""
ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def _ends_sentence(line: str, end: re.Match[str]) -> bool:
    """Whether the punctuation ``end`` found in ``line`` closes a sentence."""
    mark = end.group(0).rstrip()
    if not mark.startswith(".") or mark.startswith(".."):
        return True  # "!", "?", an ellipsis
    word = _LAST_WORD.search(line[: end.start() + 1])
    if word is None:
        return True  # after a number or a quote
    token = word.group(1).lower()
    if len(token) == 1 and token.isalpha() and word.group(1).isupper():
        return False  # an initial: "J. R. Smith"
    if token == "no":
        return not line[end.end() : end.end() + 1].isdigit()  # "No. 5", not "No. I won't"
    return token not in ABBREVIATIONS


def split_line(line: str) -> list[str]:
    """The sentences of one line of text."""
    found, start = [], 0
    for end in _END.finditer(line):
        if _ends_sentence(line, end):
            found.append(line[start : end.end()].strip())
            start = end.end()
    found.append(line[start:].strip())
    return [sentence for sentence in found if sentence]


def sentences(text: str) -> list[str]:
    """The sentences of a message: each line (list markers and quote marks taken off), split
    where a sentence ends."""
    found = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*> ").strip()
        if line:
            found += split_line(line)
    return found
