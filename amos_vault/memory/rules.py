"""The rules of the extractive summarizer: the English it knows, apart from the algorithm.

What carries meaning (stop words, light stemming), the patterns that recognise first-person
statements (preferences, identity, work, home, people, plans, events) with the type, confidence
and topic of the fact each makes, and the rewrites that turn a statement into a fact: the
clause kept, the third person with the speaker's name, relative dates made absolute.
`amos_vault.memory.summarizer` applies them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9']+")
_STOP_WORDS = (
    "a an the and or but if so to of in on at for with from by as is are was were be been "
    "am i me my we our you your he she it they them their this that these those there here "
    "do does did have has had not no yes just really very too also then than what when "
    "where who how oh hey hi yeah wow haha lol thanks thank ok okay so much can could would "
    "should will"
)
_STOP = frozenset(_STOP_WORDS.split())


def content_words(text: str) -> list[str]:
    """Lower-case words that carry meaning, lightly stemmed (for overlap and topics)."""
    words = []
    for word in _WORD.findall(text.lower()):
        word = word.strip("'")
        if word in _STOP or len(word) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        words.append(word)
    return words


_ADVERB = (
    r"(?:(?:really|also|just|still|absolutely|totally|definitely|usually|always|often|"
    r"actually|truly|now|recently|finally|currently|even|kinda|kind of|sort of)\s+)*"
)
_PREF_VERBS = (
    r"love|like|enjoy|adore|prefer|hate|dislike|can't stand|cannot stand|don't like|"
    r"do not like|am (?:a (?:big |huge )?)?fan of|'m (?:a (?:big |huge )?)?fan of|am into|'m into|"
    r"am passionate about|'m passionate about|am obsessed with|'m obsessed with|"
    r"am interested in|'m interested in"
)
_EVENT_VERBS = (
    "went|visited|started|joined|finished|got|bought|adopted|moved|took|made|painted|ran|"
    "attended|signed up|graduated|met|won|lost|read|wrote|built|learned|tried|traveled|"
    "travelled|celebrated|volunteered|received|created|completed|began|decided|found|gave|"
    "participated|launched|opened|passed|quit|performed|played|saw|spoke|taught|uploaded|"
    "organized|organised|hosted|cooked|baked|climbed|hiked|camped|watched|bought|sold|"
    "published|released|applied|enrolled|married|broke up|gave birth|retired|switched|"
    "picked up|took up|discovered|fixed|planted|drew|recorded|composed|designed|donated|"
    "raised|rescued|competed|completed|reached|became|wrote"
)
_PEOPLE = (
    "wife|husband|partner|boyfriend|girlfriend|fianc[eé]e?|son|daughter|kids?|children|mom|"
    "mother|dad|father|parents|sister|brother|siblings|friend|best friend|friends|grandma|"
    "grandmother|grandpa|grandfather|family|dog|cat|pet|puppy|kitten|boss|team|mentor|cousin"
)


@dataclass(frozen=True)
class Rule:
    """A first-person statement this pattern finds is a fact of this type and confidence;
    ``topic`` names what a later fact on the same topic replaces ("" for none)."""

    pattern: re.Pattern[str]
    type: str
    confidence: float
    topic: Callable[[re.Match[str]], str] = lambda match: ""


def _words_topic(prefix: str, group: str) -> Callable[[re.Match[str]], str]:
    def topic(match: re.Match[str]) -> str:
        words = content_words(match.group(group))[:3]
        return f"{prefix}{' '.join(words)}".strip() if words else ""

    return topic


def _fixed(topic: str) -> Callable[[re.Match[str]], str]:
    return lambda match: topic


_I = r"\bI"
_IM = r"\bI(?:'m|’m| am)"
RULES = (
    Rule(
        re.compile(
            r"\bmy (?:all[- ]time |absolute |new )?fav(?:ou?rite)? (?P<what>[\w' -]{2,30}?) "
            r"(?:is|are|was|has to be|would be)\b",
            re.I,
        ),
        "preference",
        0.9,
        _words_topic("favorite ", "what"),
    ),
    Rule(
        re.compile(rf"{_I}(?:'m|’m| am)? {_ADVERB}(?P<verb>{_PREF_VERBS})\b (?P<obj>.+)", re.I),
        "preference",
        0.8,
        _words_topic("likes: ", "obj"),
    ),
    Rule(re.compile(r"\bmy name is\b", re.I), "knowledge", 0.95, _fixed("name")),
    Rule(
        re.compile(rf"{_IM} (?:\d{{1,3}}) (?:years old|yo)\b", re.I),
        "knowledge",
        0.9,
        _fixed("age"),
    ),
    Rule(
        re.compile(
            rf"{_I} {_ADVERB}(?:live|am living|'m living|moved|relocated) (?:in|to)\b", re.I
        ),
        "knowledge",
        0.85,
        _fixed("home"),
    ),
    Rule(re.compile(rf"{_IM} (?:originally )?from\b", re.I), "knowledge", 0.85, _fixed("origin")),
    Rule(
        re.compile(rf"{_I} {_ADVERB}(?:work|am working|'m working) (?:as|at|for)\b", re.I),
        "knowledge",
        0.85,
        _fixed("work"),  # a new employer or role replaces the old one
    ),
    Rule(re.compile(r"\bmy (?:job|work)\b", re.I), "knowledge", 0.75),
    Rule(
        re.compile(rf"{_IM} {_ADVERB}(?:a|an) (?!bit\b|little\b|lot\b|fan\b)(?P<what>\w+)", re.I),
        "knowledge",
        0.75,
    ),
    Rule(
        re.compile(
            rf"\bmy (?:{_PEOPLE})\b(?: and (?:I|my \w+))? {_ADVERB}(?:is|are|was|were|has|have|"
            r"had|loves?|likes?|got|turned|started|just|works?|lives?|\w+ed)\b",
            re.I,
        ),
        "knowledge",
        0.7,
    ),
    Rule(
        re.compile(rf"{_I} (?:have|'ve got|have got) (?:a|an|two|three|four|\d+) ", re.I),
        "knowledge",
        0.7,
    ),
    Rule(
        re.compile(
            rf"(?:{_IM} {_ADVERB}(?:planning|going|gonna|hoping|thinking about|about|excited) to"
            rf"|{_I} {_ADVERB}(?:plan|want|hope|intend|would love|'d love|'ll|will) (?:to )?)"
            r"(?!be\b)",
            re.I,
        ),
        "context",
        0.6,
    ),
    Rule(re.compile(rf"{_I} {_ADVERB}(?:{_EVENT_VERBS})\b", re.I), "context", 0.7),
    Rule(re.compile(rf"{_I}(?:'ve| have) {_ADVERB}been \w+ing\b", re.I), "context", 0.6),
    Rule(re.compile(rf"{_I} {_ADVERB}used to\b", re.I), "context", 0.6),
    Rule(
        re.compile(r"\b(?:makes?|made|gets?|keeps?) me (?:so |really |very |feel )*\w+", re.I),
        "preference",
        0.6,
    ),
    Rule(
        re.compile(
            rf"{_IM} {_ADVERB}(?:working on|learning|taking|training|volunteering|studying|"
            r"reading|writing|painting|building|teaching|practicing|practising|saving)\b",
            re.I,
        ),
        "context",
        0.65,
    ),
    # Any other first-person statement with some substance: kept with a lower confidence.
    Rule(
        re.compile(
            rf"{_I}(?:'m|’m| am|'ve| have)? {_ADVERB}"
            r"(?!think\b|guess\b|know\b|mean\b|wish\b|can't wait\b|agree\b|bet\b|hear\b|"
            r"see what\b|understand\b|appreciate\b|totally\b|so glad\b|glad\b|sorry\b)[a-z]+",
            re.I,
        ),
        "context",
        0.55,
    ),
)

NO_SUBJECT = re.compile(rf"^(?:just |recently |finally )?(?:{_EVENT_VERBS}|used to)\b", re.I)
HEDGES = re.compile(r"\b(?:maybe|might|probably|perhaps|not sure|i think|i guess|kinda)\b", re.I)
FILLER = re.compile(
    r"^(?:(?:yeah|yes|yep|oh|wow|haha|hah|lol|well|so|and|but|also|hey|hi|thanks|thank you|"
    r"ok|okay|omg|aw+|ah|hmm|true|totally|absolutely|definitely|sure|great|cool|nice|awesome|"
    r"congrats|exactly|right)\b[^,.!]{0,25}[,.!]\s*)+",
    re.I,
)

# Pronoun and verb rewriting to the third person.
_BASE_VERBS_WORDS = (
    "love like enjoy adore prefer hate dislike want need work live plan hope think feel "
    "play go try do have make take get know believe find keep run teach study read write "
    "paint cook bake watch listen miss wish intend remember mean say see use own volunteer "
    "collect"
)
_BASE_VERBS = frozenset(_BASE_VERBS_WORDS.split())


def _third_person_verb(word: str) -> str:
    lower = word.lower()
    irregular = {"have": "has", "do": "does", "go": "goes", "am": "is", "don't": "doesn't"}
    if lower in irregular:
        return irregular[lower]
    if lower not in _BASE_VERBS:
        return word
    if lower.endswith(("s", "sh", "ch", "x", "o")):
        return word + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def third_person(text: str, name: str) -> str:
    """``text`` said by ``name`` in the first person, rewritten in the third person: the name
    for the first "I" or "my", then "they", "their", "them"."""
    state = {"named": False}

    def subject() -> str:
        if state["named"]:
            return "they"
        state["named"] = True
        return name

    def swap(match: re.Match[str]) -> str:
        word, rest = match.group(1), match.group(2) or ""
        lower = word.lower().replace("’", "'")
        if lower in ("i'm", "i am"):
            who = subject()
            return f"{who} {'are' if who == 'they' else 'is'}{rest}"
        if lower in ("i've", "i'd", "i'll"):
            who = subject()
            have = "has" if who != "they" else "have"
            helper = {"i've": have, "i'd": "would", "i'll": "will"}[lower]
            return f"{who} {helper}{rest}"
        if lower == "i" and WITH_OTHERS.search(text[: match.start()]):
            return f"{name}{rest}"  # "my sister and I" -> "Ana's sister and Ana"
        if lower == "i":
            who = subject()
            if who != "they" and rest:
                adverbs = re.match(rf"(\s+{_ADVERB})(\S+)(.*)", rest, re.I | re.S)
                if adverbs:
                    head, verb, tail = adverbs.groups()
                    return f"{who}{head}{_third_person_verb(verb)}{tail}"
            return f"{who}{rest}"
        if lower == "my":
            owner = f"{name}'s" if not state["named"] else "their"
            state["named"] = True
            return owner + rest
        if lower in ("me", "myself"):
            return ("them" if lower == "me" else "themselves") + rest
        if lower == "mine":
            return "theirs" + rest
        return match.group(0)

    pronoun = rf"\b(I(?:'m|’m| am|'ve|'d|'ll)|I|[Mm]y|me|myself|mine)\b(\s+{_ADVERB}\S+)?"
    rewritten = re.sub(pronoun, swap, text)
    if not state["named"]:  # the statement named nobody: say who said it
        rewritten = f"{name}: {rewritten}"
    return rewritten[:1].upper() + rewritten[1:]


def _day(value: dt.date) -> str:
    return f"{value.day} {value:%B %Y}"


def absolute_dates(text: str, said_on: dt.date | None) -> str:
    """Relative dates ("yesterday", "last week") made absolute from the day it was said."""
    if said_on is None:
        return text
    first_of_month = said_on.replace(day=1)
    last_month = first_of_month - dt.timedelta(days=1)
    swaps = [
        (r"\byesterday\b", f"on {_day(said_on - dt.timedelta(days=1))}"),
        (r"\b(?:today|this morning|this afternoon|tonight|this evening)\b", f"on {_day(said_on)}"),
        (r"\btomorrow\b", f"on {_day(said_on + dt.timedelta(days=1))}"),
        (r"\blast (week|weekend)\b", rf"the \1 before {_day(said_on)}"),
        (r"\bnext (week|weekend)\b", rf"the \1 after {_day(said_on)}"),
        (r"\blast month\b", f"in {last_month:%B %Y}"),
        (r"\blast year\b", f"in {said_on.year - 1}"),
        (r"\bthis year\b", f"in {said_on.year}"),
        (r"\bnext year\b", f"in {said_on.year + 1}"),
        (r"\b(a few|couple of|two|three) (days|weeks) ago\b", rf"\1 \2 before {_day(said_on)}"),
    ]
    for pattern, replacement in swaps:
        text = re.sub(pattern, replacement, text, flags=re.I)

    def weekday(match: re.Match[str]) -> str:
        wanted = _WEEKDAYS.index(match.group(1).lower()[:3])
        back = (said_on.weekday() - wanted) % 7 or 7
        return f"on {_day(said_on - dt.timedelta(days=back))}"

    return re.sub(r"\blast (mon|tue|wed|thu|fri|sat|sun)[a-z]*\b\.?", weekday, text, flags=re.I)


_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


ABOUT_YOU = re.compile(r"\b(?:you|your|yours|you're|you've)\b", re.I)
_ASIDE = re.compile(r"\s*(?<!\[)\[(?!\[)[^\[\]]*\](?!\])")  # [an aside], never a [[link]]
NEGATED = re.compile(r"\b(?:not|never|no|\w+n't|cannot)\b[^,;.]*$", re.I)
WITH_OTHERS = re.compile(r"(?:\b[Mm]y \w+|\b[A-Z]\w+)(?: \w+)? and $")


def clause_at(sentence: str, start: int) -> str:
    """The statement from ``start`` to the sentence end, at most ~40 words, without
    bracketed asides and without "::" (which would read as an inline field)."""
    clause = _ASIDE.sub("", sentence[start:]).replace("::", ":").strip()
    words = clause.split()
    if len(words) > 40:
        clause = " ".join(words[:40]).rstrip(",;:") + "…"
    return clause.rstrip(" ,;:-")
