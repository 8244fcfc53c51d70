"""Summarizers: turn one session into summary sentences and candidate facts.

Two engines behind one interface (`Summarizer.digest`):

* ``extractive`` (default; offline, deterministic): the summary is the most central sentences
  of the substantive turns (mean cosine to the session's other sentences, over the embedding
  model; word overlap when there is no model), picked without repeats and kept in their
  order; facts are the statements patterns recognise (preferences, identity, work, home,
  people the speaker names, plans, decisions, events), one per clause, rewritten in the third
  person with the speaker's name and relative dates made absolute.
* ``ollama``: a local model fills a JSON schema (the request's ``format``); the answer is
  validated (every source must be a message of the session), retried once, and on any failure
  the extractive engine answers instead, with the reason in ``Digest.notes``.

The patterns and rewrites the extractive engine applies live in `amos_vault.memory.rules`,
the reading of one sentence in `amos_vault.memory.statements`, dates in
`amos_vault.memory.dates` and the sentence splitter in `amos_vault.memory.sentences`.

Bounded work for any input: a session can hold anything (one pasted 5 MB log is 63k lines),
so the extractive engine reads a bounded, evenly spread sample of a huge message
(`MESSAGE_SENTENCE_CAP` sentences, each cut at `SENTENCE_CHAR_CAP` characters), compares at
most `SUMMARY_CANDIDATE_CAP` summary candidates per session, and works out their similarity
`SIMILARITY_BLOCK` rows at a time: time and memory grow linearly with the session's size.
Sessions under the caps (nearly all) are read whole, exactly as before.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from amos_vault.core.errors import AmosError
from amos_vault.files.memorynote import FACT_TYPES, SummaryLine
from amos_vault.files.sessionfile import Message
from amos_vault.index.chunks import author_of
from amos_vault.index.embeddings import Embedder
from amos_vault.llm.providers import LLMProvider
from amos_vault.memory.rules import HEDGES, content_words
from amos_vault.memory.sentences import sentences
from amos_vault.memory.statements import clauses, statement


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


class StopRequested(Exception):
    """Raised inside a digest when the caller asked to stop (the daemon is shutting down)."""


StopCheck = Callable[[], bool]


def _never() -> bool:
    return False


class Summarizer(Protocol):
    name: str

    def digest(self, session: SessionText) -> Digest: ...


# -- bounded work ----------------------------------------------------------------------------

MESSAGE_SENTENCE_CAP = 500  # sentences read from one message; a longer one is sampled evenly
SENTENCE_CHAR_CAP = 1000  # a longer "sentence" (e.g. a line of a log) is cut here
SUMMARY_CANDIDATE_CAP = 1000  # summary candidates compared per session; more are sampled
SIMILARITY_BLOCK = 256  # similarity rows held at once; also the texts embedded per call

_Item = TypeVar("_Item")


def evenly_sampled(items: Sequence[_Item], cap: int) -> list[_Item]:
    """At most ``cap`` of ``items``, spread evenly over all of them, in their order (the same
    items every time)."""
    if len(items) <= cap:
        return list(items)
    return [items[n * len(items) // cap] for n in range(cap)]


def message_sentences(text: str, work: SummaryWork | None = None) -> list[str]:
    """The sentences of a message the extractive engine reads: all of them up to
    `MESSAGE_SENTENCE_CAP` (else an even sample), each cut at `SENTENCE_CHAR_CAP` characters."""
    every = sentences(text)
    read = evenly_sampled(every, MESSAGE_SENTENCE_CAP)
    if work is not None:
        work.sentences += len(every)
        work.sampled = work.sampled or len(read) < len(every)
    return [
        found if len(found) <= SENTENCE_CHAR_CAP else found[:SENTENCE_CHAR_CAP].rstrip() + "…"
        for found in read
    ]


@dataclass
class SummaryWork:
    """How much work one summary took: what the caps bound (read by tests and notes)."""

    sentences: int = 0  # sentences in the session's messages
    candidates: int = 0  # summary candidates compared (at most SUMMARY_CANDIDATE_CAP)
    embedded: int = 0  # texts sent to the embedder
    largest_block: int = 0  # most similarity values held at once
    sampled: bool = False  # whether a cap left some sentences out


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


def extract_facts(session: SessionText) -> list[CandidateFact]:
    """The statements of the session's fact-bearing roles (about themselves, or about
    someone they name), as candidate facts: one per statement, in the order said."""
    found: list[CandidateFact] = []
    seen: set[str] = set()
    for message in session.messages:
        if message.role not in session.fact_roles:
            continue
        author = author_of(message)
        if author == message.role == "user":
            author = session.owner_name or "The user"
        said_on = message.timestamp.date() if message.timestamp else None
        for sentence in message_sentences(message.content):
            if sentence.endswith("?") or len(sentence.split()) < 2:  # "I'm vegan." is one
                continue
            hedged = HEDGES.search(sentence)
            for clause in clauses(sentence):
                made = statement(clause, author, said_on)
                if made is None or f"{made.rule.type}|{made.text.lower()}" in seen:
                    continue
                seen.add(f"{made.rule.type}|{made.text.lower()}")
                confidence = made.rule.confidence - (0.2 if hedged else 0.0)
                topic = made.rule.topic(made.match)
                found.append(
                    CandidateFact(
                        text=made.text,
                        type=made.rule.type,
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


class _Similarity:
    """Cosine similarity among candidate sentences (over the embedding model; word overlap
    without one), worked out `SIMILARITY_BLOCK` rows at a time: never the whole matrix,
    unless it is a single block."""

    def __init__(
        self,
        texts: Sequence[str],
        embedder: Embedder | None,
        should_stop: StopCheck,
        work: SummaryWork,
    ) -> None:
        self.count = len(texts)
        self.should_stop = should_stop
        self.work = work
        self.vectors: Any = None
        self.lexical: list[dict[str, float]] = []
        self._whole: list[list[float]] | None = None
        if embedder is None:
            self.lexical = _lexical_vectors(texts)
            return
        if self.count <= SIMILARITY_BLOCK:
            self.vectors = embedder.embed(list(texts))
        else:  # in slices, so a stop request is honoured between them
            import numpy as np

            parts = []
            for start in range(0, self.count, SIMILARITY_BLOCK):
                self._check()
                parts.append(embedder.embed(list(texts[start : start + SIMILARITY_BLOCK])))
            self.vectors = np.concatenate(parts)
        work.embedded += self.count

    def _check(self) -> None:
        if self.should_stop():
            raise StopRequested

    def rows(self, start: int, end: int) -> list[list[float]]:
        """Rows ``start`` to ``end`` of the similarity matrix."""
        self.work.largest_block = max(self.work.largest_block, (end - start) * self.count)
        if self.vectors is not None:
            rows: list[list[float]] = (self.vectors[start:end] @ self.vectors.T).tolist()
            return rows
        return [
            [sum(v * b.get(w, 0.0) for w, v in a.items()) for b in self.lexical]
            for a in self.lexical[start:end]
        ]

    def row(self, index: int) -> list[float]:
        """One row of the similarity matrix."""
        if self._whole is not None:
            return self._whole[index]
        return self.rows(index, index + 1)[0]

    def centrality(self) -> list[float]:
        """Each candidate's mean similarity to the others."""
        count = self.count
        found: list[float] = []
        for start in range(0, count, SIMILARITY_BLOCK):
            self._check()
            block = self.rows(start, min(count, start + SIMILARITY_BLOCK))
            if count <= SIMILARITY_BLOCK:
                self._whole = block
            for offset, row in enumerate(block):
                found.append((sum(row) - row[start + offset]) / max(1, count - 1))
        return found


