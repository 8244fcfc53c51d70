"""The memory note format: facts as readable Markdown list lines with Dataview inline fields.

A fact is one list item::

    - Caroline went to an LGBTQ support group on 7 May 2023. [type:: context] [confidence:: 0.7]
      [source:: [[sessions/2023-05-08-caroline#^m-1a2b3c4d]]] [first_seen:: 2023-05-08]
      [last_confirmed:: 2023-05-08] [valid_from:: 2023-05-08] ^f-9c1d2e3f

(on one line). The ``^f-…`` block id makes the fact linkable (``[[memory/context#^f-9c1d2e3f]]``);
a contradicted fact keeps its line with ``[valid_to:: …]`` and ``[superseded_by:: [[…]]]``.
Unbracketed trailing fields (``pinned:: true``) are read too, so a hand-written fact works.
Fields this module does not know are kept in order. Other lines of a note are kept as they are.

Also here: the tombstone list (``forgotten.md``: fingerprints only, never the forgotten text) and
the per-session summary note. Pure functions of text; nothing here touches the disk.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from markdown_it import MarkdownIt

from amos_vault.files.frontmatter import dump_yaml_mapping, read_front_matter

FACT_TYPES = ("preference", "knowledge", "context")
NOTE_TITLES = {"preference": "Preferences", "knowledge": "Knowledge", "context": "Context"}
NOTE_INTROS = {
    "preference": "What you like, dislike and prefer, learned from your conversations.",
    "knowledge": "Who you are and what you know: identity, work, people, places.",
    "context": "What happened and what is planned: events with their dates, plans, projects.",
}
FORGOTTEN_NOTE = "forgotten.md"
SUMMARIES_FOLDER = "summaries"
SUMMARY_SUFFIX = "-summary"  # memory/summaries/<session file name>-summary.md

_ITEM = re.compile(r"^(?P<indent>\s*)[-*+]\s+(?:\[[ xX]\]\s+)?(?P<body>\S.*?)\s*$")
_BLOCK_ID = re.compile(r"\s+\^(?P<id>[A-Za-z0-9-]+)\s*$")
_FIELD_START = re.compile(r"\[(?P<key>[A-Za-z_][\w-]*)::\s*")
# "text pinned:: true": Dataview's unbracketed form needs the space ("std::move" is text).
_TRAILING_FIELD = re.compile(r"\s+(?P<key>[A-Za-z_][\w-]*)::\s+(?P<value>\S+)\s*$")
_LINK = re.compile(r"\[\[(?P<target>[^\]|]+)(?:\|[^\]]*)?\]\]")
_FACT_ID = re.compile(r"#\^(?P<id>f-[0-9a-z]+)")
_KNOWN = (
    "type",
    "confidence",
    "topic",
    "source",
    "first_seen",
    "last_confirmed",
    "valid_from",
    "valid_to",
    "superseded_by",
    "pinned",
)


@dataclass(frozen=True)
class Fact:
    """One fact line of a memory note."""

    text: str
    type: str = "knowledge"
    confidence: float = 1.0
    sources: tuple[str, ...] = ()  # link targets: "sessions/2023-05-08-x#^m-1a2b3c4d"
    first_seen: dt.date | None = None
    last_confirmed: dt.date | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    superseded_by: str = ""  # link target of the fact that replaced this one
    topic: str = ""
    pinned: bool = False
    id: str = ""  # "f-…", the block id; empty for a hand-written line without one
    extra: tuple[tuple[str, str], ...] = ()  # fields this module does not know, kept
    note: str = ""  # the note's vault-relative path
    line: int = 0  # 1-based line in the note

    @property
    def current(self) -> bool:
        """Not closed by a later fact (or by hand) as of today."""
        return self.valid_to is None or self.valid_to > dt.date.today()

    def began(self, day: dt.date) -> bool:
        """Whether the fact held from ``day`` or before (``valid_from``, else ``first_seen``;
        a line with neither, typed by hand, is taken as always known)."""
        start = self.valid_from or self.first_seen
        return start is None or start <= day

    def valid_on(self, day: dt.date) -> bool:
        """Whether the fact held on ``day``: begun by then, and not closed by then."""
        return self.began(day) and (self.valid_to is None or self.valid_to > day)

    @property
    def source_messages(self) -> tuple[str, ...]:
        """The message ids the fact cites ("m-1a2b3c4d")."""
        return tuple(s.rsplit("#^", 1)[1] for s in self.sources if "#^" in s)

    @property
    def fingerprint(self) -> str:
        """What a tombstone keeps of a forgotten fact."""
        return fingerprint(self.text)


def fingerprint(text: str) -> str:
    """A short hash of the fact's wording, insensitive to case, spacing and punctuation."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return hashlib.blake2b(" ".join(words).encode(), digest_size=8).hexdigest()


