"""The orchestrator: builds the context, asks the model, and records the exchange.

With no model reachable it still answers: the best evidence from the vault, cited, and one
line saying how to have answers written. Hooks fire at each step; plugins may add providers,
context processors and dialogue engines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from amos_vault.answer import hooks
from amos_vault.answer.context import Context, ContextPiece, Search, build_context
from amos_vault.answer.dialogue import DialogueEngine, cited
from amos_vault.core.config import Settings
from amos_vault.core.errors import AmosError
from amos_vault.core.plugins import plugin_context_processors
from amos_vault.files.memorynote import parse_fact_line
from amos_vault.index.query import NO_WORDS, has_words
from amos_vault.llm.providers import LLMError, LLMProvider
from amos_vault.sessions.privacy import is_loopback, is_private, private_refs

if TYPE_CHECKING:
    from amos_vault.files.identity import Identity
    from amos_vault.files.vault import Vault
    from amos_vault.sessions.manager import SessionManager
    from amos_vault.sessions.session import Session

ENABLE_HINT = (
    "to have answers written, run Ollama (`ollama serve`, then `ollama pull {model}`), "
    "or set [llm] host and model in .amos/config.toml"
)
PINNED_SCORE = 100.0
log = logging.getLogger("amos_vault.answer.orchestrator")


@dataclass
class Answer:
    """An answer, the context it was built from, and its sources."""

    question: str
    text: str
    context: Context
    model: str | None  # None: the answer is the vault's evidence, no model wrote it
    engine: str
    metadata: dict[str, Any] = field(default_factory=dict)
    notice: str | None = None
    # The [n] the answer quotes, in its order; None: it names none, so every numbered source.
    quoted: tuple[int, ...] | None = None

    @property
    def sources(self) -> list[ContextPiece]:
        """The sources the answer quotes, each once: the passages an evidence answer shows (in
        the order shown) or the [n] a model's reply cites; every numbered source when the
        reply cites none."""
        numbered = self.context.sources()
        if self.quoted is not None:
            by_number = {p.cite: p for p in numbered}
            numbered = [by_number[n] for n in self.quoted if n in by_number]
        listed: set[tuple[str | None, ...]] = set()
        once = []
        for piece in numbered:
            same = (piece.path, piece.message_id) if piece.message_id else (piece.path, piece.text)
            if same not in listed:
                listed.add(same)
                once.append(piece)
        return once

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "question": self.question,
            "answer": self.text,
            "model": self.model,
            "engine": self.engine,
            "notice": self.notice,
            "metadata": self.metadata,
            "sources": [p.to_dict() for p in self.sources],
            "context": self.context.to_dict(),
        }


class Answerer:
    """Writes the answer to a built context: the model's (streamed), or with no model the
    cited evidence. The team server uses it alone; `Orchestrator` builds on it."""

    def __init__(
        self,
        provider: LLMProvider | None,
        engine: DialogueEngine,
        settings: Settings,
        *,
        unavailable: str | None = None,
    ) -> None:
        self.provider = provider
        self.engine = engine
        self.settings = settings
        self.unavailable = unavailable  # why there is no provider, when there is none

    def generate(self, context: Context, on_piece: Callable[[str], None] | None = None) -> Answer:
        """The answer to ``context``'s question (streamed pieces go to ``on_piece``); never
        raises for a missing or failing model: the answer is then the cited evidence."""
        model = self.provider.model if self.provider is not None else self.settings.llm.model
        if not has_words(context.question) and not context.section("immediate"):
            # "?!" asked on its own: nothing to ask a model about (in a chat, "👍" after an
            # answer is a turn the model should still get).
            return self._extractive(context, None)
        if self.provider is not None:
            pieces: list[str] = []
            notice = None
            try:
                for piece in self.provider.chat(self.engine.messages(context)):
                    pieces.append(piece)
                    if on_piece is not None:
                        on_piece(piece)
            except (LLMError, KeyboardInterrupt, Exception) as exc:
                # A model that fails, the user's Ctrl-C, or a plugin's bug: keep what arrived.
                if isinstance(exc, LLMError):
                    why = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
                elif isinstance(exc, KeyboardInterrupt):
                    why = "interrupted"
                else:
                    log.exception("the model or dialogue engine failed")
                    why = f"{type(exc).__name__}: {exc}"
                if not "".join(pieces).strip():
                    return self._extractive(context, f"no language model answered ({why})")
                notice = f"the answer was cut short: {why}"
            text = "".join(pieces)
            if not text.strip():
                return self._extractive(context, "the model returned no text")
            try:
                metadata = self.engine.read_reply(context, text)
            except Exception:
                log.exception("the dialogue engine could not read the reply")
                metadata = {"engine": self.engine.name}
            return Answer(
                context.question,
                text,
                context,
                self.provider.model,
                self.engine.name,
                metadata,
                notice,
                quoted=tuple(cited(text, context)) or None,
            )
        why = (
            f"no language model answered ({self.unavailable})"
            if self.unavailable
            else ("no language model is configured")
        )
        return self._extractive(context, why, model)

    def _extractive(self, context: Context, why: str | None, model: str | None = None) -> Answer:
        # The best passages for this question, best first; pinned facts are context, not
        # evidence.
        evidence = sorted(
            (p for p in context.sources() if p.section != "facts" or p.score < PINNED_SCORE),
            key=lambda p: (-p.score, p.cite or 0),
        )[:5]
        if evidence:
            lines = ["From your vault:"]
            for piece in evidence:
                when = f"{piece.timestamp:%Y-%m-%d}" if piece.timestamp else ""
                where = ", ".join(x for x in (when, piece.title or "") if x)
                lines.append(f"[{piece.cite}] {' '.join(piece.text.split())} ({where})")
            text = "\n".join(lines)
        elif not has_words(context.question):
            text = f"Nothing to look up: {NO_WORDS}."
        else:
            text = "Your vault holds nothing about this yet."
        model = model or self.settings.llm.model
        notice = f"{why}: {ENABLE_HINT.format(model=model)}" if why else None
        return Answer(
            context.question,
            text,
            context,
            None,
            "extractive",
            {"engine": "extractive"},
            notice,
            quoted=tuple(p.cite or 0 for p in evidence),
        )


class Orchestrator(Answerer):
    """Answers questions and chat turns from one vault."""

    def __init__(
        self,
        vault: Vault,
        search: Search,
        sessions: SessionManager,
        identity: Identity | None,
        provider: LLMProvider | None,
        engine: DialogueEngine,
        settings: Settings,
        *,
        unavailable: str | None = None,
    ) -> None:
        super().__init__(provider, engine, settings, unavailable=unavailable)
        self.vault = vault
        self.search = search
        self.sessions = sessions
        self.identity = identity

    def pinned_facts(self) -> list[ContextPiece]:
        """Current facts marked ``pinned:: true`` in the memory notes: always in the context."""
        pieces = []
        for path in self.vault.iter_markdown(self.vault.memory_dir):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for number, line in enumerate(lines, 1):
                fact = parse_fact_line(line) if "pinned::" in line else None
                if fact is not None and fact.pinned and fact.current:
                    pieces.append(
                        ContextPiece(
                            "facts",
                            fact.text,
                            score=PINNED_SCORE,
                            path=self.vault.relative(path),
                            title=f"line {number}",
                        )
                    )
        return pieces

    def build_context(self, question: str, session: Session | None = None) -> Context:
        """The context for ``question`` (within ``session`` when given)."""
        lineage = [s.id for s in session.lineage()[1:]] if session is not None else []
        context = build_context(
            question,
            self.search,
            self.settings.context,
            session=session,
            lineage=lineage,
            identity=self.identity,
            pinned_facts=self.pinned_facts(),
        )
        for processor in plugin_context_processors():
            try:
                processed = processor(context)
            except Exception:
                log.exception("context processor %r failed; its change is skipped", processor)
                continue
            if isinstance(processed, Context):
                context = processed
            else:
                log.error(
                    "context processor %r returned %r, not a Context; skipped",
                    processor,
                    type(processed),
                )
        hooks.fire("context_built", session, context)
        return context

    def answer(
        self,
        question: str,
        session: Session | None = None,
        on_piece: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question``; streamed pieces go to ``on_piece``. Never raises for a
        missing or failing model: the answer is then the cited evidence."""
        context = self.build_context(question, session)
        host = getattr(self.provider, "host", None)
        if self.provider is not None and not is_loopback(host):
            # A model on another machine never sees what a private session says.
            if session is not None and is_private(session):
                answer = self._extractive(
                    context,
                    f"this session is private, so it is never sent to the model at {host}",
                )
                hooks.fire("response_generated", session, answer)
                return answer
            context = self._without_private(context)
        answer = self.generate(context, on_piece)
        hooks.fire("response_generated", session, answer)
        return answer

    def _without_private(self, context: Context) -> Context:
        sessions, _problems = self.sessions.scan()
        refs = private_refs(self.vault, sessions)
        if not (refs.sessions or refs.facts):
            return context
        kept = [p for p in context.pieces if not refs.covers(p.session_id, p.path, p.message_id)]
        return replace(context, pieces=kept)

    def reply(
        self, session: Session, text: str, on_piece: Callable[[str], None] | None = None
    ) -> Answer:
        """One chat turn: record the user's message, answer it, record the answer. The user's
        message is in the file before the model is asked, so a crash loses nothing said."""
        message = session.add_message("user", text)
        hooks.fire("message_received", session, message)
        answer = self.answer(text, session, on_piece)
        metadata = {**answer.metadata, "model": answer.model, "sources": self._links(answer)}
        session.add_message(
            "assistant", answer.text, metadata={k: v for k, v in metadata.items() if v is not None}
        )
        return answer

    def record_ask(self, answer: Answer) -> Session:
        """Keep an `ask` exchange as its own session (when [llm] record_asks is on)."""
        title = "Ask: " + " ".join(answer.question.split())[:60]
        session = self.sessions.create(title, tags=["ask"])
        session.add_message("user", answer.question)
        session.add_message(
            "assistant",
            answer.text,
            metadata={
                "engine": answer.engine,
                "model": answer.model or "none",
                "sources": self._links(answer),
            },
        )
        session.complete()
        return session

    def _links(self, answer: Answer) -> list[str]:
        """The Obsidian links to the answer's sources, to be recorded: a message typed by hand
        without an id first gets its id written into its file, so the link resolves."""
        folder = self.vault.sessions_dir
        for piece in answer.sources:
            if not (piece.path and piece.message_id):
                continue
            path = self.vault.root / piece.path
            if folder not in path.parents:
                continue  # a memory note: its block ids are written with each fact
            try:
                self.sessions.write_message_ids(self.sessions.resolve(str(path)))
            except (AmosError, OSError) as exc:  # unreadable or gone: the link stays as it is
                log.info("could not write message ids into %s: %s", piece.path, exc)
        return [p.link for p in answer.sources if p.link]
