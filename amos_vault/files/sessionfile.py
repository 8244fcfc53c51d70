"""The session file format: parse and serialize, byte-for-byte when nothing changed.

A session file is Markdown with YAML front-matter::

    ---
    id: 7f3a2b1c9d0e
    title: Plan the MVP
    status: active
    ...
    ---

    # Plan the MVP

    **user** · 2026-11-20 10:02:11Z ^m-1a2b3c4d

    Free Markdown content: headings, code fences, `---` lines, tables...

    **assistant** · 2026-11-20 10:02:15Z ^m-5e6f7a8b
    <!-- amos-meta: {"model": "llama3.2"} -->

    The reply.

Each message starts at a header line ``**role** · timestamp ^id``; the ``^id`` is an Obsidian
block id, so ``[[file#^m-1a2b3c4d]]`` links to the message. A content line that would read as a
header (or as the metadata comment) is written with one extra leading backslash and read back
without it, so no content can break the parse.

Parsing keeps every raw line; serializing re-renders only what changed (a new message, an edited
front-matter key), so an unchanged file round-trips to the same bytes, CRLF and BOM included,
and unknown front-matter keys and comments stay untouched.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amos_vault.core.errors import InvalidInputError, ParseError
from amos_vault.files.frontmatter import (
    BOM,
    MAX_DEPTH,
    MISSING,
    decode_text,
    dump_yaml_mapping,
    front_matter_end,
    key_index,
    load_yaml_lines,
    opens_front_matter,
    parse_front_matter_lines,
    replace_key,
    shape_problem,
    unclosed_front_matter_error,
)

ROLES = ("user", "assistant", "system")
STATUSES = ("active", "paused", "completed", "archived")
KINDS = ("persistent", "ephemeral")
UTC = dt.UTC

_HEADER_PREFIX = r"\*\*(?:user|assistant|system)\*\*[ \t]+[·—-][ \t]+\S"
_META_PREFIX = r"<!-- amos-meta:"
HEADER_RE = re.compile(
    r"^\*\*(?P<role>user|assistant|system)\*\*[ \t]+[·—-][ \t]+"
    r"(?P<stamp>\S.*?)(?:[ \t]+\^(?P<id>[A-Za-z0-9-]+))?[ \t\r]*$",
    re.IGNORECASE,
)
META_RE = re.compile(r"^<!-- amos-meta: (?P<json>.*) -->\r?$")
_NEEDS_ESCAPE_RE = re.compile(rf"^\\*(?:{_HEADER_PREFIX}|{_META_PREFIX})", re.IGNORECASE)
_ESCAPED_RE = re.compile(rf"^\\+(?:{_HEADER_PREFIX}|{_META_PREFIX})", re.IGNORECASE)
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9-]+$")


def now_utc() -> dt.datetime:
    """The current time in UTC, to the second (the precision a file keeps)."""
    return dt.datetime.now(UTC).replace(microsecond=0)


def format_timestamp(value: dt.datetime) -> str:
    """``2026-11-20 10:02:11Z``: UTC, readable, and parsed back exactly."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") + "Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse an ISO-8601 timestamp (``Z``, ``UTC`` or an offset; naive means UTC)."""
    cleaned = text.strip()
    if cleaned.upper().endswith(" UTC"):
        cleaned = cleaned[:-4] + "+00:00"
    value = dt.datetime.fromisoformat(cleaned)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def coerce_datetime(value: Any) -> dt.datetime:
    """A front-matter date/time value (YAML timestamp, date or string) as an aware datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError(f"not a date or time: {value!r}")


def normalize_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Message metadata as plain JSON data (what the file can hold), or `InvalidInputError`."""
    if not metadata:
        return {}
    try:
        data = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"message metadata must be JSON data (strings, numbers, lists, objects): {exc}"
        ) from exc
    return data  # type: ignore[no-any-return]


def check_text(value: str, what: str) -> None:
    """Refuse text a Markdown file cannot hold: NUL bytes and lone surrogates."""
    if "\x00" in value:
        raise InvalidInputError(f"{what} contains a NUL character", hint="remove it and retry")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} is not valid Unicode text: {exc.reason}") from exc


@dataclass(frozen=True)
class Message:
    """One message of a session: who said what, when, with a stable id links can point at."""

    id: str
    role: str
    content: str
    timestamp: dt.datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    line: int = field(default=0, compare=False)
    """1-based line of the message header in its file (0 when not read from a file)."""

    @property
    def anchor(self) -> str:
        """The Obsidian block reference of this message: ``^<id>``."""
        return f"^{self.id}"

    @property
    def quotes_vault(self) -> bool:
        """An answer that only quotes the vault back (no model answered: the evidence list),
        not something said: not indexed, summarized or mined again."""
        said = self.metadata if isinstance(self.metadata, dict) else {}
        return self.role == "assistant" and said.get("engine") == "extractive"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "role": self.role,
            "timestamp": format_timestamp(self.timestamp),
            "content": self.content,
            "metadata": self.metadata,
        }


