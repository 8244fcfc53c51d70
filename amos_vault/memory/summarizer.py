"""Summarizers: turn one session into summary sentences and candidate facts.

Two engines behind one interface (`Summarizer.digest`):

* ``extractive`` (default; offline, deterministic): the summary is the most central sentences
  (mean cosine to the session's other sentences, over the embedding model; word overlap when
  there is no model), picked without repeats and kept in their order; facts are first-person
  statements recognised by patterns (preferences, identity, work, home, people, plans, events),
  rewritten in the third person with the speaker's name and relative dates made absolute.
* ``ollama``: a local model fills a JSON schema (the request's ``format``); the answer is
  validated (every source must be a message of the session), retried once, and on any failure
  the extractive engine answers instead, with the reason in ``Digest.notes``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from amos_vault.core.errors import AmosError
from amos_vault.files.memorynote import FACT_TYPES, SummaryLine
from amos_vault.files.sessionfile import Message
from amos_vault.index.chunks import author_of
from amos_vault.index.embeddings import Embedder
from amos_vault.llm.providers import LLMProvider


@dataclass(frozen=True)
class CandidateFact:
    """A fact a summarizer found, before it is compared with the memory notes."""

    text: str
    type: str
    confidence: float
    message_id: str
    said_on: dt.date | None = None
    topic: str = ""
    author: str = ""


@dataclass
class Digest:
    """What a summarizer made of one session."""

    summary: list[SummaryLine]
    facts: list[CandidateFact]
    engine: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SessionText:
    """The part of a session a summarizer reads."""

    title: str
    messages: Sequence[Message]
    fact_roles: frozenset[str] = frozenset({"user"})
    owner_name: str = ""  # how to name the "user" role in facts ("" -> "The user")


class Summarizer(Protocol):
    name: str

    def digest(self, session: SessionText) -> Digest: ...


# -- sentences -------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9']+")
_STOP_WORDS = (
    "a an the and or but if so to of in on at for with from by as is are was were be been "
    "am i me my we our you your he she it they them their this that these those there here "
    "do does did have has had not no yes just really very too also then than what when "
    "where who how oh hey hi yeah wow haha lol thanks thank ok okay so much can could would "
    "should will"
)
_STOP = frozenset(_STOP_WORDS.split())


def sentences(text: str) -> list[str]:
    """The sentences of a message (lines, then sentence ends)."""
    found = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*> ").strip()
        if line:
            found += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return found


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


_NEGATION = re.compile(
    r"\b(?:not|no|never|nobody|nothing|neither|nor|none|\w+n't|cannot|anymore|any more)\b", re.I
)


def same_statement(a: str, b: str) -> bool:
    """Whether two facts say the same thing: the same meaningful words (so "loves hiking" and
    "really loves hiking" match) and the same negation ("likes coffee" is not "does not like
    coffee", nor "lives in Oslo" "lives in Bergen")."""
    if fingerprint_words(a) == fingerprint_words(b):
        return True
    return set(content_words(a)) == set(content_words(b)) and bool(_NEGATION.search(a)) == bool(
        _NEGATION.search(b)
    )


def fingerprint_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


# -- the extractive engine -------------------------------------------------------------------

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
class _Rule:
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
    _Rule(
        re.compile(
            r"\bmy (?:all[- ]time |absolute |new )?fav(?:ou?rite)? (?P<what>[\w' -]{2,30}?) "
            r"(?:is|are|was|has to be|would be)\b",
            re.I,
        ),
        "preference",
        0.9,
        _words_topic("favorite ", "what"),
    ),
    _Rule(
        re.compile(rf"{_I}(?:'m|’m| am)? {_ADVERB}(?P<verb>{_PREF_VERBS})\b (?P<obj>.+)", re.I),
        "preference",
        0.8,
        _words_topic("likes: ", "obj"),
    ),
    _Rule(re.compile(r"\bmy name is\b", re.I), "knowledge", 0.95, _fixed("name")),
    _Rule(
        re.compile(rf"{_IM} (?:\d{{1,3}}) (?:years old|yo)\b", re.I),
        "knowledge",
        0.9,
        _fixed("age"),
    ),
    _Rule(
        re.compile(
            rf"{_I} {_ADVERB}(?:live|am living|'m living|moved|relocated) (?:in|to)\b", re.I
        ),
        "knowledge",
        0.85,
        _fixed("home"),
    ),
    _Rule(re.compile(rf"{_IM} (?:originally )?from\b", re.I), "knowledge", 0.85, _fixed("origin")),
    _Rule(
        re.compile(rf"{_I} {_ADVERB}(?:work|am working|'m working) (?:as|at|for)\b", re.I),
        "knowledge",
        0.85,
        _fixed("work"),  # a new employer or role replaces the old one
    ),
    _Rule(re.compile(r"\bmy (?:job|work)\b", re.I), "knowledge", 0.75),
    _Rule(
        re.compile(rf"{_IM} {_ADVERB}(?:a|an) (?!bit\b|little\b|lot\b|fan\b)(?P<what>\w+)", re.I),
        "knowledge",
        0.75,
    ),
    _Rule(
        re.compile(
            rf"\bmy (?:{_PEOPLE})\b(?: and (?:I|my \w+))? {_ADVERB}(?:is|are|was|were|has|have|"
            r"had|loves?|likes?|got|turned|started|just|works?|lives?|\w+ed)\b",
            re.I,
        ),
        "knowledge",
        0.7,
    ),
    _Rule(
        re.compile(rf"{_I} (?:have|'ve got|have got) (?:a|an|two|three|four|\d+) ", re.I),
        "knowledge",
        0.7,
    ),
    _Rule(
        re.compile(
            rf"(?:{_IM} {_ADVERB}(?:planning|going|gonna|hoping|thinking about|about|excited) to"
            rf"|{_I} {_ADVERB}(?:plan|want|hope|intend|would love|'d love|'ll|will) (?:to )?)"
            r"(?!be\b)",
            re.I,
        ),
        "context",
        0.6,
    ),
    _Rule(re.compile(rf"{_I} {_ADVERB}(?:{_EVENT_VERBS})\b", re.I), "context", 0.7),
    _Rule(re.compile(rf"{_I}(?:'ve| have) {_ADVERB}been \w+ing\b", re.I), "context", 0.6),
    _Rule(re.compile(rf"{_I} {_ADVERB}used to\b", re.I), "context", 0.6),
    _Rule(
        re.compile(r"\b(?:makes?|made|gets?|keeps?) me (?:so |really |very |feel )*\w+", re.I),
        "preference",
        0.6,
    ),
    _Rule(
        re.compile(
            rf"{_IM} {_ADVERB}(?:working on|learning|taking|training|volunteering|studying|"
            r"reading|writing|painting|building|teaching|practicing|practising|saving)\b",
            re.I,
        ),
        "context",
        0.65,
    ),
    # Any other first-person statement with some substance: kept with a lower confidence.
    _Rule(
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

_NO_SUBJECT = re.compile(rf"^(?:just |recently |finally )?(?:{_EVENT_VERBS}|used to)\b", re.I)
_HEDGES = re.compile(r"\b(?:maybe|might|probably|perhaps|not sure|i think|i guess|kinda)\b", re.I)
_FILLER = re.compile(
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
        if lower == "i" and _WITH_OTHERS.search(text[: match.start()]):
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


_ABOUT_YOU = re.compile(r"\b(?:you|your|yours|you're|you've)\b", re.I)
_ASIDE = re.compile(r"\s*(?<!\[)\[(?!\[)[^\[\]]*\](?!\])")  # [an aside], never a [[link]]
_NEGATED = re.compile(r"\b(?:not|never|no|\w+n't|cannot)\b[^,;.]*$", re.I)
_WITH_OTHERS = re.compile(r"(?:\b[Mm]y \w+|\b[A-Z]\w+)(?: \w+)? and $")


def _clause(sentence: str, start: int) -> str:
    """The statement from ``start`` to the sentence end, at most ~40 words, without
    bracketed asides and without "::" (which would read as an inline field)."""
    clause = _ASIDE.sub("", sentence[start:]).replace("::", ":").strip()
    words = clause.split()
    if len(words) > 40:
        clause = " ".join(words[:40]).rstrip(",;:") + "…"
    return clause.rstrip(" ,;:-")


def extract_facts(session: SessionText) -> list[CandidateFact]:
    """First-person statements of the session's fact-bearing roles, as candidate facts."""
    found: list[CandidateFact] = []
    seen: set[str] = set()
    for message in session.messages:
        if message.role not in session.fact_roles:
            continue
        author = author_of(message)
        if author == message.role == "user":
            author = session.owner_name or "The user"
        said_on = message.timestamp.date() if message.timestamp else None
        for sentence in sentences(message.content):
            if sentence.endswith("?") or len(sentence.split()) < 3:
                continue
            sentence = _FILLER.sub("", sentence).strip()
            sentence = re.sub(r"\bI(?:'|’)d\b", "I would", sentence)
            sentence = re.sub(r"\bI(?:'|’)ll\b", "I will", sentence)
            if _NO_SUBJECT.match(sentence):  # "Got the tattoo years ago" means "I got..."
                sentence = "I " + sentence[0].lower() + sentence[1:]
            # The earliest statement a specific rule finds; the catch-all rule only if none.
            matches = [
                (m.start(), n, m) for n, r in enumerate(RULES) if (m := r.pattern.search(sentence))
            ]
            specific = [item for item in matches if item[1] < len(RULES) - 1]
            if not matches:
                continue
            _start, number, match = min(specific or matches, key=lambda item: (item[0], item[1]))
            rule = RULES[number]
            start = match.start()
            if _NEGATED.search(sentence[:start]):
                continue  # "I don't think I will ever…": the statement is denied, not made
            together = _WITH_OTHERS.search(sentence[:start])
            if together:  # "My sister and I went…": keep who else was there
                start = together.start()
            clause = _clause(sentence, start)
            if len(content_words(clause)) < 3 or _ABOUT_YOU.search(clause):
                continue  # too thin, or about the person spoken to
            text = absolute_dates(third_person(clause, author), said_on)
            text = text.rstrip(".!…") + "."
            key = f"{rule.type}|{text.lower()}"
            if key in seen:
                continue
            seen.add(key)
            confidence = rule.confidence - (0.2 if _HEDGES.search(sentence) else 0.0)
            topic = rule.topic(match)
            found.append(
                CandidateFact(
                    text=text,
                    type=rule.type,
                    confidence=round(max(0.05, confidence), 2),
                    message_id=message.id,
                    said_on=said_on,
                    topic=f"{author}: {topic}" if topic else "",
                    author=author,
                )
            )
    return found


def _lexical_vectors(texts: Sequence[str]) -> list[dict[str, float]]:
    import math

    bags = [content_words(t) for t in texts]
    df: dict[str, int] = {}
    for bag in bags:
        for word in set(bag):
            df[word] = df.get(word, 0) + 1
    vectors = []
    for bag in bags:
        weights = {w: bag.count(w) * math.log(1 + len(bags) / df[w]) for w in set(bag)}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        vectors.append({w: v / norm for w, v in weights.items()})
    return vectors


def _similarities(texts: Sequence[str], embedder: Embedder | None) -> list[list[float]]:
    if embedder is not None:
        vectors = embedder.embed(list(texts))
        return [[float(x) for x in row] for row in vectors @ vectors.T]
    lexical = _lexical_vectors(texts)
    return [[sum(v * b.get(w, 0.0) for w, v in a.items()) for b in lexical] for a in lexical]


def summarize(session: SessionText, embedder: Embedder | None, size: int) -> list[SummaryLine]:
    """The ``size`` most central sentences of the session, without near-repeats, in order."""
    candidates: list[tuple[str, Message]] = []
    for message in session.messages:
        for sentence in sentences(message.content):
            if len(content_words(sentence)) >= 3 and not sentence.endswith("?"):
                candidates.append((sentence, message))
    if not candidates:
        return []
    similarity = _similarities([c[0] for c in candidates], embedder)
    count = len(candidates)
    centrality = [(sum(row) - row[i]) / max(1, count - 1) for i, row in enumerate(similarity)]
    chosen: list[int] = []
    for index in sorted(range(count), key=lambda i: (-centrality[i], i)):
        if len(chosen) >= size:
            break
        if all(similarity[index][j] < 0.8 for j in chosen):
            chosen.append(index)
    return [
        SummaryLine(candidates[i][0], candidates[i][1].id, author_of(candidates[i][1]))
        for i in sorted(chosen)
    ]


class ExtractiveSummarizer:
    """Offline and deterministic: central sentences, pattern-found facts."""

    name = "extractive"

    def __init__(self, embedder: Embedder | None = None, summary_sentences: int = 5) -> None:
        self.embedder = embedder
        self.summary_sentences = summary_sentences

    def digest(self, session: SessionText) -> Digest:
        return Digest(
            summary=summarize(session, self.embedder, self.summary_sentences),
            facts=extract_facts(session),
            engine=self.name,
        )


# -- the ollama engine -----------------------------------------------------------------------

DIGEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"text": {"type": "string"}, "source": {"type": "string"}},
                "required": ["text", "source"],
            },
        },
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "type": {"type": "string", "enum": list(FACT_TYPES)},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "source": {"type": "string"},
                    "topic": {"type": "string"},
                },
                "required": ["text", "type", "confidence", "source"],
            },
        },
    },
    "required": ["summary", "facts"],
}

