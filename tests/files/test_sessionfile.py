"""The session file format: exact round trips, hostile content, hand edits."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amos_vault.core.errors import ParseError
from amos_vault.files.sessionfile import (
    Message,
    SessionDocument,
    parse_session_bytes,
    read_header,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)

HAND_WRITTEN = """---
# a comment the tool must keep
id: 7f3a2b1c9d0e
title: Plan the MVP
status: active
kind: persistent
created: 2026-11-20T10:00:00Z
tags:
  - work
  - mvp
obsidian_cssclass: wide   # unknown key, kept
---

# Plan the MVP

Some notes the user typed above the first message.

**user** · 2026-11-20 10:02:11Z ^m-1a2b3c4d

What should the MVP contain?

**assistant** · 2026-11-20T10:02:15+00:00 ^m-5e6f7a8b
<!-- amos-meta: {"model": "llama3.2"} -->

Three parts:

## Storage
---
| a | b |
|---|---|
```yaml
---
id: not-front-matter
---
```
**User** - 2026-11-21 09:00 UTC

A message added by hand, without an id.
"""


def test_hand_written_file_parses_and_round_trips_byte_for_byte() -> None:
    data = HAND_WRITTEN.encode()
    doc = parse_session_bytes(data)
    assert doc.render() == data
    header = read_header(doc)
    assert header.id == "7f3a2b1c9d0e"
    assert header.tags == ("work", "mvp")
    assert [m.role for m in doc.messages] == ["user", "assistant", "user"]
    assert doc.messages[0].id == "m-1a2b3c4d"
    assert doc.messages[1].metadata == {"model": "llama3.2"}
    assert doc.messages[1].content.startswith("Three parts:\n\n## Storage\n---\n| a | b |")
    assert "id: not-front-matter" in doc.messages[1].content
    hand = doc.messages[2]
    assert hand.content == "A message added by hand, without an id."
    assert hand.timestamp == dt.datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert hand.id.startswith("m-")
    # The id derived for a message written without one is stable across reads.
    assert parse_session_bytes(data).messages[2].id == hand.id
    assert doc.messages[0].line == 18


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: "\ufeff" + t, id="bom"),
        pytest.param(lambda t: "\ufeff" + t.replace("\n", "\r\n"), id="bom-crlf"),
        pytest.param(lambda t: t.rstrip("\n"), id="no-final-newline"),
        pytest.param(lambda t: t + "\n\n", id="trailing-blank-lines"),
    ],
)
def test_unchanged_file_round_trips_in_every_encoding_variant(transform) -> None:
    data = transform(HAND_WRITTEN).encode()
    assert parse_session_bytes(data).render() == data


def test_appending_keeps_earlier_bytes_line_endings_and_bom() -> None:
    original = ("\ufeff" + HAND_WRITTEN.replace("\n", "\r\n")).encode()
    doc = parse_session_bytes(original)
    before = [m for m in doc.messages]
    doc.append_message(Message("m-99", "assistant", "New\nreply", T0))
    out = doc.render()
    assert out.startswith(original)  # nothing before the new message changed
    assert b"\n" not in out.replace(b"\r\n", b"")  # CRLF kept for the new lines too
    again = parse_session_bytes(out)
    assert again.messages[:3] == before
    assert again.messages[3] == Message("m-99", "assistant", "New\nreply", T0)


def test_front_matter_edit_touches_only_that_key() -> None:
    doc = parse_session_bytes(HAND_WRITTEN.encode())
    doc.meta["status"] = "paused"
    doc.meta["tags"] = ["work"]
    text = doc.render().decode()
    assert "status: paused\n" in text
    assert "tags: [work]\nobsidian_cssclass: wide   # unknown key, kept\n" in text
    assert "# a comment the tool must keep\n" in text
    assert "created: 2026-11-20T10:00:00Z\n" in text
    # Everything after the front-matter is untouched.
    assert text.split("---\n", 2)[2] == HAND_WRITTEN.split("---\n", 2)[2]


def test_new_key_is_appended_and_values_that_need_quoting_are_quoted() -> None:
    doc = parse_session_bytes(HAND_WRITTEN.encode())
    doc.meta["parent"] = "[[2026-11-19-earlier-abcd]]"
    doc.meta["title"] = "yes: no # not a comment"
    reread = parse_session_bytes(doc.render())
    assert reread.meta["parent"] == "[[2026-11-19-earlier-abcd]]"
    assert reread.meta["title"] == "yes: no # not a comment"
    assert reread.meta["obsidian_cssclass"] == "wide"


def test_content_that_looks_like_a_header_or_metadata_is_escaped() -> None:
    tricky = "\n".join(
        [
            "**user** · 2026-11-20 10:00:00Z ^m-fake",
            "\\**assistant** · already escaped once",
            '<!-- amos-meta: {"x": 1} -->',
            "---",
            "```",
        ]
    )
    doc = SessionDocument.new({"id": "x", "title": "t"}, "t")
    doc.append_message(Message("m-1", "user", tricky, T0, {"k": "-->"}))
    doc.append_message(Message("m-2", "assistant", "", T0))
    parsed = parse_session_bytes(doc.render())
    assert [m.content for m in parsed.messages] == [tricky, ""]
    assert parsed.messages[0].metadata == {"k": "-->"}
    assert '-->"' not in doc.render().decode()  # the comment cannot be closed early


def test_hand_edit_of_a_message_is_picked_up() -> None:
    doc = parse_session_bytes(HAND_WRITTEN.encode())
    edited = HAND_WRITTEN.replace("What should the MVP contain?", "What must the MVP do?")
    again = parse_session_bytes(edited.encode())
    assert again.messages[0].content == "What must the MVP do?"
    assert again.messages[0].id == doc.messages[0].id


def test_a_header_like_line_without_a_real_timestamp_is_content() -> None:
    text = HAND_WRITTEN.replace("**User** - 2026-11-21 09:00 UTC", "**User** - the person typing")
    doc = parse_session_bytes(text.encode())
    assert len(doc.messages) == 2
    assert "**User** - the person typing" in doc.messages[1].content
    assert doc.render() == text.encode()


def test_mixed_line_endings_round_trip_and_keep_headers() -> None:
    lf_first = HAND_WRITTEN.replace("ids.\n", "ids.\r\n").replace(
        "^m-5e6f7a8b\n", "^m-5e6f7a8b\r\n"
    )
    doc = parse_session_bytes(lf_first.encode())
    assert [m.id for m in doc.messages][:2] == ["m-1a2b3c4d", "m-5e6f7a8b"]
    assert doc.render() == lf_first.encode()
    crlf_first = HAND_WRITTEN.replace("\n", "\r\n", 20)  # CRLF at the top, LF below
    doc = parse_session_bytes(crlf_first.encode())
    assert len(doc.messages) == 3
    assert doc.render() == crlf_first.encode()
    doc.append_message(Message("m-new00001", "user", "added", T0))
    out = doc.render()
    assert out.startswith(crlf_first.encode()) and out.endswith(b"added\r\n")


def test_an_impossible_date_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match="cannot be read"):
        parse_session_bytes(b"---\nid: x\ncreated: 2026-02-30\n---\nhello\n")


def test_ids_derived_for_hand_written_headers_are_written_at_the_next_save() -> None:
    doc = parse_session_bytes(HAND_WRITTEN.encode())
    derived = doc.messages[2].id
    doc.write_derived_ids()
    out = doc.render().decode()
    assert f"**User** - 2026-11-21 09:00 UTC ^{derived}\n" in out
    assert parse_session_bytes(out.encode()).messages[2].id == derived
    assert out.replace(f" ^{derived}", "") == HAND_WRITTEN


def test_a_header_typed_again_in_the_same_second_gets_its_own_id() -> None:
    # Found by the concurrency soak: a hand-typed message gets its derived id written at the
    # next save; another one typed in the same second must not derive that same id again.
    typed = "\n**user** · 2026-12-02 02:26:14Z\n\nTyped {n}.\n"
    doc = parse_session_bytes(("---\nid: s\n---\n" + typed.format(n=1)).encode())
    doc.write_derived_ids()
    again = parse_session_bytes(doc.render() + typed.format(n=2).encode())
    first, second = (m.id for m in again.messages)
    assert first != second and not again.problems
    again.write_derived_ids()
    saved = parse_session_bytes(again.render())
    assert [m.id for m in saved.messages] == [first, second] and not saved.problems


def test_unclosed_front_matter_is_an_error_on_line_1() -> None:
    with pytest.raises(ParseError) as info:
        parse_session_bytes(b"---\nid: x\ntitle: never closed\n")
    assert info.value.line == 1


# -- property: parse(serialize(s)) == s ----------------------------------------------------

hostile_lines = st.sampled_from(
    [
        "---",
        "...",
        "```",
        "~~~",
        "# heading",
        "**user** · 2026-11-20 10:00:00Z ^m-fake",
        "**ASSISTANT** - tomorrow",
        "\\**system** · x",
        "\\\\**user** · y",
        "<!-- amos-meta: {} -->",
        "\\<!-- amos-meta: {} -->",
        "| a | b |",
        "id: 123",
        "",
        " ",
        "\r",
        "^m-1234",
    ]
)
text_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
content = st.lists(st.one_of(hostile_lines, st.text(text_chars, max_size=30)), max_size=8).map(
    "\n".join
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(text_chars, max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(text_chars, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
messages = st.builds(
    Message,
    id=st.from_regex(r"m-[0-9a-f]{8}", fullmatch=True),
    role=st.sampled_from(["user", "assistant", "system"]),
    content=content,
    timestamp=st.datetimes(
        min_value=dt.datetime(1970, 1, 2),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
    metadata=st.dictionaries(st.text(text_chars, max_size=8), json_values, max_size=3),
)
titles = st.text(text_chars, min_size=1, max_size=40).filter(
    lambda t: "\n" not in t and "\r" not in t and t.strip() != ""
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=titles,
    tags=st.lists(st.from_regex(r"[a-z][a-z0-9_/-]{0,10}", fullmatch=True), max_size=4),
    extra=st.dictionaries(st.from_regex(r"x_[a-z]{1,6}", fullmatch=True), json_values, max_size=3),
    msgs=st.lists(messages, max_size=5, unique_by=lambda m: m.id),
    crlf=st.booleans(),
)
def test_property_parse_of_serialize_is_identity(title, tags, extra, msgs, crlf) -> None:
    meta = {"id": "abc123", "title": title, "status": "active", "tags": tags, **extra}
    doc = SessionDocument.new(dict(meta), title)
    if crlf:
        doc.newline = "\r\n"
    for message in msgs:
        doc.append_message(message)
    data = doc.render()
    parsed = parse_session_bytes(data)
    assert parsed.meta == meta
    assert parsed.messages == msgs
    assert read_header(parsed).title == title
    assert parsed.render() == data  # and an unchanged re-serialization is byte-identical
    # The block between the two '---' lines (a tag may hold '---' itself, e.g. 'a---').
    block = re.split(r"^---\r?$", data.decode(), maxsplit=2, flags=re.M)[1]
    assert yaml.safe_load(block) == meta


def test_front_matter_edits_keep_comments_and_multi_line_values() -> None:
    text = (
        "---\nid: x1\n# why this session matters\nstatus: active  # still going\n"
        "summary: |\n  first paragraph\n\n  second paragraph\ntags: [a]\n---\n\nbody\n"
    )
    doc = parse_session_bytes(text.encode())
    doc.meta["status"] = "paused"
    doc.meta["tags"] = ["a", "b"]
    out = doc.render().decode()
    assert "status: paused  # still going\n" in out
    assert "# why this session matters\n" in out
    assert "summary: |\n  first paragraph\n\n  second paragraph\n" in out
    assert (
        parse_session_bytes(out.encode()).meta["summary"] == "first paragraph\n\nsecond paragraph\n"
    )