def new_fact_id(fact_type: str, text: str, taken: Iterable[str]) -> str:
    """A deterministic id for a new fact, unique among ``taken``."""
    used = set(taken)
    seed = f"{fact_type}\n{text}"
    for attempt in range(1000):
        digest = hashlib.blake2b(f"{seed}\n{attempt}".encode(), digest_size=4).hexdigest()
        candidate = f"f-{digest}"
        if candidate not in used:
            return candidate
    raise RuntimeError("no free fact id")  # pragma: no cover - 1000 collisions


def _split_fields(body: str) -> tuple[str, list[tuple[str, str]]]:
    """The text of a list item and its ``[key:: value]`` fields (values may hold [[links]])."""
    fields: list[tuple[str, str]] = []
    text_parts: list[str] = []
    position = 0
    while True:
        match = _FIELD_START.search(body, position)
        if match is None:
            break
        depth, end = 1, match.end()
        while end < len(body) and depth:
            depth += {"[": 1, "]": -1}.get(body[end], 0)
            end += 1
        if depth:  # unbalanced: not a field
            break
        text_parts.append(body[position : match.start()])
        fields.append((match.group("key"), body[match.end() : end - 1].strip()))
        position = end
    text_parts.append(body[position:])
    text = " ".join(part.strip() for part in text_parts if part.strip())
    while True:  # "text pinned:: true" (unbracketed, at the end)
        trailing = _TRAILING_FIELD.search(text)
        if trailing is None or not _balanced(trailing.group("value")):
            break  # an unbalanced value ("topic:: [[x") is text, as in a bracketed field
        fields.insert(0, (trailing.group("key"), trailing.group("value")))
        text = text[: trailing.start()].rstrip()
    return text, fields


def _balanced(value: str) -> bool:
    """Whether every ``]`` in ``value`` closes a ``[`` before it, and every ``[`` is closed."""
    depth = 0
    for char in value:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class NoteLayout:
    """Where things are in a note's lines, as CommonMark (markdown-it-py) reads its body.

    Only the line that starts a real list item can hold a fact: a line inside a fenced or
    indented code block never does, however much it looks like one."""

    lines: list[str]
    meta: dict[str, Any]  # the front-matter ({} when none, or malformed)
    body_start: int  # index of the first line after the front-matter
    items: tuple[int, ...]  # indexes of the lines that start a list item, in order
    open_fence: str = ""  # the line that closes a code fence left open at the end, if any

    def body(self) -> Iterator[tuple[int, str]]:
        """(index, line) of each line after the front-matter."""
        for index in range(self.body_start, len(self.lines)):
            yield index, self.lines[index]


@functools.cache
def _markdown() -> MarkdownIt:
    # Block structure only: inline markup does not decide what a list item is. HTML blocks
    # are not recognised, so a list in an HTML comment is read as it always was.
    return MarkdownIt("commonmark", {"html": False}).disable("inline")


def read_note_layout(text: str) -> NoteLayout:
    """The lines of a note (split as `str.splitlines` does), its front-matter and where its
    list items start."""
    lines = text.splitlines()
    front = read_front_matter(text)
    body_start = len(text[: front.body_offset].splitlines()) if front.lines is not None else 0
    # The body alone, one line per line: markdown-it's line numbers are then ours.
    tokens = _markdown().parse("\n".join(lines[body_start:]))
    content_end = next((i + 1 for i in range(len(lines) - 1, -1, -1) if lines[i].strip()), 0)
    items, open_fence = [], ""
    for token in tokens:
        if token.map is None:
            continue
        start, end = body_start + token.map[0], body_start + token.map[1]
        if token.type == "list_item_open":
            items.append(start)
        elif token.type == "fence" and token.level == 0 and end >= content_end:
            # A fence that runs to the end of the note: left open, unless its last line
            # closes it.
            closed = end - start > 1 and _closes_fence(lines[end - 1], token.markup)
            open_fence = "" if closed else token.markup
    return NoteLayout(lines, front.meta, body_start, tuple(sorted(set(items))), open_fence)


