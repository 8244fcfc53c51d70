"""Front-matter: the one reader and writer of the YAML block at the top of a vault file.

Every file that has front-matter (sessions, memory notes, summaries, ``identity.md``) is read
here, with one set of rules:

- the block opens with a first line ``---`` (after a UTF-8 byte order mark, if any) and closes
  with the next line that is ``---`` or ``...`` (YAML's document end marker); trailing spaces
  and a CR (CRLF text) on either line are allowed;
- the YAML between them must be a mapping, not nested too deep (see `shape_problem`);
- `parse_front_matter` refuses what cannot be read with a `ParseError` naming the line (a
  session must be readable); `read_front_matter` never raises: a malformed block reads as
  ``{}`` with the reason in ``problem``, so the file is still read (and indexed) as text.

Writers use `dump_yaml_mapping` for a new block and `replace_key` to change one key of an
existing block in place, so unchanged lines (comments, unknown keys) keep their bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from amos_vault.core.errors import ParseError

BOM = "\ufeff"
OPENING = "---"
CLOSINGS = ("---", "...")  # "..." ends a YAML document too

_TOP_KEY_RE = re.compile(r"^(['\"]?)(?P<key>[A-Za-z0-9_][\w.\- ]*?)\1[ \t]*:(?:[ \t]|$)")

# Order of the keys in a newly written front-matter block.
CANONICAL_KEYS = (
    "id",
    "title",
    "identity",
    "user_id",
    "status",
    "kind",
    "parent",
    "parent_id",
    "created",
    "updated",
    "tags",
)


def opens_front_matter(line: str) -> bool:
    """Whether ``line``, a file's first line, opens a front-matter block."""
    return line.removeprefix(BOM).rstrip() == OPENING


def front_matter_end(lines: Sequence[str]) -> int | None:
    """Index of the line that closes the front-matter block opened by ``lines[0]``; None when
    the first line opens no block, or no line closes it."""
    if not lines or not opens_front_matter(lines[0]):
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in CLOSINGS:
            return index
    return None


def key_index(lines: Sequence[str], key: str) -> int | None:
    """Index in ``lines`` (the YAML lines of a block) of the top-level ``key``, if present."""
    for index, line in enumerate(lines):
        match = _TOP_KEY_RE.match(line)
        if match and match.group("key") == key:
            return index
    return None


@dataclass(frozen=True)
class FrontMatter:
    """A file's text split at its front-matter block."""

    meta: dict[str, Any]
    """The mapping ({} when there is no block, or a block that cannot be read)."""
    lines: list[str] | None
    """The YAML lines between the markers, as written (None when there is no block)."""
    body: str
    """The text after the block (all of it, without a byte order mark, when there is none)."""
    body_offset: int
    """Where ``body`` starts in the text given (a byte order mark included)."""
    problem: str = ""
    """Why a block that is there reads as {} (empty when it reads fine)."""

    def key_line(self, key: str) -> int | None:
        """1-based file line of the top-level ``key``, if present."""
        index = key_index(self.lines or (), key)
        return None if index is None else index + 2


def _split(text: str, path: Path | None, strict: bool) -> FrontMatter:
    skipped = len(BOM) if text.startswith(BOM) else 0
    lines = text[skipped:].split("\n")
    end = front_matter_end(lines)
    if end is None:
        if strict and lines and opens_front_matter(lines[0]):
            raise unclosed_front_matter_error(path)
        return FrontMatter({}, None, text[skipped:], skipped)
    offset = min(len(text), skipped + sum(len(line) + 1 for line in lines[: end + 1]))
    yaml_lines = lines[1:end]
    try:
        meta = parse_front_matter_lines(yaml_lines, path)
    except ParseError as exc:
        if strict:
            raise
        return FrontMatter({}, yaml_lines, text[offset:], offset, exc.message)
    return FrontMatter(meta, yaml_lines, text[offset:], offset)


