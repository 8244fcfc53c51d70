"""Tamper evidence: completed sessions and memory notes are signed; `verify` reports edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from amos_vault.mirror import ActiveMirror
from tests.conftest import RunCli


def _completed(mirror: ActiveMirror, text: str = "My favorite color is blue.") -> Path:
    session = mirror.create_session("Sealed")
    session.add_message("user", text)
    session.complete()
    assert session.path is not None
    return session.path


def test_a_completed_session_is_signed_and_verifies(mirror: ActiveMirror, run_cli: RunCli) -> None:
    path = _completed(mirror)
    text = path.read_text()
    assert "checksum: sha256:" in text and "signature: " in text
    mirror.load_session(path.stem.rsplit("-", 1)[-1]).archive()  # status is not content
    result = run_cli("verify", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["checked"] == 1 and report["ok"] == 1


def test_a_hand_edit_after_completion_is_reported_not_blocked(
    mirror: ActiveMirror, run_cli: RunCli
) -> None:
    path = _completed(mirror)
    path.write_text(path.read_text().replace("blue", "red"))  # the edit is allowed
    result = run_cli("verify")
    assert result.returncode == 0  # a person's edit is listed, not an error
    assert "changed" in result.stdout and path.name in result.stdout
    assert "1 edited since signing, 0 badly signed" in result.stdout
    assert run_cli("verify", "--strict").returncode == 1


def test_a_forged_signature_is_reported(mirror: ActiveMirror, run_cli: RunCli) -> None:
    path = _completed(mirror)
    text = path.read_text()
    # Change the words and re-checksum them as a forger without the key would.
    from amos_vault.files.integrity import session_checksum
    from amos_vault.files.sessionfile import parse_session_bytes

    forged = text.replace("blue", "red")
    doc = parse_session_bytes(forged.encode())
    old = next(line for line in forged.splitlines() if line.startswith("checksum: "))
    path.write_text(forged.replace(old, f"checksum: {session_checksum(doc)}"))
    result = run_cli("verify", "--json")
    assert result.returncode == 1
    states = [f["state"] for f in json.loads(result.stdout)["findings"]]
    assert states == ["bad-signature"]


def test_memory_notes_are_signed_and_edits_reported(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    _completed(mirror)
    mirror.memory.consolidate()
    note = vault_root / "memory" / "preference.md"
    assert "signature: " in note.read_text()
    assert json.loads(run_cli("verify", "--json").stdout)["ok"] == 2
    note.write_text(note.read_text().replace("blue", "teal"))
    findings = json.loads(run_cli("verify", "--json").stdout)["findings"]
    states = {(f["kind"], f["path"].split("/")[0], f["state"]) for f in findings}
    assert states == {("session", "sessions", "ok"), ("note", "memory", "changed")}


def test_without_the_key_sessions_complete_unsigned(
    vault_root: Path, user_dirs: Path, run_cli: RunCli
) -> None:
    shutil.rmtree(user_dirs / "keys")
    mirror = ActiveMirror(vault_root, key_dir=user_dirs)
    path = _completed(mirror)
    assert "signature:" not in path.read_text()
    result = run_cli("verify")
    assert result.returncode == 0
    assert "1 completed session(s) carry no signature" in result.stdout


def test_a_signed_note_whose_front_matter_ends_with_dots_is_still_checked(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    # '...' ends a YAML document as '---' does: the note must not drop out of the check.
    mirror.memory.remember("My favorite color is blue.", type="preference")
    note = vault_root / "memory" / "preference.md"
    lines = note.read_text().split("\n")
    closing = lines.index("---", 1)
    note.write_text("\n".join([*lines[:closing], "...", *lines[closing + 1 :]]))
    findings, _unsigned = mirror.check_signatures()
    assert [(f.kind, f.state) for f in findings] == [("note", "ok")]

    note.write_text(note.read_text().replace("blue", "teal"))  # the tampering
    findings, _unsigned = mirror.check_signatures()
    assert [(f.kind, f.path, f.state) for f in findings] == [
        ("note", "memory/preference.md", "changed")
    ]
    result = run_cli("verify", "--json", "--strict")
    assert result.returncode == 1, result.stdout
    report = json.loads(result.stdout)
    assert report["checked"] == 1
    assert [f["state"] for f in report["findings"]] == ["changed"]


def test_a_signed_note_saved_with_crlf_or_a_bom_is_still_checked(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    mirror.memory.remember("My favorite color is blue.", type="preference")
    note = vault_root / "memory" / "preference.md"
    text = note.read_text()
    for saved in (text.replace("\n", "\r\n"), "\ufeff" + text):
        note.write_bytes(saved.encode())
        assert [f.state for f in mirror.check_signatures()[0]] == ["ok"]
        note.write_bytes(saved.replace("blue", "teal").encode())
        assert [f.state for f in mirror.check_signatures()[0]] == ["changed"]


def test_verify_tells_a_hand_edit_from_a_bad_signature(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    mirror.memory.remember("My favorite color is blue.", type="preference")
    note = vault_root / "memory" / "preference.md"
    signed = note.read_text()
    note.write_text(signed.replace("blue", "teal"))  # a person edits a fact line, as invited
    edited = run_cli("verify")
    assert edited.returncode == 0 and "edited since it was signed" in edited.stdout
    assert run_cli("verify", "--strict").returncode == 1

    # A program rewrites the checksum to match its change, without the owner's key.
    from amos_vault.files.integrity import note_signature

    found = note_signature(note.read_text())
    assert found is not None
    recorded, _signature, now = found
    note.write_text(note.read_text().replace(recorded, now))
    bad = run_cli("verify", "--json")
    assert bad.returncode == 1
    assert [f["state"] for f in json.loads(bad.stdout)["findings"]] == ["bad-signature"]


def test_re_signing_a_hand_edited_note_records_what_it_accepted(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    from amos_vault.files.frontmatter import read_front_matter

    mirror.memory.remember("My favorite color is blue.", type="preference")
    note = vault_root / "memory" / "preference.md"
    text = note.read_text()
    note.write_text(text.replace("blue", "teal"))
    edited_line = next(
        number for number, line in enumerate(note.read_text().split("\n"), 1) if "teal" in line
    )
    mirror.memory.remember("I prefer tea to coffee.", type="preference")  # re-signs the note

    assert json.loads(run_cli("verify", "--json").stdout)["ok"] == 1
    accepted = read_front_matter(note.read_text()).meta["accepted_edits"]
    assert len(accepted) == 1
    assert accepted[0]["by"] == mirror.identity.identity_id  # type: ignore[union-attr]
    assert accepted[0]["lines"] == [edited_line]
    assert str(accepted[0]["at"]).endswith("Z")
    mirror.memory.remember("I prefer trains to planes.", type="preference")  # no edit: no entry
    assert len(read_front_matter(note.read_text()).meta["accepted_edits"]) == 1


def test_breaking_the_yaml_of_a_signed_file_is_no_way_past_verify(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    session_path = _completed(mirror)
    mirror.memory.remember("My favorite color is blue.", type="preference")
    note = vault_root / "memory" / "preference.md"
    note.write_text(
        note.read_text().replace("blue", "teal").replace("fact_type:", "fact_type: [", 1)
    )
    session_path.write_text(
        session_path.read_text().replace("blue", "red").replace("title:", "title: [", 1)
    )
    result = run_cli("verify", "--json")
    assert result.returncode == 1, result.stdout
    found = {(f["kind"], f["state"]) for f in json.loads(result.stdout)["findings"]}
    assert found == {("note", "unreadable"), ("session", "unreadable")}