def _escape(line: str) -> str:
    return "\\" + line if _NEEDS_ESCAPE_RE.match(line) else line


def _unescape(line: str) -> str:
    return line[1:] if _ESCAPED_RE.match(line) else line


def render_message_lines(message: Message) -> list[str]:
    """The lines of one message block in the canonical layout."""
    lines = [f"**{message.role}** · {format_timestamp(message.timestamp)} ^{message.id}", ""]
    if message.metadata:
        # '>' only occurs inside JSON strings; escaping it keeps '-->' out of the comment.
        payload = json.dumps(message.metadata, ensure_ascii=False, sort_keys=True)
        lines.append("<!-- amos-meta: " + payload.replace(">", "\\u003e") + " -->")
    lines.extend(_escape(line) for line in message.content.split("\n"))
    return lines


@dataclass
class _Block:
    lines: list[str] | None  # raw lines as read, or None when the message must be rendered
    separator: str | None  # the blank line that follows the block ("" or "\r"), if any


@dataclass
class SessionDocument:
    """A parsed session file: its front-matter mapping, its messages, and its raw text."""

    meta: dict[str, Any]
    messages: list[Message]
    newline: str = "\n"
    line_suffix: str = ""  # "\r" on new lines of a mixed file whose first line ends in CRLF
    bom: bool = False
    final_newline: bool = True
    front_matter_lines: list[str] | None = None
    front_matter_open: str = "---"
    front_matter_close: str = "---"
    preamble: list[str] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    """Non-fatal findings while parsing: (line, message)."""
    _original_meta: dict[str, Any] = field(default_factory=dict)
    _blocks: list[_Block] = field(default_factory=list)
    _unwritten_ids: set[int] = field(default_factory=set)

    @classmethod
    def new(cls, meta: dict[str, Any], title: str) -> SessionDocument:
        """A document for a new session, rendered in the canonical layout."""
        return cls(meta=meta, messages=[], preamble=["", f"# {title}", ""])

    def append_message(self, message: Message) -> None:
        """Add ``message`` at the end; earlier messages keep their bytes."""
        if self._blocks and self._blocks[-1].separator is None:
            self._blocks[-1].separator = self.line_suffix
        self._blocks.append(_Block(lines=None, separator=None))
        self.messages.append(message)
        self.final_newline = True

    def write_derived_ids(self) -> None:
        """Put ``^id`` on headers written by hand without one, so links to them hold; every
        other byte stays as it is."""
        for index in sorted(self._unwritten_ids):
            block = self._blocks[index]
            if block.lines is not None:
                header = block.lines[0]
                ending = "\r" if header.endswith("\r") else ""
                block.lines = [
                    f"{header.rstrip()} ^{self.messages[index].id}{ending}",
                    *block.lines[1:],
                ]
        self._unwritten_ids.clear()

    def key_line(self, key: str) -> int | None:
        """1-based file line of the top-level front-matter ``key``, if present."""
        index = key_index(self.front_matter_lines or (), key)
        return None if index is None else index + 2

    def render(self) -> bytes:
        """The file's bytes: raw lines where unchanged, canonical lines where changed."""
        lines: list[str] = []
        fm = self._render_front_matter()
        if fm is not None:
            lines += [self.front_matter_open, *fm, self.front_matter_close]
        lines += self.preamble
        for message, block in zip(self.messages, self._blocks, strict=True):
            if block.lines is not None:
                lines += block.lines
            else:
                lines += [line + self.line_suffix for line in render_message_lines(message)]
            if block.separator is not None:
                lines.append(block.separator)
        text = self.newline.join(lines) + (self.newline if self.final_newline else "")
        return ((BOM if self.bom else "") + text).encode("utf-8")

    def _render_front_matter(self) -> list[str] | None:
        if self.front_matter_lines is None:
            if not self.meta:
                return None
            self.front_matter_lines = dump_yaml_mapping(self.meta)
            self._original_meta = copy.deepcopy(self.meta)
            return self.front_matter_lines
        if self.meta == self._original_meta:
            return self.front_matter_lines
        lines = list(self.front_matter_lines)
        keys = list(self._original_meta) + [k for k in self.meta if k not in self._original_meta]
        for key in keys:
            old, new = self._original_meta.get(key, MISSING), self.meta.get(key, MISSING)
            if old != new:
                lines = replace_key(lines, key, new)
        if load_yaml_lines(lines) != self.meta:
            lines = dump_yaml_mapping(self.meta)  # an edit we could not make in place
        self.front_matter_lines = lines
        self._original_meta = copy.deepcopy(self.meta)
        return lines