_INSTRUCTIONS = (
    "You consolidate a conversation into long-term memory. Read the messages (each starts with "
    "its id in brackets) and answer with JSON only, following the schema: `summary`: at most "
    "{size} short sentences covering the conversation, each with the id of the message it comes "
    "from as `source`; `facts`: durable facts about the people speaking (type `preference` for "
    "likes and dislikes, `knowledge` for identity, work, people and places, `context` for events "
    "with their dates and plans), each one self-contained sentence naming the person, with "
    "absolute dates, a `confidence` from 0 to 1, the id of the message that states it as "
    "`source`, and a short `topic` (e.g. 'Caroline: home') when a later fact could replace it. "
    "Only use ids that appear in the messages."
)


class OllamaSummarizer:
    """A local model fills `DIGEST_SCHEMA`; invalid or unreachable means the extractive answer."""

    name = "ollama"

    def __init__(
        self,
        provider_factory: Callable[[], LLMProvider],
        fallback: ExtractiveSummarizer,
        summary_sentences: int = 5,
    ) -> None:
        self.provider_factory = provider_factory
        self.fallback = fallback
        self.summary_sentences = summary_sentences

    def digest(self, session: SessionText) -> Digest:
        messages = list(session.messages)
        listing = "\n".join(
            f"[{m.id}] {author_of(m)}"
            + (f" ({m.timestamp:%Y-%m-%d})" if m.timestamp else "")
            + f": {m.content.strip()}"
            for m in messages
        )
        chat = [
            {"role": "system", "content": _INSTRUCTIONS.format(size=self.summary_sentences)},
            {"role": "user", "content": f"Conversation: {session.title}\n\n{listing}"},
        ]
        problem = ""
        try:
            provider = self.provider_factory()
            for _attempt in range(2):
                reply = "".join(provider.chat(chat, format=DIGEST_SCHEMA))
                try:
                    return _validated(reply, messages, self.summary_sentences)
                except ValueError as exc:
                    problem = f"the model's answer was not valid ({exc})"
                    chat += [
                        {"role": "assistant", "content": reply},
                        {
                            "role": "user",
                            "content": f"That answer was invalid: {exc}. Answer again with "
                            "JSON that follows the schema, using only the given message ids.",
                        },
                    ]
        except AmosError as exc:
            problem = f"the model could not be used ({exc.message})"
        digest = self.fallback.digest(session)
        digest.notes.append(f"{problem}; used the extractive engine instead")
        return digest