def _closes_fence(line: str, markup: str) -> bool:
    """Whether ``line`` closes a code fence opened with ``markup`` (three or more ` or ~)."""
    mark = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent < 4 and len(mark) >= len(markup) and set(mark) == {markup[0]}


def parse_fact_line(line: str, note: str = "", number: int = 0) -> Fact | None:
    """The fact on ``line``, or None when the line is not a list item."""
    item = _ITEM.match(line)
    if item is None:
        return None
    body = item.group("body")
    block = _BLOCK_ID.search(body)
    fact_id = ""
    if block is not None:
        fact_id = block.group("id")
        body = body[: block.start()]
    text, fields = _split_fields(body)
    if not text:
        return None
    values: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for key, value in fields:
        if key in _KNOWN:
            values[key] = value
        else:
            extra.append((key, value))
    try:
        confidence = max(0.0, min(1.0, float(values.get("confidence", "1"))))
    except ValueError:
        confidence = 1.0
    fact_type = values.get("type", "").strip().lower()
    superseded = _LINK.search(values.get("superseded_by", ""))
    return Fact(
        text=text,
        type=fact_type if fact_type in FACT_TYPES else "knowledge",
        confidence=confidence,
        sources=tuple(m.group("target") for m in _LINK.finditer(values.get("source", ""))),
        first_seen=_date(values.get("first_seen", "")),
        last_confirmed=_date(values.get("last_confirmed", "")),
        valid_from=_date(values.get("valid_from", "")),
        valid_to=_date(values.get("valid_to", "")),
        superseded_by=superseded.group("target") if superseded else "",
        topic=values.get("topic", ""),
        pinned=values.get("pinned", "").lower() in ("true", "yes", "1"),
        id=fact_id,
        extra=tuple(extra),
        note=note,
        line=number,
    )


def render_fact_line(fact: Fact) -> str:
    """The canonical line of ``fact`` (what `parse_fact_line` reads back)."""
    text = " ".join(fact.text.split())
    parts = [f"- {text}", f"[type:: {fact.type}]", f"[confidence:: {fact.confidence:.2f}]"]
    if fact.topic:
        parts.append(f"[topic:: {fact.topic}]")
    if fact.sources:
        parts.append("[source:: " + ", ".join(f"[[{s}]]" for s in fact.sources) + "]")
    for key in ("first_seen", "last_confirmed", "valid_from", "valid_to"):
        value = getattr(fact, key)
        if value is not None:
            parts.append(f"[{key}:: {value.isoformat()}]")
    if fact.superseded_by:
        parts.append(f"[superseded_by:: [[{fact.superseded_by}]]]")
    if fact.pinned:
        parts.append("[pinned:: true]")
    parts += [f"[{key}:: {value}]" for key, value in fact.extra]
    if fact.id:
        parts.append(f"^{fact.id}")
    return " ".join(parts)