DERIVED_PREFIX = "\x00"  # marks, during parsing only, an id the file does not hold yet


def _derive_message_id(header: str, seen: int) -> str:
    digest = hashlib.sha1(f"{header.strip()}|{seen}".encode()).hexdigest()
    return f"m-{digest[:8]}"


def parse_session_bytes(data: bytes, path: Path | None = None) -> SessionDocument:
    """Parse a session file's bytes.

    Raises `ParseError` (with the file and line) for what cannot be read at all: invalid
    UTF-8, NUL bytes, unclosed or malformed YAML front-matter, front-matter that is not a
    mapping, a message header with a bad timestamp or bad metadata comment.
    """
    text, bom = decode_text(data, path)
    # Split on CRLF only when every line ends so; a file with mixed endings is split on LF
    # (each line keeps its own CR, so it still round-trips), and new lines follow its first.
    crlf = text.count("\r\n")
    newline = "\r\n" if crlf and crlf == text.count("\n") else "\n"
    first_crlf = text.find("\n") > 0 and text[text.find("\n") - 1] == "\r"
    final_newline = text.endswith(newline)
    if final_newline:
        text = text[: -len(newline)]
    lines = text.split(newline)

    meta: dict[str, Any] = {}
    fm_lines: list[str] | None = None
    close = "---"
    start = 0
    if lines and opens_front_matter(lines[0]):
        end = front_matter_end(lines)
        if end is None:
            raise unclosed_front_matter_error(path)
        fm_lines, close, start = lines[1:end], lines[end], end + 1
        meta = parse_front_matter_lines(fm_lines, path)

    doc = SessionDocument(
        meta=meta,
        messages=[],
        newline=newline,
        bom=bom,
        final_newline=final_newline,
        line_suffix="\r" if newline == "\n" and first_crlf else "",
        front_matter_lines=fm_lines,
        front_matter_open=lines[0] if fm_lines is not None else "---",
        front_matter_close=close,
        _original_meta=copy.deepcopy(meta),
    )
    # A header line is one whose timestamp parses: prose such as "**User** - the person
    # typing" stays content.
    headers = [i for i in range(start, len(lines)) if _header_stamp(lines[i]) is not None]
    doc.preamble = lines[start : headers[0]] if headers else lines[start:]
    seen_headers: dict[str, int] = {}
    seen_ids: set[str] = set()
    # Ids the file holds: an id derived for a header typed by hand never repeats one (a
    # header copied from one whose id was written since would otherwise derive it again).
    taken = {
        match.group("id")
        for i in headers
        if (match := HEADER_RE.match(lines[i])) is not None and match.group("id")
    }
    for number, first in enumerate(headers):
        last = headers[number + 1] if number + 1 < len(headers) else len(lines)
        block = lines[first:last]
        separator = (
            block[-1]
            if number + 1 < len(headers) and len(block) > 1 and block[-1] in ("", "\r")
            else None
        )
        if separator is not None:
            block = block[:-1]
        message = _parse_block(block, first + 1, path, seen_headers, taken)
        if message.id.startswith(DERIVED_PREFIX):
            message = dataclasses.replace(message, id=message.id[len(DERIVED_PREFIX) :])
            doc._unwritten_ids.add(len(doc.messages))
        if message.id in seen_ids:
            doc.problems.append((first + 1, f"message id {message.id} is used twice"))
        seen_ids.add(message.id)
        doc.messages.append(message)
        doc._blocks.append(_Block(lines=block, separator=separator))
    return doc


def _header_stamp(line: str) -> dt.datetime | None:
    match = HEADER_RE.match(line)
    if match is None:
        return None
    try:
        return parse_timestamp(match.group("stamp"))
    except ValueError:
        return None


