"""What every importer shares: the conversation model, reading an export file as a stream, and
the report.

An importer (`chatgpt`, `claude`, `jsonl`) turns an export into `ExportConversation` objects,
one at a time, and `Problem` lines for what it cannot read; `writer` turns each conversation
into sessions. The JSON exports are read with ijson, item by item, so memory stays bounded
whatever the size of the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from amos_vault.core.errors import AmosError

KINDS = ("chatgpt", "claude", "jsonl")
# The key every conversation of a JSON export has, which tells one kind from the other.
SIGN_OF_KIND = {"chatgpt": "mapping", "claude": "chat_messages"}
NAME_OF_KIND = {"chatgpt": "ChatGPT", "claude": "Claude", "jsonl": "JSON lines"}
CONVERSATIONS_FILE = "conversations.json"
TOOLS_LEFT_OUT = "tool message (--include-tools keeps it)"


class ImportInputError(AmosError):
    """The file given to an import cannot be read as that kind of export: missing, not JSON,
    the wrong kind of export, or a zip without conversations.json. Nothing was written."""


@dataclass
class ExportMessage:
    """One message (a node of the tree, for ChatGPT) of an exported conversation."""

    source_id: str
    """Its id in the export; kept in the session as message metadata ``source_id``."""
    parent: str | None = None
    """The source id of the message it answers or follows (tree exports only)."""
    role: str = ""
    text: str = ""
    time: dt.datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    left_out: str | None = None
    """Why it is not written (hidden, empty, tool message...), or None."""


@dataclass
class ExportConversation:
    """One conversation of an export, ready to be written as sessions."""

    kind: str
    id: str
    title: str
    created: dt.datetime | None
    updated: dt.datetime | None
    messages: list[ExportMessage]
    current: str | None = None
    """The message the export shows last (ChatGPT ``current_node``); None: the last one."""
    tree: bool = False
    """Whether ``parent`` links order the messages (else the list order does)."""
    problems: list[str] = field(default_factory=list)
    """What was wrong but did not stop it being imported."""

    @property
    def source(self) -> str:
        """``<kind>:<conversation id>``: the ``source`` front-matter of its main session."""
        return f"{self.kind}:{self.id}"

    def last_activity(self) -> dt.datetime | None:
        """When anything last happened in it (for ``--since``)."""
        times = [m.time for m in self.messages if m.time is not None]
        times += [t for t in (self.updated, self.created) if t is not None]
        return max(times) if times else None


@dataclass(frozen=True)
class Problem:
    """One thing in the export that could not be imported, said in one line."""

    message: str
    conversation: str | None = None
    title: str | None = None

    def __str__(self) -> str:
        if self.conversation is None:
            return self.message
        named = f" ({self.title})" if self.title else ""
        return f"conversation {self.conversation}{named}: {self.message}"


Item = ExportConversation | Problem


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    kind: str
    path: str
    dry_run: bool = False
    conversations: int = 0
    """Conversations read from the export."""
    sessions_created: int = 0
    branches_created: int = 0
    """Of the sessions created, those holding a branch (an edit or a regeneration)."""
    sessions_updated: int = 0
    sessions_unchanged: int = 0
    messages_created: int = 0
    """Messages written into new sessions."""
    messages_appended: int = 0
    """New messages appended to sessions imported before."""
    messages_left_out: Counter[str] = field(default_factory=Counter)
    conversations_skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    bytes_read: int = 0
    bytes_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "path": self.path,
            "dry_run": self.dry_run,
            "conversations": self.conversations,
            "sessions_created": self.sessions_created,
            "branches_created": self.branches_created,
            "sessions_updated": self.sessions_updated,
            "sessions_unchanged": self.sessions_unchanged,
            "messages_created": self.messages_created,
            "messages_appended": self.messages_appended,
            "messages_left_out": dict(self.messages_left_out),
            "conversations_skipped": dict(self.conversations_skipped),
            "problems": list(self.problems),
        }


Progress = Callable[[ImportReport], None]


# -- values --------------------------------------------------------------------------------
def parse_time(value: Any) -> dt.datetime | None:
    """A time from an export (epoch seconds, or ISO 8601 text) in UTC to the second; None when
    it is missing or cannot be read."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            moment = dt.datetime.fromtimestamp(float(value), dt.UTC)
        elif isinstance(value, str) and value.strip():
            text = value.strip()
            moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def clean_text(value: Any) -> str:
    """Text a session file can hold: a string, line ends as ``\\n``, no NUL, valid Unicode,
    no blank lines around it."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8").strip()


def clean_title(value: Any, messages: list[ExportMessage]) -> str:
    """A one-line title: the export's, else the start of the first thing the user said
    (placeholders such as ``[image]`` aside)."""
    title = " ".join(clean_text(value).split())
    if not title:
        first = next((m.text for m in messages if m.role == "user" and m.text), "")
        said = [ln for ln in first.split("\n") if not (ln[:1] == "[" and ln[-1:] == "]")]
        words = " ".join(" ".join(said).split()[:8])
        title = words[:80].rstrip() or "Untitled conversation"
    return title


def text_of(value: Any) -> str:
    """The id an export gives something, as text (ids may come as numbers)."""
    if isinstance(value, bool) or value is None:
        return ""
    return clean_text(str(value)) if isinstance(value, str | int | float) else ""


def object_of(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (exports leave fields out)."""
    return value if isinstance(value, dict) else {}


