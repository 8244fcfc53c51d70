"""Tamper evidence: content checksums signed with the owner's Ed25519 key, and their check.

A completed session carries ``checksum: sha256:…`` (of its id, title and messages — not of
its status or other front-matter, which may change later) and ``signature: …`` (the owner's
signature of ``amos-vault session ID sha256:…``). A memory note amos-vault writes carries the
same two keys for its body. `check` recomputes each checksum and checks each signature:

* ``changed``: the content differs from what was signed, and the signature of the recorded
  checksum holds: an edit by hand (people edit the text, not the checksum line). Reported,
  never blocked.
* ``bad-signature``: the signature does not match the recorded checksum: the checksum was
  rewritten (by a program without the owner's key), or the signature forged or damaged.
* ``unreadable``: a signed file whose front-matter (or whole file) can no longer be read, so
  its signature cannot be checked.

When amos-vault writes a note you edited since it was signed, it signs your edit too, and
records in the note's front-matter what it accepted (`record_accepted_edit`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amos_vault.files.frontmatter import read_front_matter, replace_key
from amos_vault.files.identity import Identity, verify_claim
from amos_vault.files.sessionfile import Message, SessionDocument

Signer = Callable[[str], str | None]  # claim -> base64 signature (None: no key here)

CHECKSUM_KEY = "checksum"
SIGNATURE_KEY = "signature"
ACCEPTED_KEY = "accepted_edits"


def session_checksum(doc: SessionDocument) -> str:
    """``sha256:…`` of what a session says: id, title and every message."""
    return content_checksum(doc.meta, doc.messages)


def content_checksum(meta: Mapping[str, Any], messages: Sequence[Message]) -> str:
    """``sha256:…`` of a session's id and title (in ``meta``) and its ``messages``."""
    content = {
        "id": str(meta.get("id", "")),
        "title": str(meta.get("title", "")),
        "messages": [
            [m.id, m.role, m.timestamp.isoformat() if m.timestamp else "", m.content]
            for m in messages
        ],
    }
    data = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def body_checksum(body: str) -> str:
    """``sha256:…`` of a note's body (line endings normalised)."""
    text = "\n".join(body.splitlines())
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def session_claim(session_id: str, checksum: str) -> str:
    return f"amos-vault session {session_id} {checksum}"


def note_claim(name: str, checksum: str) -> str:
    return f"amos-vault note {name} {checksum}"


def sign_session(doc: SessionDocument, signer: Signer | None) -> None:
    """Put the checksum and its signature in the session's front-matter (when a key is here)."""
    if signer is None:
        return
    checksum = session_checksum(doc)
    signature = signer(session_claim(str(doc.meta.get("id", "")), checksum))
    if signature:
        doc.meta[CHECKSUM_KEY] = checksum
        doc.meta[SIGNATURE_KEY] = signature


def sign_note(name: str, text: str, signer: Signer | None) -> str:
    """``text`` with its front-matter's checksum and signature set for its body."""
    front = read_front_matter(text) if signer is not None else None
    if front is None or front.lines is None or signer is None:
        return text
    checksum = body_checksum(front.body)
    signature = signer(note_claim(name, checksum))
    if not signature:
        return text
    kept = [
        ln for ln in front.lines if not ln.startswith((f"{CHECKSUM_KEY}:", f"{SIGNATURE_KEY}:"))
    ]
    kept += [f"{CHECKSUM_KEY}: {checksum}", f"{SIGNATURE_KEY}: {signature}"]
    return "\n".join(["---", *kept, "---", front.body])


def edited_since_signing(text: str) -> bool:
    """Whether a signed note's body differs from the body that was signed."""
    found = note_signature(text)
    return found is not None and found[0] != found[2]


def record_accepted_edit(text: str, at: str, by: str, lines: Sequence[int]) -> str:
    """``text`` with one more entry in its front-matter's ``accepted_edits``: when (``at``), by
    whom (``by``, the identity whose key signs) and which lines of the edited note (``lines``,
    1-based; empty when the edit was outside the fact lines) were signed as the user's edit."""
    front = read_front_matter(text)
    if front.lines is None:
        return text
    entries = front.meta.get(ACCEPTED_KEY)
    history = list(entries) if isinstance(entries, list) else []
    history.append({"at": at, "by": by, "lines": list(lines)})
    kept = replace_key(front.lines, ACCEPTED_KEY, history)
    return "\n".join(["---", *kept, "---", front.body])


def unreadable_signature(text: str) -> str | None:
    """Why the signature of a signed file cannot be checked (its front-matter holds the
    checksum and signature lines but cannot be read), or None. Such a file is reported, never
    passed over: breaking the YAML must not be a way past the check."""
    front = read_front_matter(text)
    if not front.problem or front.lines is None:
        return None
    keys = (f"{CHECKSUM_KEY}:", f"{SIGNATURE_KEY}:")
    if not any(line.lstrip().startswith(keys) for line in front.lines):
        return None
    return f"its front-matter cannot be read ({front.problem}), so its signature cannot be checked"


def note_signature(text: str) -> tuple[str, str, str] | None:
    """(recorded checksum, signature, checksum now) of a signed note; None when unsigned."""
    front = read_front_matter(text)
    if CHECKSUM_KEY not in front.meta or SIGNATURE_KEY not in front.meta:
        return None
    recorded, signature = str(front.meta[CHECKSUM_KEY]), str(front.meta[SIGNATURE_KEY])
    return recorded, signature, body_checksum(front.body)


@dataclass(frozen=True)
class Finding:
    """One signed file and what its check found: ok, changed, bad-signature, unreadable."""

    path: str
    kind: str  # "session" or "note"
    state: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "state": self.state, "detail": self.detail}


def check(
    identity: Identity, kind: str, path: str, name: str, recorded: str, signature: str, now: str
) -> Finding:
    """Compare the recorded checksum with ``now`` and check the signature of the recorded one."""
    claim = session_claim(name, recorded) if kind == "session" else note_claim(name, recorded)
    if not verify_claim(identity, claim, signature):
        return Finding(
            path,
            kind,
            "bad-signature",
            "the signature does not match its checksum: rewritten by a program, forged or damaged",
        )
    if recorded != now:
        return Finding(path, kind, "changed", "edited since it was signed")
    return Finding(path, kind, "ok")