def _parse_block(
    block: list[str],
    line: int,
    path: Path | None,
    seen_headers: dict[str, int],
    taken: set[str],
) -> Message:
    match = HEADER_RE.match(block[0])
    timestamp = _header_stamp(block[0])
    assert match is not None and timestamp is not None
    message_id = match.group("id")
    if not message_id:  # written by hand without one: derived, and written at the next save
        count = seen_headers.get(block[0].strip(), 0)
        derived = _derive_message_id(block[0], count)
        while derived in taken:
            count += 1
            derived = _derive_message_id(block[0], count)
        seen_headers[block[0].strip()] = count + 1
        taken.add(derived)
        message_id = DERIVED_PREFIX + derived
    # Canonical layout: header, blank line, [metadata comment], content. By hand, people also
    # write the comment right under the header and a blank line after it; accept both.
    blank_first = len(block) > 1 and block[1] in ("", "\r")
    index = 2 if blank_first else 1
    metadata: dict[str, Any] = {}
    if index < len(block) and (meta_match := META_RE.match(block[index])):
        try:
            metadata = json.loads(meta_match.group("json"))
        except (ValueError, RecursionError):
            metadata = MISSING  # type: ignore[assignment]
        if isinstance(metadata, dict) and shape_problem(metadata):
            metadata = MISSING  # type: ignore[assignment]
        if not isinstance(metadata, dict):
            raise ParseError(
                "the message metadata comment does not hold a JSON object (or one nested "
                f"more than {MAX_DEPTH} levels deep)",
                hint='write it as <!-- amos-meta: {"key": "value"} -->, or delete the line',
                path=path,
                line=line + index,
            )
        index += 1
        if not blank_first and index < len(block) and block[index] in ("", "\r"):
            index += 1
    content = "\n".join(_unescape(text) for text in block[index:])
    return Message(
        id=message_id,
        role=match.group("role").lower(),
        content=content,
        timestamp=timestamp,
        metadata=metadata,
        line=line,
    )


def read_session_file(path: Path, max_mb: float) -> tuple[SessionDocument, bytes]:
    """Read and parse ``path``; refuses files over ``max_mb`` MiB (checked before reading)."""
    try:
        size = path.stat().st_size
        if size > max_mb * 2**20:
            shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes"
            raise ParseError(
                f"file is {shown}, over the {max_mb:g} MiB limit for session files",
                hint="split it, or raise sessions.max_file_mb in .amos/config.toml",
                path=path,
            )
        data = path.read_bytes()
    except IsADirectoryError:
        raise ParseError("is a folder, not a file", path=path) from None
    except PermissionError:
        raise ParseError("cannot be read: permission denied", path=path) from None
    return parse_session_bytes(data, path), data


@dataclass(frozen=True)
class SessionHeader:
    """The typed, validated view of a session's front-matter."""

    id: str
    title: str
    status: str
    kind: str
    identity: str | None
    user_id: str | None
    parent: str | None
    parent_id: str | None
    created: dt.datetime | None
    updated: dt.datetime | None
    tags: tuple[str, ...]


def _optional_str(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key} must be text, not {type(value).__name__} ({value!r})")
    return str(value)


def _choice(meta: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = meta.get(key, default)
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)} (found {value!r})")
    return str(value)


def read_header(doc: SessionDocument, path: Path | None = None) -> SessionHeader:
    """Validate the front-matter of a session; `ParseError` names the key's line."""
    meta = doc.meta
    checks: list[tuple[str, Any]] = []

    def field_of(key: str, read: Any) -> Any:
        try:
            return read()
        except ValueError as exc:
            checks.append((key, exc))
            return None

    if doc.front_matter_lines is None and not doc.messages and not "".join(doc.preamble).strip():
        raise ParseError(
            "the file is empty: a session needs front-matter with at least an id",
            hint="delete the file, or start it with '---', 'id: <some id>', '---'",
            path=path,
            line=1,
        )
    session_id = field_of("id", lambda: _optional_str(meta, "id"))
    if session_id is None and not checks:
        raise ParseError(
            "the front-matter has no id, so this is not a session",
            hint="add a line 'id: <unique id>' to the front-matter (or move the file out of "
            "the sessions folder)",
            path=path,
            line=2 if doc.front_matter_lines is not None else 1,
        )

    def tags() -> tuple[str, ...]:
        value = meta.get("tags") or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(t, str | int) for t in value):
            raise ValueError(f"tags must be a list of words, not {value!r}")
        return tuple(str(t) for t in value)

    def when(key: str) -> dt.datetime | None:
        value = meta.get(key)
        return None if value is None else coerce_datetime(value)

    title = field_of("title", lambda: _optional_str(meta, "title"))
    header = SessionHeader(
        id=session_id or "",
        title=title or (path.stem if path else session_id or ""),
        status=field_of("status", lambda: _choice(meta, "status", STATUSES, "active")),
        kind=field_of("kind", lambda: _choice(meta, "kind", KINDS, "persistent")),
        identity=field_of("identity", lambda: _optional_str(meta, "identity")),
        user_id=field_of("user_id", lambda: _optional_str(meta, "user_id")),
        parent=field_of("parent", lambda: _optional_str(meta, "parent")),
        parent_id=field_of("parent_id", lambda: _optional_str(meta, "parent_id")),
        created=field_of("created", lambda: when("created")),
        updated=field_of("updated", lambda: when("updated")),
        tags=field_of("tags", tags) or (),
    )
    if checks:
        key, exc = checks[0]
        raise ParseError(
            f"front-matter {exc}",
            hint=f"fix the '{key}' line of the front-matter",
            path=path,
            line=doc.key_line(key),
        )
    return header
