"""One front-matter reader: every reader of the vault's files splits and reads a block the
same way, whatever the line endings, a byte order mark or the '...' end marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from amos_vault.core.errors import ParseError
from amos_vault.files.frontmatter import (
    parse_front_matter,
    read_front_matter,
    render_front_matter,
    split_front_matter,
)
from amos_vault.files.identity import create_identity, load_identity, render_identity_note
from amos_vault.files.integrity import body_checksum, note_signature
from amos_vault.files.memorynote import FactNote
from amos_vault.files.sessionfile import parse_session_bytes
from amos_vault.index.chunks import chunk_note
from tests.conftest import RunCli

NOTE = (
    "---\n"
    "type: facts\n"
    "fact_type: preference\n"
    "checksum: sha256:0\n"
    "signature: abc\n"
    "---\n"
    "\n"
    "# Preferences\n"
    "\n"
    "- Ana likes green tea. [type:: preference] [confidence:: 0.80] ^f-0a1b2c3d\n"
    "- Ana lives in Oslo. [type:: knowledge] ^f-1b2c3d4e\n"
)
SESSION = (
    "---\nid: s-1\ntitle: Tea\nstatus: active\n---\n\n# Tea\n\n"
    "**user** · 2026-11-20 10:02:11Z ^m-1a2b3c4d\n\nI like green tea.\n"
)


def variants(text: str) -> dict[str, str]:
    """The same file as editors save it: CRLF, a byte order mark, '...' closing the block."""
    dots = text.replace("\n---\n", "\n...\n", 1)
    return {
        "lf": text,
        "crlf": text.replace("\n", "\r\n"),
        "bom": "\ufeff" + text,
        "dots": dots,
        "crlf-bom-dots": "\ufeff" + dots.replace("\n", "\r\n"),
    }


@pytest.mark.parametrize("name", ["crlf", "bom", "dots", "crlf-bom-dots"])
def test_every_reader_reads_a_note_the_same_whatever_its_line_endings(name: str) -> None:
    text = variants(NOTE)[name]
    meta, body = split_front_matter(NOTE)
    assert split_front_matter(text)[0] == meta == read_front_matter(text).meta
    assert meta["type"] == "facts" and meta["signature"] == "abc"
    assert body_checksum(read_front_matter(text).body) == body_checksum(body)
    assert note_signature(text) == note_signature(NOTE) == ("sha256:0", "abc", body_checksum(body))

    def facts(source: str) -> list[tuple[int, str, str]]:
        note = FactNote.parse("memory/p.md", source)
        return [(f.line, f.id, f.text) for f in note.facts.values()]

    assert facts(text) == facts(NOTE) and len(facts(NOTE)) == 2

    def chunks(source: str) -> list[tuple[str, str, int]]:
        return [(c.kind, c.text, c.line_start) for c in chunk_note("memory/p.md", source)]

    assert chunks(text) == chunks(NOTE)
    assert [kind for kind, _text, _line in chunks(NOTE)] == ["fact", "fact"]


@pytest.mark.parametrize("name", ["crlf", "bom", "dots", "crlf-bom-dots"])
def test_a_session_reads_the_same_and_still_round_trips(name: str) -> None:
    data = variants(SESSION)[name].encode()
    doc = parse_session_bytes(data)
    assert doc.meta == parse_session_bytes(SESSION.encode()).meta
    assert doc.meta == read_front_matter(data.decode()).meta
    assert [m.content for m in doc.messages] == ["I like green tea."]
    assert doc.render() == data


def test_the_identity_note_is_read_by_the_same_reader(tmp_path: Path) -> None:
    identity = create_identity("Ana", tmp_path)
    text = render_identity_note(identity).decode()
    for name, saved in variants(text).items():
        path = tmp_path / f"identity-{name}.md"
        path.write_bytes(saved.encode())
        assert load_identity(path) == identity


def test_malformed_front_matter_reads_as_empty_and_the_rest_as_text() -> None:
    broken = "---\ntype: facts\ncreated: 2026-02-30\n---\nfirst paragraph\n\n- a fact\n"
    front = read_front_matter(broken)
    assert front.meta == {} and front.problem and front.body == "first paragraph\n\n- a fact\n"
    with pytest.raises(ParseError):
        parse_front_matter(broken)
    # Not a facts note any more (its type cannot be read): indexed as plain text.
    assert [c.kind for c in chunk_note("memory/x.md", broken)] == ["note", "fact"]
    unclosed = "---\ntype: facts\n\n- a fact\n"
    assert read_front_matter(unclosed).lines is None
    with pytest.raises(ParseError, match="never closed"):
        parse_front_matter(unclosed)
    assert [f.text for f in FactNote.parse("memory/x.md", unclosed).facts.values()] == ["a fact"]


def test_what_the_writer_writes_the_reader_reads() -> None:
    meta = {"title": "T", "type": "summary", "tags": ["a", "b"], "when": "2026-11-20"}
    text = render_front_matter(meta, "body\n")
    assert text.startswith("---\ntitle: T\n") and "tags: [a, b]" in text
    assert split_front_matter(text) == (meta, "body\n")


def test_broken_yaml_is_reported_on_the_line_of_the_mistake(
    run_cli: RunCli, vault_root: Path
) -> None:
    # An unclosed bracket on line 3: YAML notices it on line 4 (or later), but line 3 is wrong.
    broken = vault_root / "sessions" / "2026-11-20-broken-ab12.md"
    broken.write_text(
        "---\nid: ab12cd34ef56\ntitle: [a title\nstatus: active\nkind: persistent\n---\n\n"
        "**user** · 2026-11-20 10:00:00Z ^m-00000001\n\nhello\n"
    )
    with pytest.raises(ParseError) as caught:
        parse_front_matter(broken.read_text(), broken)
    assert caught.value.line == 3 and "starts here" in caught.value.message
    for ref in ("ab12cd34ef56", "ab12cd"):  # the id (or a prefix) still finds the file
        shown = run_cli("show", ref)
        assert shown.returncode == 1 and "no session matches" not in shown.stderr
        assert f"{broken}:3: the front-matter is not valid YAML" in shown.stderr