# Words of chat that carry no content of their own ("Yep, that movie is awesome!"): a summary
# sentence needs three content words besides these (and besides numbers and dates).
_CHATTER_WORDS = (
    "yep yup yeah awesome cool great nice wow definitely totally sure amazing glad sound "
    "super pretty lol haha check out good thing stuff lot one really always"
)
_CHATTER = frozenset(content_words(_CHATTER_WORDS))


def substantive(message: Message) -> bool:
    """Whether a summary may quote ``message``: a turn of the user or the assistant, not an
    answer that only quotes the vault back (the no-model engine's evidence list)."""
    return message.role in ("user", "assistant") and not message.quotes_vault


def summarize(
    session: SessionText,
    embedder: Embedder | None,
    size: int,
    *,
    should_stop: StopCheck = _never,
    work: SummaryWork | None = None,
) -> list[SummaryLine]:
    """The ``size`` most central sentences of the session's substantive turns (see
    `substantive`), without near-repeats, in order.

    At most `SUMMARY_CANDIDATE_CAP` candidates are compared (an even sample of more);
    ``work`` (when given) records how much was done. Raises `StopRequested` when
    ``should_stop`` says so between blocks of work."""
    work = work if work is not None else SummaryWork()
    found: list[tuple[str, Message]] = []
    for message in session.messages:
        if not substantive(message):
            continue
        for sentence in message_sentences(message.content, work):
            words = [w for w in content_words(sentence) if w not in _CHATTER and not w.isdigit()]
            if len(words) >= 3 and not sentence.endswith("?"):
                found.append((sentence, message))
    candidates = evenly_sampled(found, SUMMARY_CANDIDATE_CAP)
    work.candidates = len(candidates)
    work.sampled = work.sampled or len(candidates) < len(found)
    if not candidates:
        return []
    similarity = _Similarity([c[0] for c in candidates], embedder, should_stop, work)
    centrality = similarity.centrality()
    chosen: list[int] = []
    for index in sorted(range(len(candidates)), key=lambda i: (-centrality[i], i)):
        if len(chosen) >= size:
            break
        row = similarity.row(index) if chosen else []
        if all(row[j] < 0.8 for j in chosen):
            chosen.append(index)
    return [
        SummaryLine(candidates[i][0], candidates[i][1].id, author_of(candidates[i][1]))
        for i in sorted(chosen)
    ]


class ExtractiveSummarizer:
    """Offline and deterministic: central sentences, pattern-found facts."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder | None = None,
        summary_sentences: int = 5,
        should_stop: StopCheck = _never,
    ) -> None:
        self.embedder = embedder
        self.summary_sentences = summary_sentences
        self.should_stop = should_stop

    def digest(self, session: SessionText) -> Digest:
        """Summary and facts of ``session``; `StopRequested` when asked to stop meanwhile."""
        work = SummaryWork()
        summary = summarize(
            session, self.embedder, self.summary_sentences, should_stop=self.should_stop, work=work
        )
        digest = Digest(summary=summary, facts=extract_facts(session), engine=self.name)
        if work.sampled:
            digest.notes.append(
                f"a long session: {work.candidates} of its {work.sentences} sentences compared "
                "for the summary (an even sample; huge messages are sampled for facts too)"
            )
        return digest


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
