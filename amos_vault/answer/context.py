"""The context builder: what the model is given for one new message, within a token budget.

Five parts, each piece with its provenance (file, message id, score):

* immediate: the last messages of the current session, always included;
* working memory: older messages of the session, chosen by relevance to the new message;
* long-term memory: hybrid retrieval over other sessions, with a boost for the session's
  lineage (parent, grandparent...) and recency as the tie-breaker; a passage with none of the
  question's words and a score below zero is left out;
* semantic memory: facts from the memory notes (pinned ones always), and the owner's identity;
* session metadata: title, tags, dates, status.

Pieces are de-duplicated, the least relevant are dropped first to fit the budget, and the rest
are ordered for the model. Tokens are estimated (about four characters a token), which is
close for English and errs on the safe side for code. The same vault and query always give
the same context.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amos_vault.core.config import ContextSettings
from amos_vault.files.links import wikilink
from amos_vault.files.sessionfile import Message
from amos_vault.index.query import MemoryQuery

if TYPE_CHECKING:
    from amos_vault.files.identity import Identity
    from amos_vault.index.retrieval import Hit, SearchResult
    from amos_vault.sessions.session import Session

Search = Callable[[MemoryQuery], "SearchResult"]
REQUIRED = ("identity", "metadata", "immediate")
# The order the model reads: who, where, what is known, what was said before, what is said now.
ORDER = ("identity", "metadata", "facts", "long_term", "working", "immediate")


def estimate_tokens(text: str) -> int:
    """About four characters a token, plus a little for the piece's framing."""
    return len(text) // 4 + 4


@dataclass(frozen=True)
class ContextPiece:
    """One piece of context and where it came from."""

    section: str
    text: str
    score: float = 0.0
    path: str | None = None
    message_id: str | None = None
    session_id: str | None = None
    title: str | None = None
    timestamp: dt.datetime | None = None
    role: str | None = None
    author: str | None = None
    cite: int | None = None  # the [n] the model cites it by

    @property
    def tokens(self) -> int:
        """Estimated tokens."""
        return estimate_tokens(self.text)

    @property
    def link(self) -> str | None:
        """An Obsidian link to the source, when it has a file."""
        if not self.path:
            return None
        return wikilink(self.path, self.message_id or "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "section": self.section,
            "cite": self.cite,
            "text": self.text,
            "score": round(self.score, 4),
            "tokens": self.tokens,
            "path": self.path,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "title": self.title,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "role": self.role,
            "author": self.author,
            "link": self.link,
        }


