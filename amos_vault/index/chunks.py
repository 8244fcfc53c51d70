"""Chunks: the units that are indexed and returned by search, cut from vault files.

Pure functions of a file's content: one chunk per message (its text, with the neighbouring
messages as context for full-text matching), one per session (title, tags and all its text),
one per paragraph of free text typed above a session's first message (kind "note", with the
session's provenance),
and, for notes in the memory folder or files that are not readable sessions, one per fact line
or paragraph. Every chunk knows its file, message id and line range.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from amos_vault.files.links import link_parts
from amos_vault.files.memorynote import Fact, parse_fact_line, read_note_layout
from amos_vault.files.sessionfile import Message, SessionDocument, SessionHeader

KINDS = ("message", "session", "fact", "note")


def chunk_key(chunk_id: str) -> int:
    """A stable 63-bit integer key for ``chunk_id`` (shared by the index and the vectors)."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "big") >> 1


def message_chunk_id(path: str, message_id: str) -> str:
    """The chunk id of the message ``message_id`` of the session file ``path``."""
    return f"message:{path}#{message_id}"


def source_message_key(source: str) -> int | None:
    """The chunk key of the message a fact's source link names (``sessions/…/x#^m-…``, the
    way links are written: a vault path without ``.md``); None when it names no message."""
    file, block = link_parts(source)
    return chunk_key(message_chunk_id(f"{file}.md", block)) if file and block else None


