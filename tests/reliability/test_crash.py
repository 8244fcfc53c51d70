"""The crash soak (tests/soak/soak_crash.py), short: a real daemon killed with SIGKILL while it
indexes and while it consolidates, then checked against its files and a fresh rebuild.
The long run is `python scripts/soak.py crash`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.soak import soak_crash

ROOT = Path(__file__).resolve().parents[2]


def test_short_soak_kills_in_both_phases_and_everything_survives(tmp_path: Path) -> None:
    figures_path = tmp_path / "crash.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "soak.py"),
            "crash",
            "--kills",
            "2",
            "--sessions",
            "12",
            "--seed",
            "3",
            "--json",
            str(figures_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout + done.stderr
    assert last.startswith("crash: kills survived=2/2 (indexing=1, consolidation=1")
    figures = json.loads(figures_path.read_text())
    assert figures["tried"] == figures["survived"] == figures["restarts_ok"] == 2
    assert figures["index_equal"] == figures["search_equal"] == 2
    assert figures["files_intact_rounds"] == 2
    assert figures["indexing"] >= 1 and figures["consolidation"] >= 1


def _hit(chunk_id: str, score: float, **extra: object) -> dict[str, object]:
    return {"chunk_id": chunk_id, "score": score, "kind": "message", **extra}


def test_compare_hits_allows_near_ties_only() -> None:
    want = [_hit("a", 5.0), _hit("b", 4.0), _hit("c", 3.99), _hit("d", 1.0)]
    same, identical, drift = soak_crash.compare_hits(want[:3], want, k=3)
    assert same and identical and drift == 0
    swapped = [_hit("a", 5.01), _hit("c", 4.0), _hit("b", 3.995)]
    assert soak_crash.compare_hits(swapped, want, k=3)[:2] == (True, False)
    far = [_hit("a", 5.0), _hit("d", 4.0), _hit("b", 3.9)]  # d scores 1.0 in a fresh index
    assert not soak_crash.compare_hits(far, want, k=3)[0]
    missing = [_hit("a", 5.0), _hit("b", 4.0), _hit("zz", 3.9)]
    assert not soak_crash.compare_hits(missing, want, k=3)[0]


def test_phase_comes_from_the_last_open_mark() -> None:
    assert soak_crash.phase_at([["1", "sync+"], ["2", "batch", "64"]]) == "indexing"
    assert soak_crash.phase_at([["1", "sync+"], ["2", "sync-"]]) == "idle"
    marks = [["1", "consolidate+"], ["2", "sync+"], ["3", "write+", "x", "/v/memory/a.md"]]
    assert soak_crash.phase_at(marks) == "consolidation"


@pytest.fixture
def small_vault(tmp_path: Path) -> tuple[Path, soak_crash.VaultWriter]:
    import random

    from amos_vault.admin.scaffold import init_vault

    root = tmp_path / "vault"
    init_vault(root, "Crash", tmp_path / "keys")
    writer = soak_crash.VaultWriter(root, random.Random(2))
    writer.new_session(completed=True)
    writer.new_session(completed=False)
    return root, writer


def test_file_check_catches_a_partial_write(
    small_vault: tuple[Path, soak_crash.VaultWriter],
) -> None:
    root, writer = small_vault
    marks = root.parent / "marks.log"
    assert soak_crash.check_files(root, writer.record, marks) == []
    rel = sorted(writer.record.messages)[0]
    path = root / rel
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # what a torn write would leave
    problems = soak_crash.check_files(root, writer.record, marks)
    assert any(rel in p and "none of the versions" in p for p in problems)


def test_file_check_accepts_what_the_daemon_announced(
    small_vault: tuple[Path, soak_crash.VaultWriter],
) -> None:
    root, writer = small_vault
    marks = root.parent / "marks.log"
    note = root / "memory" / "knowledge.md"
    text = "# Knowledge\n\n- The sky is blue ^f-k1234567\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    marks.write_text(f"1.0 write+ {digest} {note}\n")
    note.write_text(text)
    assert soak_crash.check_files(root, writer.record, marks) == []
    note.write_text(text[:20])  # not what was announced
    assert any("knowledge.md" in p for p in soak_crash.check_files(root, writer.record, marks))
    (root / "sessions" / ".x.md.0badf00d.tmp").write_bytes(b"half")  # hidden: not content
    assert not any(".tmp" in p for p in soak_crash.check_files(root, writer.record, marks))