def list_of(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def fallback_id(*parts: Any) -> str:
    """An id for a conversation the export gives none: derived from what it does give, so it
    stays the same over exports."""
    seed = "|".join(str(p) for p in parts).encode()
    return "untitled-" + hashlib.blake2b(seed, digest_size=8).hexdigest()


def fence(text: str, language: str = "") -> str:
    """``text`` as a Markdown code block (a fence longer than any backtick run inside)."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{language}\n{text}\n{ticks}"


# -- reading the export --------------------------------------------------------------------
class CountingReader:
    """A binary stream that counts the bytes read (for progress) and can put bytes back."""

    def __init__(self, raw: IO[bytes], report: ImportReport) -> None:
        self._raw = raw
        self._report = report
        self._pushed = b""

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative)."""
        if self._pushed:
            data, self._pushed = self._pushed, b""
            if size < 0:
                data += self._raw.read()
            elif len(data) > size:
                data, self._pushed = data[:size], data[size:]
        else:
            data = self._raw.read(size)
        self._report.bytes_read += len(data)
        return data

    def peek_start(self) -> bytes:
        """The first byte that is not white space (nor a UTF-8 BOM); b"" for an empty file.
        Nothing is consumed but the BOM and the white space."""
        while True:
            chunk = self.read(4096)
            if not chunk:
                return b""
            stripped = chunk.removeprefix(b"\xef\xbb\xbf").lstrip()
            if stripped:
                self._pushed = stripped + self._pushed
                self._report.bytes_read -= len(stripped)
                return stripped[:1]


@contextlib.contextmanager
def open_export(path: Path, kind: str, report: ImportReport) -> Iterator[CountingReader]:
    """The export's conversations as a byte stream: ``path`` itself, the conversations.json
    of an export's folder, or the one inside its .zip."""
    if not path.exists():
        raise ImportInputError(f"there is no file at {path}", hint="check the path")
    if path.is_dir():
        path = path / CONVERSATIONS_FILE
        if not path.is_file():
            raise ImportInputError(
                f"the folder {path.parent} holds no {CONVERSATIONS_FILE}",
                hint="give the export's .zip as downloaded, or the conversations.json in it",
            )
    if zipfile.is_zipfile(path):
        if kind == "jsonl":
            raise ImportInputError(
                f"{path} is a zip archive, not JSON lines",
                hint="a ChatGPT or Claude export .zip: `amosvault import chatgpt|claude PATH`",
            )
        with contextlib.ExitStack() as stack:
            try:
                archive = stack.enter_context(zipfile.ZipFile(path))
                member = _conversations_member(archive, path)
                raw = stack.enter_context(archive.open(member))
            except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as exc:
                raise ImportInputError(
                    f"{path} is a damaged zip archive ({exc})",
                    hint="download the export again",
                ) from None
            report.bytes_total = member.file_size
            yield CountingReader(raw, report)
        return
    report.bytes_total = path.stat().st_size
    with path.open("rb") as raw:
        yield CountingReader(raw, report)


def _conversations_member(archive: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    found = [
        info
        for info in archive.infolist()
        if info.filename.rsplit("/", 1)[-1] == CONVERSATIONS_FILE and not info.is_dir()
    ]
    if not found:
        raise ImportInputError(
            f"{path} is a zip archive without {CONVERSATIONS_FILE}: not a chat export",
            hint="give the .zip of a ChatGPT or Claude data export, or its conversations.json",
        )
    return min(found, key=lambda info: info.filename.count("/"))


def iter_json_conversations(
    path: Path, kind: str, report: ImportReport
) -> Iterator[dict[str, Any] | Problem]:
    """The conversations of a JSON export (a list of objects), one at a time.

    Whole-file problems found before the first conversation raise `ImportInputError`: not
    JSON, not a list, the other kind of export. A file that breaks off later (truncated) ends
    with a `Problem`, after every conversation read before the break."""
    import ijson

    name = NAME_OF_KIND[kind]
    with open_export(path, kind, report) as stream:
        start = stream.peek_start()
        if start != b"[":
            raise ImportInputError(_not_a_list(path, name, start), hint=_hint(kind))
        count = 0
        try:
            for item in ijson.items(stream, "item", use_float=True):
                if count == 0:
                    _check_kind(item, path, kind, name)
                count += 1
                if isinstance(item, dict):
                    yield item
                else:
                    kind_of = type(item).__name__
                    yield Problem(f"item {count} of the export is a {kind_of}, not a conversation")
        except (ijson.JSONError, zipfile.BadZipFile, zlib.error, RuntimeError, OSError) as exc:
            # A damaged zip member (CRC error, an encrypted member) breaks off the same way.
            if count == 0:
                raise ImportInputError(
                    f"{path} is not a complete JSON file ({_json_reason(exc)})",
                    hint=f"download the export again; {_hint(kind)}",
                ) from exc
            yield Problem(
                f"the export breaks off after {count} conversation(s) (truncated or damaged: "
                f"{_json_reason(exc)}); those were imported, the rest could not be read"
            )


def _json_reason(exc: Exception) -> str:
    return str(exc).strip().split("\n")[0][:160] or type(exc).__name__


def _not_a_list(path: Path, name: str, start: bytes) -> str:
    if not start:
        return f"{path} is empty, not a {name} export"
    if start == b"{":
        return (
            f"{path} holds a JSON object, not a {name} export (whose {CONVERSATIONS_FILE} is "
            "a list of conversations)"
        )
    return f"{path} is not JSON, so not a {name} export"


def _hint(kind: str) -> str:
    return (
        f"`amosvault import {kind}` reads the .zip of a {kind} data export or the "
        f"{CONVERSATIONS_FILE} in it; other chats can be converted to `amosvault import jsonl`"
    )


def _check_kind(item: Any, path: Path, kind: str, name: str) -> None:
    if isinstance(item, dict) and SIGN_OF_KIND[kind] in item:
        return
    for other, key in SIGN_OF_KIND.items():
        if other != kind and isinstance(item, dict) and key in item:
            raise ImportInputError(
                f"{path} is a {NAME_OF_KIND[other]} export, not a {name} one",
                hint=f"run `amosvault import {other} {path}`",
            )
    raise ImportInputError(
        f"{path} is not a {name} export: its first item has no '{SIGN_OF_KIND[kind]}'",
        hint=_hint(kind),
    )