def read_front_matter(text: str) -> FrontMatter:
    """``text`` split at its front-matter; never raises (a malformed block reads as {})."""
    return _split(text, None, strict=False)


def parse_front_matter(text: str, path: Path | None = None) -> FrontMatter:
    """``text`` split at its front-matter; `ParseError` (with the line) when the block is
    never closed or cannot be read as a mapping."""
    return _split(text, path, strict=True)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front-matter mapping, body) of ``text``; a malformed block reads as {}."""
    front = read_front_matter(text)
    return front.meta, front.body


def render_front_matter(meta: dict[str, Any], body: str) -> str:
    """A file's text: ``meta`` as a new front-matter block, then ``body``."""
    return "---\n" + "\n".join(dump_yaml_mapping(meta)) + "\n---\n" + body


def unclosed_front_matter_error(path: Path | None) -> ParseError:
    """The error for a block opened on line 1 and never closed."""
    return ParseError(
        "the front-matter opened on line 1 is never closed with a '---' line",
        hint="add a '---' line after the front-matter",
        path=path,
        line=1,
    )


MISSING = object()  # a key that is absent (a value may be None), or YAML that failed


class _FrontMatterDumper(yaml.SafeDumper):
    """Block style for the top-level mapping, flow style for short inner lists (``[a, b]``)."""

    _top_level = True

    def ignore_aliases(self, data: Any) -> bool:
        return True  # never write anchors (&id001) when two keys share one value

    def represent_mapping(self, tag: str, mapping: Any, flow_style: bool | None = None) -> Any:
        if self._top_level:
            self._top_level = False
            flow_style = False
        return super().represent_mapping(tag, mapping, flow_style)


def _dump_yaml(data: dict[str, Any]) -> str:
    options: dict[str, Any] = {
        "Dumper": _FrontMatterDumper,
        "sort_keys": False,
        "default_flow_style": None,
        "width": 1_000_000,
    }
    text = yaml.dump(data, allow_unicode=True, **options)
    if yaml.safe_load(text) != data:  # some Unicode line breaks do not survive unescaped
        text = yaml.dump(data, **options)
    return str(text)


def dump_yaml_mapping(meta: dict[str, Any]) -> list[str]:
    """Front-matter lines for ``meta``, known keys first in canonical order."""
    ordered = {k: meta[k] for k in CANONICAL_KEYS if k in meta}
    ordered.update((k, v) for k, v in meta.items() if k not in ordered)
    return _dump_yaml(ordered).rstrip("\n").split("\n") if ordered else []


def load_yaml_lines(lines: list[str]) -> Any:
    """The data of the YAML ``lines`` ({} when empty), or `MISSING` when they are not YAML."""
    try:
        return yaml.safe_load("\n".join(lines)) or {}
    except yaml.YAMLError:
        return MISSING


_INLINE_COMMENT = re.compile(r"^[^#'\"]*?(?P<comment>[ \t]+#.*)$")


def replace_key(lines: list[str], key: str, value: Any) -> list[str]:
    """Replace (or remove, or append) one top-level key's lines, leaving the rest untouched.

    A key's block runs on through indented lines, list items, and blank lines that more of
    its indented lines follow. A comment at the end of a one-line value is kept.
    """
    start = end = None
    for index, line in enumerate(lines):
        match = _TOP_KEY_RE.match(line)
        if start is None:
            if match and match.group("key") == key:
                start, end = index, index + 1
        elif line[:1] in (" ", "\t") or line == "-" or line.startswith("- "):
            end = index + 1
        elif not line.strip():
            continue  # part of the value only if indented lines follow
        else:
            break
    new = [] if value is MISSING else _dump_yaml({key: value}).rstrip("\n").split("\n")
    if start is None or end is None:
        return lines + new
    if end == start + 1 and len(new) == 1:
        comment = _INLINE_COMMENT.match(lines[start].split(":", 1)[1])
        if comment:
            new = [new[0] + comment.group("comment")]
    return lines[:start] + new + lines[end:]


