"""`ActiveMirror`: the library entry point for applications."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amos_vault.core.environment import ollama_host_override, user_cache_dir, user_config_dir
from amos_vault.core.errors import IdentityError
from amos_vault.files.identity import Identity, load_identity, sign_claim, verify_claim
from amos_vault.files.vault import Vault
from amos_vault.sessions.listing import SessionFilter
from amos_vault.sessions.manager import SessionManager
from amos_vault.sessions.session import Session

if TYPE_CHECKING:
    from collections.abc import Callable

    from amos_vault.admin.importers import ImportReport
    from amos_vault.answer.orchestrator import Answer, Orchestrator
    from amos_vault.files.integrity import Finding
    from amos_vault.index.query import MemoryQuery
    from amos_vault.index.retrieval import SearchResult
    from amos_vault.index.search import SearchEngine
    from amos_vault.index.sync import Progress, SyncReport
    from amos_vault.memory.manager import MemoryManager


class ActiveMirror:
    """One vault, opened for an application.

    >>> mirror = ActiveMirror("~/vault")
    >>> session = mirror.create_session("Plan the MVP", tags=["work"])
    >>> session.add_message("user", "What should the MVP contain?")
    """

    def __init__(
        self,
        vault: Vault | str | Path,
        *,
        key_dir: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.vault = vault if isinstance(vault, Vault) else Vault.open(vault)
        # The same defaults as the CLI's, from the one module below it that reads the environment.
        self.key_dir = key_dir or user_config_dir()
        self.cache_dir = cache_dir or user_cache_dir()
        self._engine: SearchEngine | None = None
        self._memory: MemoryManager | None = None
        self.identity: Identity | None = (
            load_identity(self.vault.identity_path) if self.vault.identity_path.exists() else None
        )
        self.sessions = SessionManager(
            self.vault, self.identity.identity_id if self.identity else None
        )
        self.sessions.responder = self._respond  # Session.send answers through the orchestrator
        self.sessions.signer = self._signer  # completed sessions are signed with the owner key
        self.llm_host: str | None = ollama_host_override()  # OLLAMA_HOST, as Ollama's tools

    def create_session(
        self,
        title: str,
        parent: Session | str | None = None,
        tags: Iterable[str] = (),
        kind: str | None = None,
        user_id: str | None = None,
    ) -> Session:
        """Start a session; ``parent`` is a session, id, id prefix or path."""
        return self.sessions.create(title, parent=parent, tags=tags, kind=kind, user_id=user_id)

    def load_session(self, session_id: str) -> Session:
        """A session by id, unique id prefix or file path."""
        return self.sessions.resolve(session_id)

    def list_sessions(
        self,
        status: str | None = None,
        tag: str | None = None,
        user_id: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Session]:
        """Sessions matching every given filter, newest first (see `SessionFilter`)."""
        return self.sessions.list_sessions(
            SessionFilter(status=status, tag=tag, user_id=user_id, since=since, until=until)
        )

    def delete_session(self, session_id: str) -> Session:
        """Delete a session's file; returns the deleted session."""
        return self.sessions.delete(session_id)

    def link_sessions(self, child: Session | str, parent: Session | str | None) -> Session:
        """Set (or with None, clear) the parent of ``child``."""
        return self.sessions.link(child, parent)

    def _owner(self) -> Identity:
        if self.identity is None:
            raise IdentityError(
                "this vault has no identity.md",
                hint="run `amosvault init` on the vault to create the owner identity",
                path=self.vault.identity_path,
            )
        return self.identity

    def sign(self, claim: Mapping[str, Any] | bytes | str) -> str:
        """Sign ``claim`` with the owner's private key (base64 Ed25519 signature)."""
        return sign_claim(self._owner(), claim, self.key_dir)

    def _signer(self, claim: str) -> str | None:
        """The owner's signature of ``claim``, or None when the key is not on this machine."""
        try:
            return self.sign(claim)
        except IdentityError:
            return None

    def check_signatures(self) -> tuple[list[Finding], int]:
        """Every signed session and memory note checked against its signature, and how many
        completed sessions carry none (completed before signing, or without the key)."""
        from amos_vault.files.integrity import (
            CHECKSUM_KEY,
            SIGNATURE_KEY,
            Finding,
            check,
            content_checksum,
            note_signature,
            unreadable_signature,
        )

        identity = self._owner()
        findings, unsigned = [], 0
        found, problems = self.sessions.scan()
        for problem in problems:  # a signed session made unreadable is reported, not skipped
            why = _signed_file_unreadable(problem.path, problem.error.message)
            if why:
                rel = self.vault.relative(problem.path)
                findings.append(Finding(rel, "session", "unreadable", why))
        for session in found:
            meta = session.front_matter
            if CHECKSUM_KEY in meta and SIGNATURE_KEY in meta:
                findings.append(
                    check(
                        identity,
                        "session",
                        session.relative_path or session.id,
                        session.id,
                        str(meta[CHECKSUM_KEY]),
                        str(meta[SIGNATURE_KEY]),
                        content_checksum(meta, session.messages),
                    )
                )
            elif session.status in ("completed", "archived"):
                unsigned += 1
        for path in sorted(self.vault.iter_markdown(self.vault.memory_dir)):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            rel = self.vault.relative(path)
            why = unreadable_signature(text)
            if why:
                findings.append(Finding(rel, "note", "unreadable", why))
                continue
            signed = note_signature(text)
            if signed is not None:
                findings.append(check(identity, "note", rel, rel, *signed))
        return findings, unsigned

    def verify(self, claim: Mapping[str, Any] | bytes | str, signature: str) -> bool:
        """Whether ``signature`` is the owner's signature of ``claim``."""
        return verify_claim(self._owner(), claim, signature)

    # -- search ----------------------------------------------------------------------------
    @property
    def engine(self) -> SearchEngine:
        """The vault's search engine (opened, with the embedding model, on first use)."""
        if self._engine is None:
            from amos_vault.index.search import SearchEngine

            self._engine = SearchEngine(self.vault, self.cache_dir)
        return self._engine

    def index(
        self, progress: Progress | None = None, rebuild: bool = False, wait: float | None = None
    ) -> SyncReport:
        """Bring the search index up to date with the vault's files."""
        return self.engine.sync(progress, rebuild=rebuild, wait=wait)

    def search(
        self,
        query: MemoryQuery | str,
        *,
        sync: bool = True,
        as_of: dt.datetime | dt.date | None = None,
    ) -> SearchResult:
        """Hybrid search over the vault; by default the index is brought up to date first.

        With ``as_of`` (a date means its end), the search runs over the vault as it stood
        then: the files of its last git commit at or before it (see `amos_vault.admin.history`;
        `NotVersionedError` when the vault is not a git repository), and the result's notice
        says which commit.

        >>> mirror.search(MemoryQuery("where did we plan to eat?", k=5, tags=("travel",)))
        >>> mirror.search("where did we plan to eat?", as_of=dt.date(2026, 11, 1))
        """
        from amos_vault.index.query import MemoryQuery

        if isinstance(query, str):
            query = MemoryQuery(query)
        if as_of is not None:
            return self._search_past(query, as_of)
        if sync:
            self.engine.sync()
        return self.engine.search(query)

    def _search_past(self, query: MemoryQuery, as_of: dt.datetime | dt.date) -> SearchResult:
        from amos_vault.admin.history import vault_as_of
        from amos_vault.index.search import SearchEngine

        past = vault_as_of(self.vault, end_of(as_of))
        model = self.engine.embedder  # the model already loaded, if it is
        engine = SearchEngine(past.vault, self.cache_dir, embedder=model, use_model=False)
        engine.sync()
        result = engine.search(query)
        said = f"searched {past.describe()}"
        result.notice = f"{said}; {result.notice}" if result.notice else said
        if model is None and self.engine.notices:
            result.notice += "; " + "; ".join(self.engine.notices)
        return result

    # -- memory ----------------------------------------------------------------------------
    @property
    def memory(self) -> MemoryManager:
        """Consolidation, facts, remember and forget (see `amos_vault.memory.manager`)."""
        from amos_vault.memory.manager import MemoryManager

        if self._memory is None:
            self._memory = MemoryManager(
                self.vault,
                self.sessions,
                embedder=lambda: self.engine.embedder,
                provider=self._provider,
                owner_name=self.identity.name if self.identity else "",
                signer=self._signer,
            )
        return self._memory

    def _provider(self) -> Any:
        from amos_vault.llm.providers import open_provider

        llm = self.vault.settings.llm
        host = self.llm_host or llm.host
        return open_provider(llm.provider, host, llm.model, llm.timeout_seconds)

    # -- answers ---------------------------------------------------------------------------
    def orchestrator(
        self, *, model: str | None = None, engine: str | None = None, use_model: bool = True
    ) -> Orchestrator:
        """An orchestrator over this vault: the configured (or given) model and engine."""
        from amos_vault.answer.dialogue import get_engine
        from amos_vault.answer.orchestrator import Orchestrator
        from amos_vault.llm.providers import LLMError, open_provider

        llm = self.vault.settings.llm
        provider, unavailable = None, None
        if use_model:
            try:
                provider = open_provider(
                    llm.provider, self.llm_host or llm.host, model or llm.model, llm.timeout_seconds
                )
            except LLMError as exc:  # e.g. a malformed address: answer without a model
                unavailable = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
        return Orchestrator(
            self.vault,
            self.engine.search,
            self.sessions,
            self.identity,
            provider,
            get_engine(engine or llm.engine),
            self.vault.settings,
            unavailable=unavailable,
        )

    def refresh_index(
        self, progress: Progress | None = None, wait: float | None = 1.0
    ) -> SyncReport | None:
        """Bring the index up to date before reading it, as `index` does; but when another
        process holds the index for longer than ``wait`` seconds (None: the configured lock
        timeout), use the index as it is and return None."""
        from amos_vault.core.errors import LockTimeoutError

        try:
            return self.engine.sync(progress, wait=wait)
        except LockTimeoutError:
            return None

    def ask(
        self,
        question: str,
        session: Session | str | None = None,
        *,
        model: str | None = None,
        engine: str | None = None,
        on_piece: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question`` from the vault (streamed pieces go to ``on_piece``); with no
        model reachable the answer is the cited evidence, and ``notice`` says so."""
        self.refresh_index()
        target = self.sessions.resolve(session) if session is not None else None
        orchestrator = self.orchestrator(model=model, engine=engine)
        answer = orchestrator.answer(question, target, on_piece)
        if self.vault.settings.llm.record_asks and target is None:
            orchestrator.record_ask(answer)
        return answer

    def _respond(
        self, session: Session, text: str, on_piece: Callable[[str], None] | None
    ) -> Answer:
        self.refresh_index()
        return self.orchestrator().reply(session, text, on_piece)

    # -- imports ---------------------------------------------------------------------------
    def import_export(
        self,
        path: Path | str,
        kind: str,
        *,
        dry_run: bool = False,
        since: dt.datetime | None = None,
        include_tools: bool = False,
        progress: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        """Import a chat export into sessions: ``kind`` is chatgpt or claude (their
        conversations.json, or the export's .zip) or jsonl (the generic format). Importing
        the same export again writes nothing; a newer one appends only what is new.

        >>> mirror.import_export("~/Downloads/chatgpt-export.zip", "chatgpt").sessions_created
        """
        from amos_vault.admin.importers import import_export

        return import_export(
            self.sessions,
            path,
            kind,
            dry_run=dry_run,
            since=since,
            include_tools=include_tools,
            progress=progress,
        )


def end_of(when: dt.datetime | dt.date) -> dt.datetime:
    """``when`` as an aware time: a date means the end of that day (UTC when no zone)."""
    if not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, dt.time(23, 59, 59))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _signed_file_unreadable(path: Path, problem: str) -> str | None:
    """Why an unreadable session file's signature cannot be checked, when the file (as far as
    its first 64 KiB show) carries one; None for a file that was never signed."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16).decode("utf-8", "replace")
    except OSError:
        return None
    if "\nsignature:" not in head.replace("\r\n", "\n"):
        return None
    return f"it cannot be read ({problem}), so its signature cannot be checked"