def content_hash(text: str) -> str:
    """Hash of the text a vector is computed from: equal hash, reusable vector."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """One searchable piece of the vault."""

    chunk_id: str
    kind: str
    path: str  # relative to the vault, forward slashes
    text: str  # what is shown: the message content, the fact line...
    embed_text: str  # what the embedding model sees
    context_text: str  # what full-text search matches (the text with its neighbours)
    line_start: int
    line_end: int
    title: str = ""
    session_id: str = ""
    message_id: str = ""
    role: str = ""
    author: str = ""
    identity: str = ""
    user_id: str = ""
    status: str = ""
    tags: tuple[str, ...] = ()
    timestamp: dt.datetime | None = None
    sources: tuple[str, ...] = ()  # a fact's source messages: "sessions/…/file#^m-…"
    private: bool = False  # a fact marked `private: true`: it never leaves this machine
    key: int = field(init=False)
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", chunk_key(self.chunk_id))
        object.__setattr__(self, "hash", content_hash(self.embed_text))

    @property
    def session_key(self) -> int:
        """Key of the session chunk this chunk belongs to (0 when none)."""
        return chunk_key(f"session:{self.path}") if self.session_id else 0


def author_of(message: Message) -> str:
    """Who said it: the ``name`` in the message metadata (multi-party chats), else the role."""
    name = message.metadata.get("name") if isinstance(message.metadata, dict) else None
    return str(name) if isinstance(name, str) and name.strip() else message.role


def _day(value: dt.datetime | None) -> str:
    return f"{value.day} {value:%B %Y}" if value else ""


def _said(message: Message, with_date: bool) -> str:
    who = author_of(message)
    date = f" ({_day(message.timestamp)})" if with_date else ""
    return f"{who}{date}: {message.content.strip()}"


def chunk_session(path: str, doc: SessionDocument, header: SessionHeader) -> list[Chunk]:
    """The chunks of a readable session file: one per message, then one for the session."""
    common = {
        "path": path,
        "title": header.title,
        "session_id": header.id,
        "identity": header.identity or "",
        "user_id": header.user_id or "",
        "status": header.status,
        "tags": header.tags,
    }
    last_line = _last_line(doc)
    # An answer that only quotes the vault is a copy of passages indexed where they were said.
    ends = [m.line for m in doc.messages[1:]] + [last_line]  # one more without messages
    kept = [(m, end) for m, end in zip(doc.messages, ends, strict=False) if not m.quotes_vault]
    messages, ends = [m for m, _end in kept], [end for _m, end in kept]
    # Ids carry the path, so a copy of a file (same session id) never collides with it; a
    # renamed file gets new ids but keeps its vectors, which are reused by content hash.
    # A message id a file holds twice (pasted by hand) still gives each message its own
    # chunk: the second is ``#<id>~2``, so neither hides the other in search.
    ids, uses = [], dict[str, int]()
    for m in messages:
        uses[m.id] = uses.get(m.id, 0) + 1
        suffix = f"~{uses[m.id]}" if uses[m.id] > 1 else ""
        ids.append(message_chunk_id(path, m.id) + suffix)
    chunks = []
    for index, message in enumerate(messages):
        own = _said(message, with_date=True)
        before = _said(messages[index - 1], False) + "\n" if index > 0 else ""
        after = "\n" + _said(messages[index + 1], False) if index + 1 < len(messages) else ""
        chunks.append(
            Chunk(
                chunk_id=ids[index],
                kind="message",
                text=message.content,
                embed_text=own,
                context_text=before + own + after,
                line_start=message.line,
                line_end=max(message.line, ends[index] - 1),
                message_id=message.id,
                role=message.role,
                author=author_of(message),
                timestamp=message.timestamp,
                **common,  # type: ignore[arg-type]
            )
        )
    when = header.created or (messages[0].timestamp if messages else None)
    heading = " ".join([header.title, *(f"#{t}" for t in header.tags)]).strip()
    # Notes typed above the first message belong to the session too (minus the title line),
    # and each paragraph of them is a chunk of its own, found by its words and its meaning.
    notes = [line for line in doc.preamble if line.strip() and line.strip() != f"# {header.title}"]
    first_line = len(doc.front_matter_lines) + 3 if doc.front_matter_lines is not None else 1
    for start, end, body in _paragraphs(doc.preamble, first_line, f"# {header.title}"):
        chunks.append(
            Chunk(
                chunk_id=f"note:{path}:{start}:{content_hash(body)[:8]}",
                kind="note",
                text=body,
                embed_text=body,
                context_text=f"{header.title}\n{body}",
                line_start=start,
                line_end=end,
                timestamp=when,
                **common,  # type: ignore[arg-type]
            )
        )
    body = "\n".join([*notes, *(_said(m, with_date=True) for m in messages)])
    chunks.append(
        Chunk(
            chunk_id=f"session:{path}",
            kind="session",
            text=heading,
            embed_text=heading,
            context_text=f"{heading}\n{_day(when)}\n{body}",
            line_start=1,
            line_end=last_line,
            timestamp=when,
            **common,  # type: ignore[arg-type]
        )
    )
    return chunks


def _paragraphs(lines: list[str], first_line: int, title: str) -> list[tuple[int, int, str]]:
    """The paragraphs of free text in ``lines`` (the first is file line ``first_line``): each
    as (first line, last line, text); the title line is not free text."""
    found: list[tuple[int, int, str]] = []
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*lines, ""], first_line):
        text = line.rstrip("\r")
        if text.strip() and text.strip() != title:
            block.append((number, text))
            continue
        if block:
            found.append((block[0][0], block[-1][0], "\n".join(t for _n, t in block).strip()))
            block = []
    return found


def _last_line(doc: SessionDocument) -> int:
    return len(doc.render().decode("utf-8", "replace").splitlines()) or 1


def chunk_note(path: str, text: str, kind_of_items: str = "fact") -> list[Chunk]:
    """Chunks of a plain Markdown note: one per list item (a fact), one per other paragraph.

    Used for memory notes (a fact's inline fields are metadata, not what it says; a closed
    fact is searchable with status "superseded"), and with ``kind_of_items="note"`` for
    summaries and for session files that cannot be read as sessions, which are still
    searchable as plain text.
    """
    chunks: list[Chunk] = []
    layout = read_note_layout(text)
    lines = layout.lines
    start = 0
    # A facts note of ours: its heading and intro are not memory, only its facts are.
    only_facts = layout.meta.get("type") == "facts"
    items = set(layout.items)
    paragraph: list[str] = []

    def flush(end: int) -> None:
        body = "\n".join(paragraph).strip()
        if body and not only_facts:
            chunks.append(_note_chunk(path, body, "note", start + 1, end))
        paragraph.clear()

    for number, line in layout.body():
        fact = parse_fact_line(line, path, number + 1) if number in items else None
        if fact is not None:
            flush(number)
            if kind_of_items == "fact":
                chunks.append(_fact_chunk(path, fact))
            else:
                body = line.strip().lstrip("-*+ ").strip()
                chunks.append(_note_chunk(path, body, kind_of_items, number + 1, number + 1))
            start = number + 1
        elif not line.strip():
            flush(number)
            start = number + 1
        else:
            if not paragraph:
                start = number
            paragraph.append(line)
    flush(len(lines))
    return chunks


def _fact_chunk(path: str, fact: Fact) -> Chunk:
    seen = fact.last_confirmed or fact.first_seen
    return Chunk(
        chunk_id=f"fact:{path}:{fact.line}:{content_hash(fact.text)[:8]}",
        kind="fact",
        path=path,
        text=fact.text,
        embed_text=fact.text,
        context_text=fact.text,
        line_start=fact.line,
        line_end=fact.line,
        title=path.rsplit("/", 1)[-1].removesuffix(".md"),
        message_id=fact.id,
        status="current" if fact.current else "superseded",
        tags=(fact.type,),
        timestamp=dt.datetime.combine(seen, dt.time(), dt.UTC) if seen else None,
        sources=fact.sources,
        private=dict(fact.extra).get("private") == "true",
    )


def _note_chunk(path: str, body: str, kind: str, first: int, last: int) -> Chunk:
    return Chunk(
        chunk_id=f"{kind}:{path}:{first}:{content_hash(body)[:8]}",
        kind=kind,
        path=path,
        text=body,
        embed_text=body,
        context_text=body,
        line_start=first,
        line_end=max(first, last),
        title=path.rsplit("/", 1)[-1].removesuffix(".md"),
    )