@dataclass
class Context:
    """The assembled context, ordered for the model, and what was left out for the budget."""

    question: str
    pieces: list[ContextPiece]
    budget: int
    dropped: list[ContextPiece] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Estimated tokens used."""
        return sum(p.tokens for p in self.pieces) + estimate_tokens(self.question)

    def section(self, name: str) -> list[ContextPiece]:
        """The pieces of one section, in model order."""
        return [p for p in self.pieces if p.section == name]

    def sources(self) -> list[ContextPiece]:
        """The citable pieces, by their number."""
        return sorted((p for p in self.pieces if p.cite), key=lambda p: p.cite or 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "question": self.question,
            "budget": self.budget,
            "tokens": self.tokens,
            "pieces": [p.to_dict() for p in self.pieces],
            "dropped": [p.to_dict() for p in self.dropped],
        }


def _from_hit(hit: Hit, section: str, score: float) -> ContextPiece:
    return ContextPiece(
        section=section,
        text=hit.text,
        score=score,
        path=hit.path,
        message_id=hit.message_id or None,
        session_id=hit.session_id or None,
        title=hit.title,
        timestamp=hit.timestamp,
        role=hit.role or None,
        author=hit.author or None,
    )


def _from_message(session: Session, message: Message, section: str, score: float) -> ContextPiece:
    return ContextPiece(
        section=section,
        text=message.content,
        score=score,
        path=session.relative_path,
        message_id=message.id,
        session_id=session.id,
        title=session.title,
        timestamp=message.timestamp,
        role=message.role,
        author=str(message.metadata.get("name") or message.role),
    )


def build_context(
    question: str,
    search: Search,
    settings: ContextSettings,
    *,
    session: Session | None = None,
    lineage: Sequence[str] = (),
    identity: Identity | None = None,
    pinned_facts: Sequence[ContextPiece] = (),
    sessions_folder: str = "sessions/",
) -> Context:
    """Assemble the context for ``question`` (the new message), optionally within ``session``.

    ``search`` runs a `MemoryQuery` (the vault's hybrid retrieval); ``lineage`` holds the ids
    of the session's ancestors, whose passages get ``settings.lineage_boost``. Long-term
    memory takes messages, and plain-text notes only from ``sessions_folder`` (unreadable
    session files); memory notes come in as facts.
    """
    required: list[ContextPiece] = []
    optional: list[ContextPiece] = []
    if identity is not None:
        required.append(
            ContextPiece("identity", f"The user is {identity.name} ({identity.identity_id}).")
        )
    messages = list(session.messages) if session is not None else []
    immediate = messages[-settings.immediate_messages :] if settings.immediate_messages else []
    if session is not None:
        dates = f"started {session.created:%Y-%m-%d}" if session.created else ""
        tags = f"; tags: {', '.join(session.tags)}" if session.tags else ""
        required.append(
            ContextPiece(
                "metadata",
                f"Current session: {session.title} ({session.status}, {dates}{tags}).",
                path=session.relative_path,
                session_id=session.id,
                title=session.title,
            )
        )
        required += [_from_message(session, m, "immediate", 0.0) for m in immediate]
        older = messages[: len(messages) - len(immediate)][-settings.working_messages :]
        if older and settings.working_k:
            wanted = {m.id: m for m in older}
            hits = search(
                MemoryQuery(
                    question,
                    k=settings.working_messages,
                    kinds=("message",),
                    sessions=(session.id,),
                )
            )
            for hit in hits.hits:
                if (
                    hit.message_id in wanted
                    and len([p for p in optional if p.section == "working"]) < settings.working_k
                ):
                    optional.append(
                        _from_message(session, wanted[hit.message_id], "working", hit.score)
                    )

    own = {session.id} if session is not None else set()
    if settings.long_term_k:
        hits = search(MemoryQuery(question, k=settings.long_term_k * 3, kinds=("message", "note")))
        scored = [
            (hit.score + (settings.lineage_boost if hit.session_id in lineage else 0.0), hit)
            for hit in hits.hits
            if hit.session_id not in own
            and (hit.session_id or hit.kind == "note")
            and not (hit.kind == "note" and not hit.path.startswith(sessions_folder))
        ]
        # A passage sharing no word with the question whose meaning leaves its score below
        # zero (the fused score of an average passage in scope) is less relevant than an
        # average passage: noise, not memory. The ranking is the retriever's; this only leaves
        # such passages out (a vault's only passage is average, so it stays).
        scored = [(score, hit) for score, hit in scored if score >= 0 or hit.highlights]
        floor = dt.datetime.min.replace(tzinfo=dt.UTC)
        scored.sort(key=lambda pair: (pair[0], pair[1].timestamp or floor), reverse=True)
        optional += [
            _from_hit(hit, "long_term", score) for score, hit in scored[: settings.long_term_k]
        ]
    facts = list(pinned_facts)
    if settings.facts_k:
        hits = search(MemoryQuery(question, k=settings.facts_k, kinds=("fact",), status="current"))
        optional += [_from_hit(hit, "facts", hit.score) for hit in hits.hits]
    required += facts
    return _fit(question, required, _dedupe(optional, required), settings.budget_tokens)


def _plain(text: str) -> str:
    """Text compared for duplicates: inline fields (``key:: value``) and spacing ignored."""
    return " ".join(re.sub(r"\s+\w+::\s*\S+", "", text).split()).lower()


def _dedupe(optional: list[ContextPiece], required: list[ContextPiece]) -> list[ContextPiece]:
    """Optional pieces that repeat nothing already in. The live turns are never touched: a
    repeated "ok" is still part of the conversation."""
    seen: set[tuple[str | None, str | None]] = {
        (p.path, p.message_id) for p in required if p.message_id
    }
    seen_text = {_plain(p.text) for p in required}
    kept = []
    for piece in optional:
        text = _plain(piece.text)
        if (piece.message_id and (piece.path, piece.message_id) in seen) or text in seen_text:
            continue
        seen.add((piece.path, piece.message_id))
        seen_text.add(text)
        kept.append(piece)
    return kept


def _fit(
    question: str, required: list[ContextPiece], optional: list[ContextPiece], budget: int
) -> Context:
    dropped: list[ContextPiece] = []
    # Even the required part must fit: the oldest live turns go first (the newest stays).
    used = sum(p.tokens for p in required) + estimate_tokens(question)
    turns = [p for p in required if p.section == "immediate"]
    while used > budget and len(turns) > 1:
        oldest = turns.pop(0)
        required = [p for p in required if p is not oldest]
        dropped.append(oldest)
        used -= oldest.tokens
    chosen = list(required)
    # Most relevant first; ties by section order, then provenance, so it is deterministic.
    ranked = sorted(
        optional,
        key=lambda p: (-p.score, ORDER.index(p.section), p.path or "", p.message_id or "", p.text),
    )
    for piece in ranked:
        if used + piece.tokens <= budget:
            chosen.append(piece)
            used += piece.tokens
        else:
            dropped.append(piece)
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)

    def model_order(piece: ContextPiece) -> tuple[int, float, dt.datetime]:
        section = ORDER.index(piece.section)
        chronological = piece.section in ("long_term", "working", "immediate")
        return (
            section,
            0.0 if chronological else -piece.score,
            piece.timestamp or floor if chronological else floor,
        )

    # A stable sort: messages of one second keep their order in the file (or by relevance).
    chosen.sort(key=model_order)
    number = 0
    numbered = []
    for piece in chosen:
        if piece.section in ("facts", "long_term", "working"):
            number += 1
            piece = ContextPiece(**{**piece.__dict__, "cite": number})
        numbered.append(piece)
    return Context(question, numbered, budget, dropped)