def _validated(reply: str, messages: Sequence[Message], size: int) -> Digest:
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(data, Mapping):
        raise ValueError("not a JSON object")
    by_id = {m.id: m for m in messages}
    summary, facts = data.get("summary"), data.get("facts")
    if not isinstance(summary, list) or not isinstance(facts, list):
        raise ValueError("`summary` and `facts` must be lists")

    def source_of(item: Any, what: str) -> Message:
        if not isinstance(item, Mapping) or not isinstance(item.get("text"), str):
            raise ValueError(f"each {what} needs a `text`")
        source = str(item.get("source", "")).strip().strip("[]^")
        if source not in by_id:
            raise ValueError(f"{what} source {source!r} is not a message id of the session")
        return by_id[source]

    lines = []
    for item in summary:
        message = source_of(item, "summary sentence")
        lines.append(SummaryLine(item["text"].strip(), message.id, author_of(message)))
    found = []
    for item in facts:
        message = source_of(item, "fact")
        fact_type = item.get("type")
        confidence = item.get("confidence")
        if fact_type not in FACT_TYPES:
            raise ValueError(f"fact type {fact_type!r} is not one of {', '.join(FACT_TYPES)}")
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise ValueError(f"confidence {confidence!r} is not a number from 0 to 1")
        text = " ".join(item["text"].split())
        if not text:
            raise ValueError("a fact has empty text")
        found.append(
            CandidateFact(
                text=text,
                type=fact_type,
                confidence=round(float(confidence), 2),
                message_id=message.id,
                said_on=message.timestamp.date() if message.timestamp else None,
                topic=str(item.get("topic") or "").strip(),
                author=author_of(message),
            )
        )
    return Digest(summary=lines[:size], facts=found, engine="ollama")