def decode_text(data: bytes, path: Path | None) -> tuple[str, bool]:
    """(text without its byte order mark, whether it had one) of a file's bytes; `ParseError`
    (with the line) for NUL bytes or bytes that are not UTF-8."""
    if b"\x00" in data:
        raise ParseError(
            "not a text file (it contains NUL bytes)",
            hint="move binary files out of the sessions folder",
            path=path,
            line=data[: data.index(b"\x00")].count(b"\n") + 1,
        )
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not valid UTF-8 text (bad byte 0x{data[exc.start]:02x})",
            hint="re-save the file as UTF-8 in your editor",
            path=path,
            line=data[: exc.start].count(b"\n") + 1,
        ) from exc
    return (text[1:] if bom else text), bom


def _flow_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in ``text`` at most (quotes not considered)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def parse_front_matter_lines(fm_lines: list[str], path: Path | None) -> dict[str, Any]:
    """The mapping the YAML ``fm_lines`` hold; `ParseError` (with the line) when they cannot
    be read, are not a mapping, or nest too deep."""
    text = "\n".join(fm_lines)
    # PyYAML takes time quadratic in the nesting of flow collections: 40,000 '[' take
    # minutes. Nothing a session needs nests that deep.
    if _flow_depth(text) > MAX_DEPTH:
        raise ParseError(
            f"the front-matter nests '[' or '{{' more than {MAX_DEPTH} levels deep",
            hint="fix the YAML between the '---' lines (quote a value full of brackets)",
            path=path,
            line=2,
        )
    try:
        value = yaml.safe_load(text)
    except (ValueError, TypeError, OverflowError, RecursionError, AttributeError) as exc:
        # PyYAML raises these for values it cannot build, e.g. the date 2026-02-30, or
        # (AttributeError) "!!timestamp" on text that is not a time.
        raise ParseError(
            f"the front-matter holds a value that cannot be read: {exc}",
            hint="fix the value (an impossible date?) between the '---' lines",
            path=path,
            line=2,
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        # YAML notices an unclosed bracket or quote lines later; the mistake is where the
        # construct it was parsing began, so point there.
        start = getattr(exc, "context_mark", None)
        if start is not None and mark is not None and start.line < mark.line:
            construct = getattr(exc, "context", None) or "the value"
            problem = f"{construct} that starts here: {problem} (on line {mark.line + 2})"
            mark = start
        raise ParseError(
            f"the front-matter is not valid YAML: {problem}",
            hint="fix the YAML between the '---' lines",
            path=path,
            line=(mark.line + 2) if mark is not None else 2,
        ) from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(
            f"the front-matter must be a mapping of keys to values, not a {type(value).__name__}",
            hint="write it as 'key: value' lines",
            path=path,
            line=2,
        )
    problem = shape_problem(value)
    if problem:
        raise ParseError(
            f"the front-matter {problem}",
            hint="YAML aliases (*name) that refer to themselves or repeat each other cannot be "
            "read; write the values out",
            path=path,
            line=2,
        )
    return {str(k): v for k, v in value.items()}


MAX_DEPTH = 100
MAX_VALUES = 100_000


def shape_problem(value: Any) -> str | None:
    """Why parsed YAML or JSON data is too deep or too big to handle (None when it is fine).

    YAML aliases can make a value that contains itself (``a: &a [*a]``) or that repeats a
    value exponentially often (a "billion laughs"); comparing, copying or writing either
    never ends or overflows the stack, so such data is refused when read."""
    count = 0

    def walk(node: Any, depth: int) -> str | None:
        nonlocal count
        count += 1
        if depth > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep (does an alias contain itself?)"
        if count > MAX_VALUES:
            return f"holds more than {MAX_VALUES} values (aliases repeating each other?)"
        if isinstance(node, dict):
            children = [*node.keys(), *node.values()]
        elif isinstance(node, list | tuple | set):
            children = list(node)
        else:
            return None
        for child in children:
            problem = walk(child, depth + 1)
            if problem:
                return problem
        return None

    return walk(value, 0)