@dataclass
class FactNote:
    """A memory note: its lines, and the facts among them (by line index)."""

    path: str
    lines: list[str]
    final_newline: bool = True
    facts: dict[int, Fact] = field(default_factory=dict)  # line index -> fact
    open_fence: str = ""  # closes a code fence the note leaves open at its end

    @classmethod
    def parse(cls, path: str, text: str) -> FactNote:
        layout = read_note_layout(text)
        note = cls(
            path=path,
            lines=layout.lines,
            final_newline=text.endswith(("\n", "\r")) or not text,
            open_fence=layout.open_fence,
        )
        for index in layout.items:
            line = layout.lines[index]
            fact = parse_fact_line(line, path, index + 1)
            # A nested item belongs to the item above, unless it is a fact of ours (^f-…)
            # that you moved under a heading item of your own.
            nested = line.startswith((" ", "\t"))
            if fact is not None and (not nested or fact.id.startswith("f-")):
                note.facts[index] = fact
        return note

    @classmethod
    def new(cls, path: str, fact_type: str) -> FactNote:
        header = [
            "---",
            *dump_yaml_mapping({"type": "facts", "fact_type": fact_type}),
            "---",
            "",
            f"# {NOTE_TITLES[fact_type]}",
            "",
            NOTE_INTROS[fact_type],
            "Edit or delete any line: amos-vault never rewrites a line you changed, and never",
            "learns a deleted fact again.",
            "",
        ]
        return cls(path=path, lines=header)

    def render(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.final_newline and self.lines else "")

    def by_id(self, fact_id: str) -> tuple[int, Fact] | None:
        for index, fact in self.facts.items():
            if fact.id == fact_id:
                return index, fact
        return None

    def append(self, fact: Fact) -> Fact:
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        if self.open_fence:  # the note ends inside a code fence: closed, or the fact is code
            self.lines.append(self.open_fence)
            self.open_fence = ""
        if self.lines and not _ITEM.match(self.lines[-1]):
            self.lines.append("")  # a list starts after a blank line; items stay together
        self.lines.append(render_fact_line(fact))
        placed = replace(fact, note=self.path, line=len(self.lines))
        self.facts[len(self.lines) - 1] = placed
        self.final_newline = True
        return placed

    def replace_at(self, index: int, fact: Fact) -> Fact:
        old = self.lines[index]
        indent = old[: len(old) - len(old.lstrip())]
        self.lines[index] = indent + render_fact_line(fact)
        placed = replace(fact, note=self.path, line=index + 1)
        self.facts[index] = placed
        return placed

    def remove_at(self, index: int) -> None:
        del self.lines[index]
        self.facts = {(i if i < index else i - 1): f for i, f in self.facts.items() if i != index}


# -- tombstones ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tombstone:
    """A forgotten fact or session: its id, when, and the fingerprint that blocks re-learning."""

    id: str
    forgotten: dt.date
    fingerprint: str = ""
    sources: tuple[str, ...] = ()  # message ids the fact came from
    kind: str = "fact"


def parse_tombstones(text: str) -> list[Tombstone]:
    stones = []
    for line in text.splitlines():
        item = _ITEM.match(line)
        if item is None:
            continue
        head, fields = _split_fields(item.group("body"))
        values = dict(fields)
        ident = head.split()[0] if head.split() else ""
        if not ident:
            continue
        stones.append(
            Tombstone(
                id=ident,
                forgotten=_date(values.get("forgotten", "")) or dt.date.today(),
                fingerprint=values.get("fingerprint", ""),
                sources=tuple(s for s in re.split(r"[,\s]+", values.get("sources", "")) if s),
                kind=values.get("kind", "fact"),
            )
        )
    return stones


def render_tombstone(stone: Tombstone) -> str:
    parts = [f"- {stone.id}", f"[kind:: {stone.kind}]", f"[forgotten:: {stone.forgotten}]"]
    if stone.fingerprint:
        parts.append(f"[fingerprint:: {stone.fingerprint}]")
    if stone.sources:
        parts.append(f"[sources:: {', '.join(stone.sources)}]")
    return " ".join(parts)


def new_tombstone_note() -> list[str]:
    return [
        "---",
        *dump_yaml_mapping({"type": "forgotten"}),
        "---",
        "",
        "# Forgotten",
        "",
        "Facts and sessions you removed. amos-vault never learns these again. Only a",
        "fingerprint of each fact's wording is kept here, never the text itself; delete a line to",
        "let amos-vault learn that fact again.",
        "",
    ]


# -- summaries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryLine:
    """One sentence of a summary and the message it comes from."""

    text: str
    message_id: str
    author: str = ""


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def render_summary_body(
    title: str, session_link: str, lines: Iterable[SummaryLine], facts: Iterable[Fact]
) -> str:
    """The body (after the front-matter) of a session's summary note."""
    out = [f"# Summary: {title}", "", f"Session: [[{session_link}]]", ""]
    for line in lines:
        who = f"{line.author}: " if line.author else ""
        out.append(f"- {who}{' '.join(line.text.split())} [[{session_link}#^{line.message_id}]]")
    learned = [f for f in facts if f.id]
    if learned:
        out += ["", "## Facts learned", ""]
        out += [f"- [[{f.note.removesuffix('.md')}#^{f.id}|{f.type}]] {f.text}" for f in learned]
    return "\n".join(out) + "\n"


def fact_link(fact: Fact) -> str:
    """The link target of a placed fact: "memory/context#^f-9c1d2e3f"."""
    return f"{fact.note.removesuffix('.md')}#^{fact.id}"


def fact_id_of_link(target: str) -> str:
    match = _FACT_ID.search(target)
    return match.group("id") if match else ""
